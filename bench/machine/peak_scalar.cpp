#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_scalar.hpp"

namespace {
struct Tag {};
struct Raw {
  using type = float;
  static constexpr int N = 1;
  static type set1(float x) { return x; }
  static type fma(type a, type b, type c) { return a * b + c; }  // as ScalarVec: no libm fmaf call
  static type add(type a, type b) { return a + b; }
  static float hsum(type s) { return s; }
};
}  // namespace
namespace fwbench {
double fma_flops_scalar(int64_t iters) { return fma_loop<fw::ScalarVec<Tag>, 12>(iters); }
double fma_flops_scalar_intrinsic(int64_t iters) { return fma_loop<Raw, 10>(iters); }
}  // namespace fwbench
