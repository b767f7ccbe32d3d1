// A register-resident FMA loop: the yardstick "efficiency" divides by.
// Enough independent accumulators to cover FMA latency x throughput on
// current cores (4-cycle latency x 2 pipes = 8; 12 leaves margin).
#pragma once

#include <cstdint>

namespace fwbench {

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

}  // namespace fwbench
