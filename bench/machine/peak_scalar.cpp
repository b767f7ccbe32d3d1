#include "bench/machine/fma_loop.hpp"
#include "kernels/common/vec_scalar.hpp"

namespace {
struct Tag {};
}  // namespace
namespace fwbench {
double fma_flops_scalar(int64_t iters) { return fma_loop<fw::ScalarVec<Tag>>(iters); }
}  // namespace fwbench
