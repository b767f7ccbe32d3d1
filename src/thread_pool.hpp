// The library's own worker threads: one parallel loop at a time, whose
// items any thread may take, so that the calling thread never waits for a
// worker that has not started. Why not OpenMP: docs/decisions.md, "Threads
// that share their cores".
#pragma once

#include <cstdint>

namespace fw {

// What one loop saw, for the thread-count monitor (src/team.cpp).
struct LoopReport {
  int64_t items = 0;         // items in the loop
  int64_t caller_items = 0;  // items the calling thread ran
  int64_t held_wait_ns = 0;  // its wait, after the last free item, for items workers held
  int64_t cpu_ns = 0;        // the threads' CPU time in items (shared loops)
  int64_t stolen_ns = 0;     // their time descheduled inside items (wall - CPU time)
  int64_t wall_ns = 0;       // the whole loop
  bool shared = false;       // whether the workers were asked to help
  bool woke = false;         // whether a sleeping worker was woken for it
};

using LoopItemFn = void (*)(void* ctx, int64_t item, int slot);

// steady_clock, in nanoseconds.
int64_t monotonic_ns();

// Runs fn(ctx, item, slot) once for every item in [0, n): on the calling
// thread (slot 0) and on up to threads - 1 pool workers (slots 1 ..
// threads - 1; a slot is one thread's for the whole loop, so per-slot
// scratch needs no lock). Items are taken one at a time, in no fixed order
// and by no fixed thread: each must compute the same thing wherever it
// runs. Returns when every item is done; a worker that comes late finds
// none left. While another caller's loop runs, the items run here alone.
// wake: whether to wake workers that sleep (waking one takes tens to
// hundreds of microseconds); those still spinning from a recent loop join
// either way.
LoopReport run_loop(int threads, int64_t n, LoopItemFn fn, void* ctx, bool wake);

template <class F>
LoopReport parallel_loop(int threads, int64_t n, F& body, bool wake) {
  return run_loop(
      threads, n, [](void* ctx, int64_t item, int slot) { (*static_cast<F*>(ctx))(item, slot); },
      &body, wake);
}

}  // namespace fw
