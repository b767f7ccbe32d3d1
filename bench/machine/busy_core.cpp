#include "bench/machine/busy_core.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fwbench {

BusyCore::BusyCore() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpu_ = c;
  if (cpu_ < 0) return;
  pid_ = fork();
  if (pid_ != 0) return;
  // The child of a threaded process: system calls and a loop only.
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu_, &one);
  sched_setaffinity(0, sizeof one, &one);
  for (volatile unsigned long spin = 0;; spin = spin + 1) {
  }
}

BusyCore::~BusyCore() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

}  // namespace fwbench
