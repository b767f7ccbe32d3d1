#include "src/team.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace fw {
namespace {

// A shared loop lost time to other work on its cores when
//  - its threads spent over a quarter of its time, and over 50 us (the
//    kernel's own interruptions reached tens of us on an idle VM),
//    descheduled in the middle of items: a worker preempted mid-item by
//    another process, which the caller then waits for, or a worker on the
//    caller's CPU, where the two take turns instead of overlapping;
//  - or it took over 1.1x (and 50 us more than) its items' CPU time on one
//    thread: the caller descheduled between items or while it waits. Not
//    judged so when a worker had to be woken for the loop: one that wakes
//    late finds its items taken by the caller, which costs the loop nothing
//    beyond what one thread would take.
constexpr int64_t kMinLostNs = 50 * 1000;
constexpr double kStolenShare = 0.25;
constexpr double kNoGainRatio = 1.1;
// Then loops run on one thread for kHoldPerLoop times that loop's time; a
// loss soon after a hold ends (within that hold's length) doubles the next
// one, up to kMaxHoldNs (or the first hold, for loops over 16 ms: a
// prefill's loop of two runs of pairs takes 100 ms). Under a lasting
// competitor a probing loop loses up to a scheduler slice (2-5 ms
// measured), about 1 / kHoldPerLoop of the time at first and 2 % at the
// longest hold; one such loop on an idle machine (a worker descheduled
// once) costs a short hold, and the longest hold is all the time a machine
// that turns idle waits for its threads.
constexpr double kHoldPerLoop = 16.0;
constexpr int64_t kMaxHoldNs = 250 * 1000 * 1000;

// The current hold: [start, until); and how many times it has doubled.
// Relaxed: callers on several threads may race here, and at worst one
// holds a little longer or shorter.
std::atomic<int64_t> g_hold_start{0}, g_hold_until{0};
std::atomic<int> g_doublings{0};

// FASTWEIGHTS_ALWAYS_THREAD=1: every call and loop takes the thread count
// it is given (no floors, no holds), so that tests reach every threaded
// path whatever the shape or the machine's load. Read once.
bool always_thread() {
  static const bool on = [] {
    // The library never calls setenv, so nothing of ours races this getenv.
    const char* s = std::getenv("FASTWEIGHTS_ALWAYS_THREAD");  // NOLINT(concurrency-mt-unsafe)
    return s && std::strcmp(s, "1") == 0;
  }();
  return on;
}

}  // namespace

bool holding_off() {
  if (always_thread()) return false;
  const int64_t until = g_hold_until.load(std::memory_order_relaxed);
  return until != 0 && monotonic_ns() < until;
}

void note_loop(const LoopReport& r) {
  const double wall = static_cast<double>(r.wall_ns), alone = static_cast<double>(r.cpu_ns);
  const bool stolen =
      r.stolen_ns > kMinLostNs && static_cast<double>(r.stolen_ns) > kStolenShare * wall;
  const bool no_gain = !r.woke && wall > kNoGainRatio * alone && wall - alone > kMinLostNs;
  if (!stolen && !no_gain) return;
  const int64_t now = monotonic_ns();
  const int64_t start = g_hold_start.load(std::memory_order_relaxed);
  const int64_t until = g_hold_until.load(std::memory_order_relaxed);
  int doublings = g_doublings.load(std::memory_order_relaxed);
  doublings = until != 0 && now - until < until - start ? (doublings < 30 ? doublings + 1 : 30) : 0;
  double hold = kHoldPerLoop * wall * static_cast<double>(int64_t{1} << doublings);
  const double longest = std::max<double>(kMaxHoldNs, kHoldPerLoop * wall);
  if (hold > longest) hold = longest;
  g_doublings.store(doublings, std::memory_order_relaxed);
  g_hold_start.store(now, std::memory_order_relaxed);
  g_hold_until.store(now + static_cast<int64_t>(hold), std::memory_order_relaxed);
}

Team call_team(int requested, double work, double per_thread, double wake) {
  Team t;
  if (always_thread()) return {requested, true};
  if (requested <= 1 || holding_off()) return t;
  const double paid = work / per_thread;  // threads the work pays for
  if (paid < 2.0) return t;
  t.threads = paid < requested ? static_cast<int>(paid) : requested;
  t.wake = work >= wake;
  return t;
}

}  // namespace fw
