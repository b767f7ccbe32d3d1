// Compiled with the neon backend's flags (bench/CMakeLists.txt).
#include <arm_neon.h>

#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
struct Raw {
  using T = float32x4_t;
  static constexpr int N = 4;
  static T set1(float x) { return vdupq_n_f32(x); }
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static float first(T s) { return vgetq_lane_f32(s, 0); }
};
}  // namespace
namespace fwbench {
double fma_flops_neon(int64_t iters) { return fma_loop<fw::XsimdVec<xsimd::neon64, Tag>>(iters); }
double fma_flops_neon_intrinsic(int64_t iters) { return raw_fma_loop<Raw>(iters); }
}  // namespace fwbench
