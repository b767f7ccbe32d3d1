// What the benchmark measures about the machine itself, once per run: the
// FMA peak of a backend on n threads, and the copy bandwidth on n threads.
#pragma once

#include <string>

#include "fastweights/fastweights.h"

namespace fwbench {

// GFLOP/s of the register-resident FMA loops on a backend's vectors,
// `threads` threads at once (fma_loop.hpp; cached per argument pair).
struct FmaPeak {
  double xsimd;      // the library's vector policy
  double intrinsic;  // the ISA's intrinsics, written out
};
FmaPeak fma_peak(fw_backend backend, int threads);
// Model-FLOP yardstick: the better of the two loops.
double fma_peak_gflops(fw_backend backend, int threads);
// memcpy of a 256 MiB buffer: (bytes read + bytes written) / s, GB/s.
double copy_bandwidth_gbs(int threads);
// "CPU model; cores; L1d/L2/L3" for the JSON context (hwloc, /proc/cpuinfo).
std::string cpu_model();
std::string topology();

}  // namespace fwbench
