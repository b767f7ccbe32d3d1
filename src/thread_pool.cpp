#include "src/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <mutex>
#include <new>
#include <thread>

#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fw {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// This thread's CPU time: it does not run while the thread is descheduled.
int64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// threads.cpp caps a call's threads at 1024: the caller and 1023 workers.
constexpr int kMaxWorkers = 1023;

// The claim word: the loop's number (24 bits), its team size - 1 (10 bits)
// and the items not yet taken (30 bits). A thread takes an item by one
// compare-and-swap that also checks the loop's number, so a worker that
// read an older loop's description can never take a newer loop's item.
constexpr int kLeftBits = 30, kTeamBits = 10;
constexpr uint64_t kLeftMask = (uint64_t{1} << kLeftBits) - 1;
constexpr uint32_t kLoopMask = (uint32_t{1} << 24) - 1;
constexpr int64_t kMaxItems = static_cast<int64_t>(kLeftMask);

uint64_t pack(uint32_t loop, int team, int64_t left) {
  return (static_cast<uint64_t>(loop & kLoopMask) << (kLeftBits + kTeamBits)) |
         (static_cast<uint64_t>(team - 1) << kLeftBits) | static_cast<uint64_t>(left);
}
uint32_t loop_of(uint64_t c) { return static_cast<uint32_t>(c >> (kLeftBits + kTeamBits)); }
int team_of(uint64_t c) {
  return static_cast<int>((c >> kLeftBits) & ((uint64_t{1} << kTeamBits) - 1)) + 1;
}
int64_t left_of(uint64_t c) { return static_cast<int64_t>(c & kLeftMask); }

// How long an idle worker spins (pausing, and yielding its CPU every few
// microseconds in case it shares one with the caller) before it sleeps.
// The few-pairs path runs one loop per group of chunks, tens of
// microseconds apart; a decode loop's calls come milliseconds apart.
// Figures: docs/decisions.md, "Threads that share their cores".
constexpr int64_t kSpinNs = 2000 * 1000;

struct Pool {
  std::mutex busy;                 // one loop at a time
  std::atomic<uint32_t> loop{0};   // the newest loop's number; workers sleep on it
  std::atomic<int> sleepers{0};    // workers asleep (or about to sleep) on `loop`
  std::atomic<uint64_t> claim{0};  // see pack()
  std::atomic<LoopItemFn> fn{nullptr};
  std::atomic<void*> ctx{nullptr};
  std::atomic<int64_t> items{0};
  std::atomic<int> caller_cpu{-1};      // where the newest loop's caller ran when it posted it
  std::atomic<int64_t> last_end_ns{0};  // when the last loop that asked for threads ended
  std::atomic<int64_t> done{0};         // items finished by workers
  std::atomic<int64_t> cpu_ns{0};       // their CPU time in them
  std::atomic<int64_t> stolen_ns{0};    // and their time descheduled in them
  int workers = 0;                      // started; changed only under `busy`
};

// Never destroyed: detached workers sleep on it until the process ends.
Pool& pool() {
  alignas(Pool) static unsigned char storage[sizeof(Pool)];
  static Pool* const p = new (storage) Pool;
  return *p;
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t value) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr,
          0);
#else
  (void)word;
  (void)value;
  std::this_thread::yield();
#endif
}

void futex_wake_all(std::atomic<uint32_t>* word) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
#else
  (void)word;
#endif
}

// A worker woken by a caller may be put on the caller's own CPU: a VM's
// kernel takes its idle vCPUs for preempted ones (vcpu_is_preempted) and
// queues the wakee behind the waker, where the two take turns until the
// balancer moves one (docs/decisions.md, "Threads that share their
// cores"). Then the worker steps off that CPU: its allowed set without it
// for one migration, then the whole set again.
void leave_callers_cpu(const Pool& p) {
#ifdef __linux__
  const int caller = p.caller_cpu.load(std::memory_order_relaxed);
  if (caller < 0 || sched_getcpu() != caller) return;
  cpu_set_t allowed, others;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  others = allowed;
  CPU_CLR(caller, &others);
  if (CPU_COUNT(&others) == 0) return;
  sched_setaffinity(0, sizeof others, &others);
  sched_setaffinity(0, sizeof allowed, &allowed);
#else
  (void)p;
#endif
}

// The next loop after `seen`: spin, then sleep until one is posted.
uint32_t next_loop(Pool& p, uint32_t seen) {
  const int64_t start = monotonic_ns();
  for (int i = 1;; ++i) {
    const uint32_t l = p.loop.load(std::memory_order_acquire);
    if (l != seen) return l;
    if (i % 64 != 0) {
      cpu_relax();
      continue;
    }
    if (monotonic_ns() - start > kSpinNs) break;
    std::this_thread::yield();
  }
  // Dekker with run_loop: it stores `loop` then reads `sleepers`; this adds
  // to `sleepers` then reads `loop` (all sequentially consistent), so one
  // of the two sees the other and no wake-up is lost.
  p.sleepers.fetch_add(1, std::memory_order_seq_cst);
  uint32_t l;
  while ((l = p.loop.load(std::memory_order_seq_cst)) == seen) futex_wait(&p.loop, seen);
  p.sleepers.fetch_sub(1, std::memory_order_seq_cst);
  leave_callers_cpu(p);
  return l;
}

// Takes the next item of loop `loop` from the claim word c (updated in
// place); -1 when none is left or a newer loop has begun.
int64_t take(Pool& p, uint32_t loop, int64_t n, uint64_t& c) {
  for (;;) {
    if (loop_of(c) != (loop & kLoopMask) || left_of(c) == 0) return -1;
    if (p.claim.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      const int64_t item = n - left_of(c);
      c -= 1;
      return item;
    }
  }
}

