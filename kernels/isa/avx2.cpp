// AVX2 + FMA backend: 8 floats per batch. Compiled with -mavx2 -mfma -mf16c
// only (CMakeLists.txt); reached only when dispatch/ saw AVX2, FMA, F16C
// (fp16 operands' conversions) and the OS's ymm state (XCR0 bits 1-2).
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/table.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace avx2 {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
// gemm block 4 rows x 3 vectors (12 accumulators of the 16 ymm registers,
// 24-column panels). With gemm's row blocks outer (gemm.hpp), paired A/B
// against 4 x 2 on a Cascade Lake forced to AVX2 (T = 4096, H = 16,
// K = V = 128, one thread): linear / delta / gated delta 0.94 / 0.97 / 0.88;
// 8 x 1 1.24, 6 x 2 1.06-1.31 (docs/decisions.md). With panels outer (Zen 4,
// forced), 4 x 2 had won: 39.0 / 25.2 thousand tokens/s against 36.6 / 19.3
// for 4 x 3.
using Vec = XsimdVec<xsimd::fma3<xsimd::avx2>, Tag, 4, 3>;

// AUTO's switch (kernel_table.hpp). Paired recurrent / chunked time ratios
// on this backend forced on a Zen 4 (fastweights_ab_compare, B = 1, H = 4,
// one thread; K = 64 / 128 / 256): linear attention at T = 3 1.33 / 1.34 /
// 1.43, T = 4 1.02 / 1.01 / 0.99; simple GLA at T = 6 1.23 / 1.12 / 1.05,
// T = 8 0.84 / 0.88 / 0.83; delta rule at K = 64 T = 6 1.19, T = 8 0.75, at
// K = 128 T = 3 1.21, T = 4 0.75, at K = 256 T = 2 0.92; gated delta rule at
// K = 64 T = 6 1.06, T = 8 0.85, at K = 128 T = 3 1.36, T = 4 0.87, at
// K = 256 T = 3 1.04, T = 4 0.63. Cascade Lake forced to AVX2 (H = 4): GLA
// at T = 2 1.21 / 1.39 / -, T = 4 0.93 / 0.87 / 0.94; KDA at K = 64 1.09-1.24
// at every T up to 512, at K = 128 T = 3 1.51, T = 4 0.69, at K = 256 T = 4
// 0.92. After linear attention's recurrent sweeps kept their partial sums
// in registers (Zen 4, medians of 3 runs of 31 pairs, K = 128 / 256):
// linear attention T = 4 0.93 / 0.93, T = 6 1.03 / 1.01; simple GLA T = 6
// 0.87 / 0.89, T = 8 1.08 / 1.08; GLA T = 6 0.90 / 0.91, T = 8 1.02 / 1.07.
constexpr AutoSwitch kAutoSwitch = auto_switch({
    {FW_OP_LINEAR_ATTN, {4, 6, 6}},
    {FW_OP_SIMPLE_GLA, {8, 8, 8}},
    {FW_OP_DELTA_RULE, {8, 4, 2}},
    {FW_OP_GATED_DELTA_RULE, {8, 4, 4}},
    {FW_OP_GLA, {4, 8, 8}},
    {FW_OP_KDA, {kNeverChunked, 4, 4}},
});
// Threads' floors (kernel_table.hpp), forced on Cascade Lake as for AUTO
// (medians of 800-2000 back-to-back calls, one thread / two): decode
// linear attention (B = 1, K = V = 128) at HV = 4 (0.26 MFLOP) 0.026 /
// 0.029 ms, HV = 8 0.051 / 0.032; one pair chunked at T = 32 (2.1 MFLOP)
// 0.073 / 0.074, T = 64 0.152 / 0.100.
constexpr ThreadFloors kThreadFloors = {2e5, 1.5e6, 4e6};
}  // namespace

const KernelTable* kernel_table() {
  static constexpr KernelTable t = kern::table<Vec>(kAutoSwitch, kThreadFloors);
  return &t;
}

}  // namespace avx2
}  // namespace fw
