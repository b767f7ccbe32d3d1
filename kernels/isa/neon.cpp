// NEON backend (AArch64 Advanced SIMD, baseline there): 4 floats per batch.
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/isa/table.hpp"

namespace fw {
namespace neon {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = XsimdVec<xsimd::neon64, Tag>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace neon
}  // namespace fw