void worker_main(int slot, uint32_t seen) {
  Pool& p = pool();
  for (;;) {
    const uint32_t loop = next_loop(p, seen);
    seen = loop;
    uint64_t c = p.claim.load(std::memory_order_acquire);
    if (loop_of(c) != (loop & kLoopMask) || slot >= team_of(c)) continue;
    // These belong to this loop if an item is taken below: the loop cannot
    // end (and the caller post another) while one of its items is held.
    const LoopItemFn fn = p.fn.load(std::memory_order_acquire);
    void* const ctx = p.ctx.load(std::memory_order_acquire);
    const int64_t n = p.items.load(std::memory_order_acquire);
    int64_t cpu0 = thread_cpu_ns(), wall0 = monotonic_ns();
    for (int64_t item; (item = take(p, loop, n, c)) >= 0;) {
      fn(ctx, item, slot);
      const int64_t cpu = thread_cpu_ns(), wall = monotonic_ns();
      p.cpu_ns.fetch_add(cpu - cpu0, std::memory_order_relaxed);
      p.stolen_ns.fetch_add((wall - wall0) - (cpu - cpu0), std::memory_order_relaxed);
      cpu0 = cpu;
      wall0 = wall;
      p.done.fetch_add(1, std::memory_order_release);
    }
  }
}

void forget_workers_after_fork() {
  // The child has only the forking thread: start workers afresh.
  Pool& p = pool();
  new (&p.busy) std::mutex;
  p.workers = 0;
  p.sleepers.store(0, std::memory_order_relaxed);
}

// Workers up to `wanted` (under `busy`); returns how many there are.
int start_workers(Pool& p, int wanted) {
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_workers_after_fork) == 0;
  (void)registered;
  if (wanted > kMaxWorkers) wanted = kMaxWorkers;
  if (p.workers >= wanted) return p.workers;
  // Workers take no signals: the caller's handlers run on the caller's
  // threads, as they would without the library.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const uint32_t seen = p.loop.load(std::memory_order_relaxed);
  try {
    for (; p.workers < wanted; ++p.workers) std::thread(worker_main, p.workers + 1, seen).detach();
  } catch (...) {  // no more threads: run with those there are
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return p.workers;
}

}  // namespace

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

LoopReport run_loop(int threads, int64_t n, LoopItemFn fn, void* ctx, bool wake) {
  LoopReport r;
  r.items = n;
  const int64_t t0 = monotonic_ns();
  Pool& p = pool();
  std::unique_lock<std::mutex> lock(p.busy, std::defer_lock);
  int team = 0;
  // Loops that follow each other closely wake sleeping workers whatever
  // their size: woken once, a worker then spins through the gaps.
  if (threads > 1 && t0 - p.last_end_ns.load(std::memory_order_relaxed) < kSpinNs / 2) wake = true;
  if (threads > 1 && n > 1 && n <= kMaxItems && lock.try_lock()) {
    const int wanted = (threads < n ? threads : static_cast<int>(n)) - 1;
    const int started = start_workers(p, wanted);
    team = 1 + (started < wanted ? started : wanted);
    // Every worker asleep and none to be woken: nobody would join.
    if (!wake && p.sleepers.load(std::memory_order_seq_cst) >= started) team = 0;
  }
  if (team < 2) {
    for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
    r.caller_items = n;
    const int64_t t1 = monotonic_ns();
    r.wall_ns = t1 - t0;
    if (threads > 1) p.last_end_ns.store(t1, std::memory_order_relaxed);
    return r;
  }

  // Post the loop: its description, then the claim word, then the number
  // the workers wait on.
  p.fn.store(fn, std::memory_order_relaxed);
  p.ctx.store(ctx, std::memory_order_relaxed);
  p.items.store(n, std::memory_order_relaxed);
  p.done.store(0, std::memory_order_relaxed);
  p.cpu_ns.store(0, std::memory_order_relaxed);
  p.stolen_ns.store(0, std::memory_order_relaxed);
  const uint32_t loop = p.loop.load(std::memory_order_relaxed) + 1;
  p.claim.store(pack(loop, team, n), std::memory_order_release);
  p.loop.store(loop, std::memory_order_seq_cst);
  r.woke = wake && p.sleepers.load(std::memory_order_seq_cst) > 0;
  if (r.woke) p.caller_cpu.store(sched_getcpu(), std::memory_order_relaxed);
  if (r.woke) futex_wake_all(&p.loop);
  r.shared = true;

  // The caller takes items like any worker.
  uint64_t c = p.claim.load(std::memory_order_acquire);
  const int64_t cpu0 = thread_cpu_ns(), wall0 = monotonic_ns();
  for (int64_t item; (item = take(p, loop, n, c)) >= 0;) {
    fn(ctx, item, 0);
    ++r.caller_items;
  }
  const int64_t caller_cpu = thread_cpu_ns() - cpu0;
  const int64_t caller_stolen = (monotonic_ns() - wall0) - caller_cpu;
  // Then waits for the items workers hold, yielding now and then in case
  // one of them waits for this CPU.
  const int64_t w0 = monotonic_ns();
  for (int i = 1; p.done.load(std::memory_order_acquire) != n - r.caller_items; ++i) {
    if (i % 64 != 0)
      cpu_relax();
    else
      std::this_thread::yield();
  }
  const int64_t t1 = monotonic_ns();
  p.last_end_ns.store(t1, std::memory_order_relaxed);
  r.held_wait_ns = t1 - w0;
  r.cpu_ns = caller_cpu + p.cpu_ns.load(std::memory_order_relaxed);
  r.stolen_ns = caller_stolen + p.stolen_ns.load(std::memory_order_relaxed);
  r.wall_ns = t1 - t0;
  return r;
}

}  // namespace fw
