// Compiled with the avx512 backend's flags (bench/CMakeLists.txt).
#include <immintrin.h>

#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
struct Raw {
  using type = __m512;
  static constexpr int N = 16;
  static type set1(float x) { return _mm512_set1_ps(x); }
  static type fma(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm512_add_ps(a, b); }
  static float hsum(type s) { return _mm512_cvtss_f32(s); }  // a sink: one lane will do
};
}  // namespace
namespace fwbench {
double fma_flops_avx512(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::avx512bw, Tag>, 12>(iters);
}
double fma_flops_avx512_intrinsic(int64_t iters) { return fma_loop<Raw, 10>(iters); }
}  // namespace fwbench
