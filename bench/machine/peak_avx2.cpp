// Compiled with the avx2 backend's flags (bench/CMakeLists.txt).
#include <immintrin.h>

#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
struct Raw {
  using T = __m256;
  static constexpr int N = 8;
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static float first(T s) { return _mm256_cvtss_f32(s); }
};
}  // namespace
namespace fwbench {
double fma_flops_avx2(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::fma3<xsimd::avx2>, Tag>>(iters);
}
double fma_flops_avx2_intrinsic(int64_t iters) { return raw_fma_loop<Raw>(iters); }
}  // namespace fwbench
