// Register-resident FMA loops: the yardstick "efficiency" divides by.
//
// One loop, run through the library's own vector policy (xsimd) and through
// the ISA's intrinsics written out per ISA (peak_<isa>.cpp): the second is
// the independent check that the first is not held back by its code
// generation. The benchmark takes the better of the two as the peak and
// records both (machine.cpp).
#pragma once

#include <cstdint>

namespace fwbench {

// kAcc independent accumulators. Vec is the library's vector policy (type,
// N, set1, fma(a, b, c) = a * b + c, add, hsum) or a Raw struct of the same
// names over one ISA's intrinsics (peak_<isa>.cpp). The xsimd loop runs 12,
// enough to cover FMA latency x throughput on current cores (4-cycle latency
// x 2 pipes = 8) with margin; the intrinsic loop 10, the count of the plain
// `_mm256_fmadd_ps` loop that read 111-116 GFLOP/s on a Zen 3 core where the
// xsimd loop read 92.
template <class Vec, int kAcc>
double fma_loop(int64_t iters) {
  typename Vec::type acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = Vec::set1(1.0f + 1e-3f * i);
  const typename Vec::type a = Vec::set1(0.999999f), b = Vec::set1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) acc[i] = Vec::fma(acc[i], a, b);
  }
  typename Vec::type s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = Vec::add(s, acc[i]);
  volatile float sink = Vec::hsum(s);
  (void)sink;
  return 2.0 * kAcc * Vec::N * static_cast<double>(iters);  // flops
}

}  // namespace fwbench
