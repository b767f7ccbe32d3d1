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
// gemm block 4 rows x 2 vectors (8 accumulators of the 16 ymm registers,
// 16-column panels). Forced to AVX2 at T = 4096, H = 16, K = V = 128, one
// thread, in one run: linear / delta thousand tokens/s 39.0 / 25.2 for 4x2,
// 36.6 / 19.3 for 4x3, 29.6 / 18.3 for 6x2.
using Vec = XsimdVec<xsimd::fma3<xsimd::avx2>, Tag, 4, 2>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace avx2
}  // namespace fw
