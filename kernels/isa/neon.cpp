// NEON backend (AArch64 Advanced SIMD, baseline there): 4 floats per batch.
#include "kernels/common/vec_xsimd.hpp"
#include "kernels/isa/table.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace neon {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = XsimdVec<xsimd::neon64, Tag>;

// AUTO's switch (kernel_table.hpp): 16 tokens for every op, GLA and KDA
// too, the crossover once measured on AVX-512. Not measured on an Arm CPU
// yet (qemu's timings say nothing about one).
constexpr AutoSwitch kAutoSwitch = auto_switch({
    {FW_OP_LINEAR_ATTN, {16, 16, 16}},
    {FW_OP_SIMPLE_GLA, {16, 16, 16}},
    {FW_OP_DELTA_RULE, {16, 16, 16}},
    {FW_OP_GATED_DELTA_RULE, {16, 16, 16}},
    {FW_OP_GLA, {16, 16, 16}},
    {FW_OP_KDA, {16, 16, 16}},
});
// Threads' floors (kernel_table.hpp): AVX2's (no Arm CPU to measure on,
// as for AUTO's rows).
constexpr ThreadFloors kThreadFloors = {2e5, 1.5e6, 4e6};
}  // namespace

const KernelTable* kernel_table() {
  static constexpr KernelTable t = kern::table<Vec>(kAutoSwitch, kThreadFloors);
  return &t;
}

}  // namespace neon
}  // namespace fw
