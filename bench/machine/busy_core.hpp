// A competitor for the contended rows: another process that keeps one core
// busy, as a serving engine's tokenizer, a browser or a second CI job
// would (the library's threads cannot assume the machine is theirs).
#pragma once

#include <sys/types.h>

namespace fwbench {

// While alive, a child process spins on the last CPU this process may run
// on, pinned there; killed and reaped on destruction.
class BusyCore {
 public:
  BusyCore();
  ~BusyCore();
  BusyCore(const BusyCore&) = delete;
  BusyCore& operator=(const BusyCore&) = delete;
  int cpu() const { return cpu_; }

 private:
  pid_t pid_ = -1;
  int cpu_ = -1;
};

}  // namespace fwbench
