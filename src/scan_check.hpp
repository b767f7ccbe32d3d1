// Argument checks for the four scan entry points. Every check runs before
// anything is allocated or written; the first failing one gives the status.
#pragma once

#include <cstdint>

#include "fastweights/fastweights.h"

namespace fw {

enum class ScanOp { kLinearAttn, kSimpleGla, kDeltaRule, kGatedDeltaRule };

inline bool op_is_gated(ScanOp op) {
  return op == ScanOp::kSimpleGla || op == ScanOp::kGatedDeltaRule;
}
inline bool op_is_delta(ScanOp op) {
  return op == ScanOp::kDeltaRule || op == ScanOp::kGatedDeltaRule;
}

// What the checks derive and the run needs.
struct ScanPlan {
  int64_t num_seqs;  // N
  float scale;       // resolved default
  int64_t chunk;     // resolved FW_CHUNK_SIZE_AUTO
};

// The chunk of FW_CHUNK_SIZE_AUTO (src/chunk_size.cpp).
int64_t auto_chunk_size(bool delta_rule, int64_t head_dim_k);

fw_status check_scan_args(const fw_scan_args* a, ScanOp op, ScanPlan* plan);

}  // namespace fw
