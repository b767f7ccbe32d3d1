// AVX-512 backend (F/BW/DQ/VL): 16 floats per batch. Compiled with those
// flags only; reached only when dispatch/ saw them and XCR0 bits 5-7.
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/isa/table.hpp"

namespace fw {
namespace avx512 {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
// gemm block 8 rows x 2 vectors (16 accumulators, 32-column panels that
// divide V = 64, 128, 256). Swept at T = 8192, H = 1, K = V = 128, one
// thread (medians of 3), linear / delta ms: 6x4 9.72 / 17.2, 8x2 9.03 / 15.6,
// 4x4 9.77 / 16.3, 8x3 9.17 / 16.9.
using Vec = XsimdVec<xsimd::avx512bw, Tag, 8, 2>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace avx512
}  // namespace fw
