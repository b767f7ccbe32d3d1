// The one list of scan ops. Everything that enumerates ops reads it: the C
// entry points and fw_op_get_info (src/ops.cpp), the argument checks
// (src/scan_plan.cpp), each backend's AUTO switch table (kernel_table.hpp),
// and, through fw_op_count / fw_op_get_info, the tests, the benchmark, the
// A/B tool, the fuzzer and the Python binding. Adding an op is one row here
// plus its kernels (docs/design.md, "Adding an op").
#pragma once

#include <cstdint>

#include "fastweights/fastweights.h"

namespace fw {

// Which kernels run an op: each family's recurrent, prepare and advance
// kernels serve every op of the family, told apart by the gate and beta
// operands the op reads.
enum class Family { kLinearAttn, kDeltaRule };

// Flags every op accepts; an op's row adds its own.
constexpr uint32_t kCommonFlags =
    FW_FLAG_QK_L2NORM | FW_FLAG_STATE_V_FIRST | FW_FLAG_FINAL_STATE_BY_SEQUENCE;
// Flags of the ops that read beta (fla's beta options).
constexpr uint32_t kBetaFlags = FW_FLAG_BETA_SIGMOID | FW_FLAG_NEG_EIGVAL;

// X(fw_op value, C entry point, fla name, gate kind, reads beta, own flags,
//   model FLOPs per token and value head over K * V, kernel family)
#define FW_OP_REGISTRY(X)                                                                          \
  X(FW_OP_LINEAR_ATTN, fw_linear_attn, "linear_attn", FW_GATE_NONE, false, FW_FLAG_NORMALIZE, 4.0, \
    ::fw::Family::kLinearAttn)                                                                     \
  X(FW_OP_SIMPLE_GLA, fw_simple_gla, "simple_gla", FW_GATE_SCALAR, false, 0u, 4.0,                 \
    ::fw::Family::kLinearAttn)                                                                     \
  X(FW_OP_DELTA_RULE, fw_delta_rule, "delta_rule", FW_GATE_NONE, true, ::fw::kBetaFlags, 6.0,      \
    ::fw::Family::kDeltaRule)                                                                      \
  X(FW_OP_GATED_DELTA_RULE, fw_gated_delta_rule, "gated_delta_rule", FW_GATE_SCALAR, true,         \
    ::fw::kBetaFlags, 6.0, ::fw::Family::kDeltaRule)                                               \
  X(FW_OP_GLA, fw_gla, "gla", FW_GATE_CHANNEL, false, 0u, 4.0, ::fw::Family::kLinearAttn)          \
  X(FW_OP_KDA, fw_kda, "kda", FW_GATE_CHANNEL, true, ::fw::kBetaFlags, 6.0,                        \
    ::fw::Family::kDeltaRule)

struct OpDesc {
  fw_op id;
  const char* name;
  fw_gate_kind gate;
  bool beta;
  uint32_t flags;  // every flag the op accepts
  double flops_per_kv;
  Family family;
};

#define FW_OP_DESC_ROW(id, fn, name, gate, beta, flags, flops, family) \
  OpDesc{id, name, gate, beta, kCommonFlags | (flags), flops, family},
constexpr OpDesc kOps[] = {FW_OP_REGISTRY(FW_OP_DESC_ROW)};
#undef FW_OP_DESC_ROW
constexpr int kNumOps = static_cast<int>(sizeof(kOps) / sizeof(kOps[0]));

constexpr bool ops_are_numbered_in_order() {
  for (int i = 0; i < kNumOps; ++i)
    if (kOps[i].id != i) return false;
  return true;
}
static_assert(ops_are_numbered_in_order(), "kOps[i] must describe fw_op value i");

// The row of op, or nullptr for a value no op has.
inline const OpDesc* find_op(int64_t op) { return op >= 0 && op < kNumOps ? &kOps[op] : nullptr; }

}  // namespace fw
