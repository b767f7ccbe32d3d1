// Peer (d): llama.cpp's CPU ops on a ScanProblem's inputs (token-recurrent,
// threads over heads in ggml's own thread pool): ggml_gated_delta_net with
// a scalar gate (the gated delta rule) or a gate per key channel (KDA), and
// ggml_gated_linear_attn (GLA). Built only when the benchmark is configured
// with FW_GGML_SOURCE (bench/CMakeLists.txt; scripts/bench.sh finds ggml's
// source in ../shared/peers).
#pragma once

#include <cstdint>
#include <memory>

#include "bench/scan_problem.hpp"
#include "fastweights/fastweights.h"

namespace fwbench {

class GgmlPeer {
 public:
  // One graph over all of p's tokens from a zero state, with `threads`
  // threads, computing `op` (FW_OP_GATED_DELTA_RULE, FW_OP_KDA or
  // FW_OP_GLA; K == V). Where HV > H, q and k are widened to HV heads so
  // that ggml's value head j reads fla's q/k head j / (HV / H): ggml pairs
  // it with head j % H instead, a different computation on the same inputs.
  GgmlPeer(ScanProblem& p, int threads, fw_op op);
  ~GgmlPeer();
  GgmlPeer(const GgmlPeer&) = delete;
  GgmlPeer& operator=(const GgmlPeer&) = delete;

  bool run();  // false if ggml reported a failure
  // After run(): [B, T, HV, V] output; final state [B, HV, V, K] (the delta
  // net's V-first layout) or [B, HV, K, V] (GLA's).
  const float* output() const;
  const float* final_state() const;
  bool state_v_first() const;

 private:
  struct Graph;
  std::unique_ptr<Graph> g_;
};

}  // namespace fwbench
