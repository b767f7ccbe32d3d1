// AVX2 + FMA backend: 8 floats per batch. Compiled with -mavx2 -mfma only
// (CMakeLists.txt); reached only when dispatch/ saw AVX2, FMA and the OS's
// ymm state (XCR0 bits 1-2).
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/isa/table.hpp"

namespace fw {
namespace avx2 {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = XsimdVec<xsimd::fma3<xsimd::avx2>, Tag, 4, 2>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace avx2
}  // namespace fw
