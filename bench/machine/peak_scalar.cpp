#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_scalar.hpp"

namespace {
struct Tag {};
struct Raw {
  using T = float;
  static constexpr int N = 1;
  static T set1(float x) { return x; }
  static T fma(T a, T b, T c) { return a * b + c; }  // as ScalarVec: no libm fmaf call
  static T add(T a, T b) { return a + b; }
  static float first(T s) { return s; }
};
}  // namespace
namespace fwbench {
double fma_flops_scalar(int64_t iters) { return fma_loop<fw::ScalarVec<Tag>>(iters); }
double fma_flops_scalar_intrinsic(int64_t iters) { return raw_fma_loop<Raw>(iters); }
}  // namespace fwbench
