// AVX-512 backend (F/BW/DQ/VL): 16 floats per batch. Compiled with those
// flags only; reached only when dispatch/ saw them and XCR0 bits 5-7.
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/isa/table.hpp"

namespace fw {
namespace avx512 {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = XsimdVec<xsimd::avx512bw, Tag, 8, 2>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace avx512
}  // namespace fw
