// AVX-512 backend (F/BW/DQ/VL): 16 floats per batch. Compiled with those
// flags only; reached only when dispatch/ saw them and XCR0 bits 5-7.
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/table.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace avx512 {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
// gemm block 8 rows x 2 vectors (16 accumulators, 32-column panels that
// divide V = 64, 128, 256). Swept at T = 8192, H = 1, K = V = 128, one
// thread (medians of 3), linear / delta ms: 6x4 9.72 / 17.2, 8x2 9.03 / 15.6,
// 4x4 9.77 / 16.3, 8x3 9.17 / 16.9.
using Vec = XsimdVec<xsimd::avx512bw, Tag, 8, 2>;

// AUTO's switch (kernel_table.hpp). Paired recurrent / chunked time ratios
// (fastweights_ab_compare, B = 1, H = 4, one thread; K = 64 / 128 / 256):
// linear attention at T = 4 1.01 / 0.91 / 0.83, T = 2 1.3-1.5; simple GLA
// at T = 4 0.89 / 1.02 / 1.02, T = 6 1.03 / 0.93 / 0.85; delta rule at
// T = 6 1.29 / 1.05 / 0.91, T = 8 1.24 / 0.93 / 0.82, and at K = 64 still
// 1.06-1.07 at T = 16 .. 512 (1.01 at T = 2048, H = 32); gated delta rule at
// T = 8 1.36 / 1.04 / 0.89, T = 12 1.30 / 0.97 / 0.82, at K = 64 1.17-1.22
// at T = 16 .. 512. At K = 64 the recurrent delta rules keep a 16 KiB state
// in L1 and beat the chunked form at every length. GLA and KDA (Cascade
// Lake): GLA at T = 3 0.99 / 1.00 / 1.01, T = 4 0.90 / 0.79 / 0.81; KDA at
// K = 64 1.12-1.28 at every T up to 512, at K = 128 T = 6 1.07, T = 8 0.80,
// at K = 256 T = 3 1.37, T = 4 0.92. After linear attention's recurrent
// sweeps kept their partial sums in registers (Zen 4, medians of 3 runs of
// 31 pairs, K = 128 / 256): linear attention T = 4 0.90 / 0.94, T = 6
// 0.99 / 1.03, T = 8 1.16 / 1.20; simple GLA T = 6 0.84 / 0.93, T = 8 0.99 /
// 1.08; GLA T = 6 0.93 / 0.93, T = 8 1.03 / 1.08. K = 64 read 0.67-1.14 at
// T = 16 from one process to the next, and keeps its switch.
constexpr AutoSwitch kAutoSwitch = auto_switch({
    {FW_OP_LINEAR_ATTN, {4, 6, 6}},
    {FW_OP_SIMPLE_GLA, {4, 8, 8}},
    {FW_OP_DELTA_RULE, {kNeverChunked, 8, 4}},
    {FW_OP_GATED_DELTA_RULE, {kNeverChunked, 10, 8}},
    {FW_OP_GLA, {4, 8, 8}},
    {FW_OP_KDA, {kNeverChunked, 8, 4}},
});
// Threads' floors (kernel_table.hpp). Back-to-back calls, one thread against
// two, medians of 1000-4000 (Cascade Lake): decode (B = 1, T = 1, K = V =
// 128) linear attention at HV = 2 (0.13 MFLOP) 0.0096 / 0.0117 ms, the
// delta rule at HV = 3 (0.29 MFLOP) 0.82x; one pair (H = 1) chunked,
// linear attention at T = 32 (2.1 MFLOP) 0.046 / 0.044 ms, T = 64 0.059 /
// 0.067 (slower on two), T = 128 0.194 / 0.129.
constexpr ThreadFloors kThreadFloors = {1e5, 4e6, 8e6};
}  // namespace

const KernelTable* kernel_table() {
  static constexpr KernelTable t = kern::table<Vec>(kAutoSwitch, kThreadFloors);
  return &t;
}

}  // namespace avx512
}  // namespace fw
