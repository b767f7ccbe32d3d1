// Compiled with the avx2 backend's flags (bench/CMakeLists.txt).
#include <immintrin.h>

#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
struct Raw {
  using type = __m256;
  static constexpr int N = 8;
  static type set1(float x) { return _mm256_set1_ps(x); }
  static type fma(type a, type b, type c) { return _mm256_fmadd_ps(a, b, c); }
  static type add(type a, type b) { return _mm256_add_ps(a, b); }
  static float hsum(type s) { return _mm256_cvtss_f32(s); }  // a sink: one lane will do
};
}  // namespace
namespace fwbench {
double fma_flops_avx2(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::fma3<xsimd::avx2>, Tag>, 12>(iters);
}
double fma_flops_avx2_intrinsic(int64_t iters) { return fma_loop<Raw, 10>(iters); }
}  // namespace fwbench
