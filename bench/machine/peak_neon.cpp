// Compiled with the neon backend's flags (bench/CMakeLists.txt).
#include <arm_neon.h>

#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
struct Raw {
  using type = float32x4_t;
  static constexpr int N = 4;
  static type set1(float x) { return vdupq_n_f32(x); }
  static type fma(type a, type b, type c) { return vfmaq_f32(c, a, b); }
  static type add(type a, type b) { return vaddq_f32(a, b); }
  static float hsum(type s) { return vgetq_lane_f32(s, 0); }  // a sink: one lane will do
};
}  // namespace
namespace fwbench {
double fma_flops_neon(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::neon64, Tag>, 12>(iters);
}
double fma_flops_neon_intrinsic(int64_t iters) { return fma_loop<Raw, 10>(iters); }
}  // namespace fwbench
