// Peer (d): llama.cpp's CPU op for the gated delta rule, ggml_gated_delta_net
// (token-recurrent, V-first state, threads over heads in its own thread
// pool), on a ScanProblem's inputs. Built only when the benchmark is
// configured with FW_GGML_SOURCE (bench/CMakeLists.txt; scripts/bench.sh
// finds ggml's source in ../shared/peers).
#pragma once

#include <cstdint>
#include <memory>

#include "bench/scan_problem.hpp"

namespace fwbench {

class GgmlGatedDeltaNet {
 public:
  // One graph over all of p's tokens from a zero state, with `threads`
  // threads. Where HV > H, q and k are widened to HV heads so that ggml's
  // value head j reads fla's q/k head j / (HV / H): ggml pairs it with head
  // j % H instead, a different computation on the same inputs.
  GgmlGatedDeltaNet(const ScanProblem& p, int threads);
  ~GgmlGatedDeltaNet();
  GgmlGatedDeltaNet(const GgmlGatedDeltaNet&) = delete;
  GgmlGatedDeltaNet& operator=(const GgmlGatedDeltaNet&) = delete;

  bool run();  // false if ggml reported a failure
  // After run(): [B, T, HV, V] output, [B, HV, V, K] final state.
  const float* output() const;
  const float* final_state() const;

 private:
  struct Graph;
  std::unique_ptr<Graph> g_;
};

}  // namespace fwbench
