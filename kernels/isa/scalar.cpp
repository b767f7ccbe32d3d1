// Portable backend: every kernel over the one-float policy, compiled at the
// baseline ISA; runs on any CPU.
#include "kernels/common/vec_scalar.hpp"
#include "kernels/isa/table.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace scalar {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = ScalarVec<Tag>;

// AUTO's switch (kernel_table.hpp). Here the compiler vectorises the
// recurrent linear attention's row loops but not gemm's scalar register
// block: chunked linear attention took 3x the recurrent time at every T
// measured (2 .. 1024), while the chunked delta rules took 0.55-0.89 of it
// from T = 2 (fastweights_ab_compare on a Zen 4, B = 1, H = 4, K = 64 ..
// 256, one thread). GLA like linear attention (chunked 2.1-2.8x the
// recurrent time at T = 2 .. 128); KDA at K = 64 1.09-1.28 (T = 2 .. 64),
// at K = 128 0.96 at T = 2 and 0.89 at T = 16 .. 64, at K = 256 0.82 at
// T = 2 (Cascade Lake).
constexpr AutoSwitch kAutoSwitch = auto_switch({
    {FW_OP_LINEAR_ATTN, {kNeverChunked, kNeverChunked, kNeverChunked}},
    {FW_OP_SIMPLE_GLA, {kNeverChunked, kNeverChunked, kNeverChunked}},
    {FW_OP_DELTA_RULE, {2, 2, 2}},
    {FW_OP_GATED_DELTA_RULE, {2, 2, 2}},
    {FW_OP_GLA, {kNeverChunked, kNeverChunked, kNeverChunked}},
    {FW_OP_KDA, {kNeverChunked, 2, 2}},
});
// Threads' floors (kernel_table.hpp), Cascade Lake (medians of 800-2000
// back-to-back calls, one thread / two): decode linear attention (B = 1,
// K = V = 128) at HV = 2 (0.13 MFLOP) 0.023 / 0.016 ms; one pair chunked
// at T = 16 (1 MFLOP) 0.37 / 0.22.
constexpr ThreadFloors kThreadFloors = {1e5, 2.5e5, 1e6};
}  // namespace

const KernelTable* kernel_table() {
  static constexpr KernelTable t = kern::table<Vec>(kAutoSwitch, kThreadFloors);
  return &t;
}

}  // namespace scalar
}  // namespace fw
