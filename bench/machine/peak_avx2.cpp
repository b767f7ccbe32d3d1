// Compiled with the avx2 backend's flags (bench/CMakeLists.txt).
#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
}  // namespace
namespace fwbench {
double fma_flops_avx2(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::fma3<xsimd::avx2>, Tag>>(iters);
}
}  // namespace fwbench
