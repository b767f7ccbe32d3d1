// Vector policy for the portable backend: one float per "batch".
//
// Kernels are written once against the policy interface (N, load, store,
// stream, stream_fence, load_f16, load_bf16, store_f16, store_bf16, set1, fma, mul, add, sub, max,
// min, exp, flush_below (x < t ? 0 : x), sqrt, hsum, tree_sum, the lane sums sum_type, kSumLanes,
// sum_zero, sum_fma and sum_tree, and transpose of an N x N block); this one compiles to plain
// scalar code. Tag is a type from the instantiating file's anonymous namespace, which gives every
// instantiation internal linkage (no ODR merging of kernels across ISA files).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/half_bits.hpp"

namespace fw {

template <class Tag>
struct ScalarVec {
  using type = float;
  static constexpr int N = 1;
  // gemm.hpp register block: 4 rows x 4 columns of scalars.
  static constexpr int kMR = 4, kNV = 4;
  static type load(const float* p) { return *p; }
  static void store(float* p, type x) { *p = x; }
  static void stream(float* p, type x) { *p = x; }  // vec_xsimd.hpp: stream_store
  static void stream_fence() {}
  static type load_f16(const uint16_t* p) { return half_bits::f16_to_f32<Tag>(*p); }
  static type load_bf16(const uint16_t* p) { return half_bits::bf16_to_f32<Tag>(*p); }
  static void store_f16(uint16_t* p, type x) { *p = half_bits::f32_to_f16<Tag>(x); }
  static void store_bf16(uint16_t* p, type x) { *p = half_bits::f32_to_bf16<Tag>(x); }
  static type set1(float a) { return a; }
  static type zero() { return 0.0f; }
  // No fused multiply-add: without FMA hardware fmaf is a slow libm call, and
  // the project builds with -ffp-contract=off, so this is a rounded mul + add.
  static type fma(type a, type b, type c) { return a * b + c; }
  static float fma1(float a, float b, float c) { return a * b + c; }
  static type mul(type a, type b) { return a * b; }
  static type add(type a, type b) { return a + b; }
  static type sub(type a, type b) { return a - b; }
  static type max(type a, type b) { return a > b ? a : b; }
  static type min(type a, type b) { return a < b ? a : b; }
  static type exp(type a) { return std::exp(a); }
  static type flush_below(type x, float t) { return x < t ? 0.0f : x; }  // NaN stays
  static float hsum(type a) { return a; }
  static float tree_sum(type a) { return a; }  // vec_xsimd.hpp: tree_sum
  using sum_type = float;                      // vec_xsimd.hpp: LaneSums
  static constexpr int kSumLanes = 1;
  static sum_type sum_zero() { return 0.0f; }
  static sum_type sum_fma(type a, type b, sum_type acc) { return a * b + acc; }
  static float sum_tree(sum_type a) { return a; }
  static void transpose(const float* src, int64_t, float* dst, int64_t) { *dst = *src; }
};

}  // namespace fw
