// Compiled with the avx512 backend's flags (bench/CMakeLists.txt).
#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
}  // namespace
namespace fwbench {
double fma_flops_avx512(int64_t iters) {
  return fma_loop<fw::XsimdVec<xsimd::avx512bw, Tag>>(iters);
}
}  // namespace fwbench
