// Register-resident FMA loops: the yardstick "efficiency" divides by.
//
// fma_loop runs through the library's own vector policy (xsimd), raw_fma_loop
// through the ISA's intrinsics, written out per ISA (peak_<isa>.cpp): the
// second is the independent check that the first is not held back by its
// code generation. The benchmark takes the better of the two as the peak and
// records both (machine.cpp).
#pragma once

#include <cstdint>

namespace fwbench {

// Enough independent accumulators to cover FMA latency x throughput on
// current cores (4-cycle latency x 2 pipes = 8; 12 leaves margin).
template <class Vec>
double fma_loop(int64_t iters) {
  constexpr int kAcc = 12;
  typename Vec::type acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = Vec::set1(1.0f + 1e-3f * i);
  const typename Vec::type a = Vec::set1(0.999999f), b = Vec::set1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < kAcc; ++i) acc[i] = Vec::fma(acc[i], a, b);
  }
  typename Vec::type s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = Vec::add(s, acc[i]);
  volatile float sink = Vec::hsum(s);
  (void)sink;
  return 2.0 * kAcc * Vec::N * static_cast<double>(iters);  // flops
}

// The same loop over a raw intrinsic type: Raw has type T, lanes N, and
// static set1(float), fma(a, b, c) = a * b + c, add(a, b), first(T) -> float.
// Ten accumulators, the count of the plain `_mm256_fmadd_ps` loop that read
// 111-116 GFLOP/s on a Zen 3 core where fma_loop read 92 (issue 13).
template <class Raw>
double raw_fma_loop(int64_t iters) {
  constexpr int kAcc = 10;
  typename Raw::T acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = Raw::set1(1.0f + 1e-3f * i);
  const typename Raw::T a = Raw::set1(0.999999f), b = Raw::set1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 10
    for (int i = 0; i < kAcc; ++i) acc[i] = Raw::fma(a, acc[i], b);
  }
  typename Raw::T s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = Raw::add(s, acc[i]);
  volatile float sink = Raw::first(s);
  (void)sink;
  return 2.0 * kAcc * Raw::N * static_cast<double>(iters);  // flops
}

}  // namespace fwbench
