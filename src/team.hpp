// How many threads a call and each of its parallel loops take: the
// caller's count, unless the call's work is too small to pay for waking a
// second thread (a floor each backend measures, kernel_table.hpp), or a
// worker lately kept the caller waiting for an item it held (its core
// shared with another process): then one thread for a while, the while
// doubling as such waits go on. docs/decisions.md, "Threads that share
// their cores", has the figures. Results never depend on it: every
// runner's items compute the same on whichever thread runs them.
#pragma once

#include <cstdint>

#include "src/thread_pool.hpp"

namespace fw {

// A call's threads, and whether its loops wake sleeping workers.
struct Team {
  int threads = 1;
  bool wake = false;
};

// The team for a call of `work` model FLOPs when `requested` threads are
// allowed, on a backend where a thread pays for itself from `per_thread`
// and waking a sleeping one from `wake` (kernel_table.hpp).
Team call_team(int requested, double work, double per_thread, double wake);

// Whether loops run on one thread for now (after a loop that lost time).
bool holding_off();
// The monitor's input: one shared loop's report.
void note_loop(const LoopReport& r);

// One parallel loop of a call, on call_team()'s team.
template <class F>
void team_loop(const Team& team, int64_t n, F& body) {
  const int threads = team.threads > 1 && holding_off() ? 1 : team.threads;
  const LoopReport r = parallel_loop(threads, n, body, team.wake);
  if (r.shared) note_loop(r);
}

}  // namespace fw
