// Compiled with the neon backend's flags (bench/CMakeLists.txt).
#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_xsimd.hpp"

namespace {
struct Tag {};
}  // namespace
namespace fwbench {
double fma_flops_neon(int64_t iters) { return fma_loop<fw::XsimdVec<xsimd::neon64, Tag>>(iters); }
}  // namespace fwbench
