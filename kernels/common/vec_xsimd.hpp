// Vector policy over an xsimd 8.1 architecture (see vec_scalar.hpp for the
// interface). Scalar tails use std::fma so that they round like the vector
// body; each ISA file is compiled with flags that make std::fma one
// instruction.
#pragma once

#include <cmath>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace fw {

// xsimd 8.1 has no AVX-512 kernel for fma: batch<float, avx512*> falls back
// to x * y + z, which our -ffp-contract=off keeps as a multiply and an add
// (half the FMA peak; seen in perf as vmulps + vaddps in the gemm loop).
// AVX-512 gets the intrinsic; NEON and FMA3 use xsimd's own.
template <class Arch, class B>
inline B fused_multiply_add(const B& a, const B& b, const B& c) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) return B(_mm512_fmadd_ps(a, b, c));
#endif
  return xsimd::fma(a, b, c);
}

// MR x NV: gemm.hpp's register block, rows x vectors of accumulators; each
// ISA file picks it (kernels/isa/*.cpp says which figures chose it).
template <class Arch, class Tag, int MR = 4, int NV = 3>
struct XsimdVec {
  using type = xsimd::batch<float, Arch>;
  static constexpr int N = static_cast<int>(type::size);
  static constexpr int kMR = MR, kNV = NV;
  static type load(const float* p) { return type::load_unaligned(p); }
  static void store(float* p, type x) { x.store_unaligned(p); }
  static type set1(float a) { return type(a); }
  static type zero() { return type(0.0f); }
  static type fma(type a, type b, type c) { return fused_multiply_add<Arch>(a, b, c); }
  static float fma1(float a, float b, float c) { return std::fma(a, b, c); }
  static type mul(type a, type b) { return a * b; }
  static type add(type a, type b) { return a + b; }
  static type sub(type a, type b) { return a - b; }
  static type max(type a, type b) { return xsimd::max(a, b); }
  static type min(type a, type b) { return xsimd::min(a, b); }
  static type exp(type a) { return xsimd::exp(a); }
  static float hsum(type a) { return xsimd::hadd(a); }  // 8.1 name of reduce_add
};

}  // namespace fw
