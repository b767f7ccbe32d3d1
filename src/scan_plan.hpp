// A checked scan call: what plan_scan derives from the caller's fw_scan_args,
// and the only thing the runners (src/scan.cpp) read. Every check runs
// before anything is allocated or written; the first failing one gives the
// status (docs/design.md, "Planning").
#pragma once

#include <cstdint>

#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"
#include "kernels/op_registry.hpp"

namespace fw {

// An input of dims (batch, time, head[, dim]), elements of dt.
struct InputView {
  const void* data;  // nullptr: absent
  int64_t stride[4];
  Dtype dt;
  // Its rows (stride[1] apart) from (batch b, token t, head h) on.
  InRows rows(int64_t b, int64_t t, int64_t h) const {
    return InRows{data, stride[1], dt}.from(0, b * stride[0] + t * stride[1] + h * stride[2]);
  }
  // Element i of an fp32 input (A_log, dt_bias).
  const float* f32(int64_t i) const { return static_cast<const float*>(data) + i; }
};

// A state tensor, [slots, HV, rows, cols] (rows x cols = K x V, or V x K
// V-first); the intermediate states add a step dimension after the slot.
struct StateView {
  float* data;  // nullptr: absent
  int64_t slot, step, head, row;
  float* at(int64_t s, int64_t h, int64_t st = 0) const {
    return data + s * slot + st * step + h * head;
  }
};

// An output of dims (batch, time, head[, dim]): o and the gradients.
struct OutputView {
  void* data;  // nullptr: absent
  int64_t stride[4];
  Dtype dt;
  OutRows rows(int64_t b, int64_t t, int64_t h) const {
    return OutRows{data, stride[1], dt}.from(0, b * stride[0] + t * stride[1] + h * stride[2]);
  }
};

// The backward's own operands (fw_scan_args' grad_* fields).
struct GradViews {
  InputView o;                  // grad_o
  StateView final_state;        // grad_final_state, read
  OutputView q, k, v, g, beta;  // written
  StateView initial_state;      // grad_initial_state, written
};

// Which call a plan is for: the forward, or its backward (whose checks
// cover the grad_* operands and skip the forward's outputs).
enum class Direction { kForward, kBackward };

struct ScanPlan {
  const OpDesc* op;
  const KernelTable* kernels;
  int32_t mode;
  int64_t B, T, H, HV, K, V;
  int64_t N;      // sequences
  int64_t chunk;  // resolved FW_CHUNK_SIZE_AUTO
  float scale;    // resolved default
  float eps;
  bool qk_l2norm, normalize, v_first;
  bool stream_o;                    // outputs written past the caches (src/scan.cpp)
  bool ask_state_rows, row_sweeps;  // dispatch::CpuFeatures' choices
  InputView q, k, v, g, beta;
  bool g_channel;  // g [B, T, HV, K] (FW_GATE_CHANNEL): a row of K per token
  // fla's gate and beta options (fw_scan_args): A_log [HV] and dt_bias [HV]
  // or [HV, K] (stride[0] per head), beta = sigmoid(b) and beta doubled.
  InputView A_log, dt_bias;
  bool beta_sigmoid;
  float beta_scale;
  void* o;
  int64_t o_stride[4];
  Dtype o_dt;
  const int64_t* cu_seqlens;
  // Sequence n reads slot read_slot(n) of initial_state and initial_norm and
  // writes slot write_slot(n) of final_state and final_norm.
  const int32_t* slots;  // state_indices, or nullptr
  bool final_by_sequence;
  StateView initial_state, final_state, initial_norm, final_norm;
  StateView intermediate;      // step = a token (recurrent) or a chunk
  int64_t intermediate_steps;  // S
  GradViews grad;              // Direction::kBackward only

  int64_t first_token(int64_t n) const { return cu_seqlens ? cu_seqlens[n] : 0; }
  int64_t length(int64_t n) const { return cu_seqlens ? cu_seqlens[n + 1] - cu_seqlens[n] : T; }
  int64_t batch_of(int64_t n) const { return cu_seqlens ? 0 : n; }
  bool is_padding(int64_t n) const { return slots && slots[n] < 0; }
  int64_t read_slot(int64_t n) const { return slots ? slots[n] : n; }
  int64_t write_slot(int64_t n) const { return slots && !final_by_sequence ? slots[n] : n; }
  const FamilyKernels& family() const { return kernels->of(op->family); }
  // Model FLOPs of the forward (the op's per key-value element per token
  // over every sequence but padding): the work that decides how many
  // threads a call takes (src/team.hpp).
  double model_flops() const {
    double tokens = 0;
    for (int64_t n = 0; n < N; ++n)
      if (!is_padding(n)) tokens += static_cast<double>(length(n));
    return tokens * static_cast<double>(HV) * static_cast<double>(K) * static_cast<double>(V) *
           op->flops_per_kv;
  }
};

// The chunk of FW_CHUNK_SIZE_AUTO for op (src/ops.cpp).
int64_t auto_chunk_size(const OpDesc& op, int64_t head_dim_k);

fw_status plan_scan(int64_t op, const fw_scan_args* args, ScanPlan* plan,
                    Direction direction = Direction::kForward);

}  // namespace fw
