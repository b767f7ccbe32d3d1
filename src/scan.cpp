// The four scan entry points: check, plan, run on the active backend.
//
// Work is split over (sequence, value head) pairs with OpenMP, and over
// value-column slices of a pair when pairs are fewer than threads; each task
// is computed start to finish by one thread, and a slice performs exactly the
// operations the whole would on its columns, so the thread count never
// changes a bit of the result.
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "dispatch/backend.hpp"
#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"
#include "src/scan_check.hpp"
#include "src/threads.hpp"
#include "src/workspace.hpp"

namespace fw {
namespace {

// AUTO: the chunked form from the sequence length where it overtakes the
// recurrent one, 16 tokens for every op. Measured with bench/ "crossover"
// (H = HV = 4, K = V = 128, AVX-512, one thread, medians of 3), recurrent vs
// chunked ms: delta rule T = 8 0.068 vs 0.096, T = 16 0.160 vs 0.091; linear
// attention T = 8 0.054 vs 0.060, T = 16 0.123 vs 0.065.
bool use_chunked(int32_t mode, int64_t len) {
  if (mode == FW_MODE_CHUNKED) return true;
  if (mode == FW_MODE_RECURRENT) return false;
  return len >= 16;
}

// Per-thread workspace: kernel scratch, then a K x V state and a K
// normaliser for callers that want no final state back.
int64_t thread_floats(const fw_scan_args* a) {
  const int64_t K = a->head_dim_k, V = a->head_dim_v;
  return scan_workspace_floats(K, V, a->chunk_size) + K * V + K;
}

// Value-column slices per (sequence, value head). With fewer pairs than
// threads (B = 1, one head, a long prompt), each pair's V columns are split
// across threads: every op's state columns evolve independently (each
// state-dependent product is column-separable), so a slice is a complete
// scan of its own, computing each output and state element with exactly the
// same operations as the whole; only the state-independent parts (Q K^T,
// and K K^T, T, W for the delta rule) are repeated per slice. Normalisation
// shares z across columns, so it is never split.
struct Split {
  int64_t parts, width;
};

Split plan_split(int64_t pairs, int64_t threads, int64_t V, bool normalize) {
  if (normalize || pairs >= threads) return {1, V};
  const int64_t parts = (threads + pairs - 1) / pairs;
  int64_t width = (V + parts - 1) / parts;
  width = (width + 15) / 16 * 16;  // whole vectors on every ISA
  if (width >= V) return {1, V};
  return {(V + width - 1) / width, width};
}

// Rows of a K x w block: dst (row stride dld) = src (row stride sld), or
// zeros without a src; nothing to do when updating in place.
void init_state(float* dst, int64_t dld, const float* src, int64_t sld, int64_t K, int64_t w) {
  if (src == dst) return;
  for (int64_t i = 0; i < K; ++i) {
    if (src)
      std::memcpy(dst + i * dld, src + i * sld, sizeof(float) * w);
    else
      std::memset(dst + i * dld, 0, sizeof(float) * w);
  }
}

void run_task(const fw_scan_args* a, ScanOp op, const ScanPlan& plan, const Split& split,
              const KernelTable& kt, int64_t task, float* ws) {
  const int64_t HV = a->num_value_heads, K = a->head_dim_k, V = a->head_dim_v;
  const int64_t pair = task / split.parts, v0 = (task % split.parts) * split.width;
  const int64_t w = V - v0 < split.width ? V - v0 : split.width;
  const int64_t n = pair / HV, hv = pair % HV, h = hv / (HV / a->num_heads);
  const int64_t b = a->cu_seqlens ? 0 : n;
  const int64_t t0 = a->cu_seqlens ? a->cu_seqlens[n] : 0;
  const int64_t len = a->cu_seqlens ? a->cu_seqlens[n + 1] - t0 : a->seq_len;

  // Row 0 of this task's (batch, sequence start, head) in a strided tensor.
  auto base = [&](const void* p, const int64_t* stride, int64_t head) -> const float* {
    if (!p) return nullptr;
    return static_cast<const float*>(p) + b * stride[0] + t0 * stride[1] + head * stride[2];
  };

  ScanTask t;
  t.q = base(a->q, a->q_stride, h);
  t.k = base(a->k, a->k_stride, h);
  t.v = base(a->v, a->v_stride, hv) + v0;
  t.g = base(a->g, a->g_stride, hv);
  t.beta = base(a->beta, a->beta_stride, hv);
  t.o = const_cast<float*>(base(a->o, a->o_stride, hv)) + v0;
  t.q_ts = a->q_stride[1];
  t.k_ts = a->k_stride[1];
  t.v_ts = a->v_stride[1];
  t.g_ts = a->g_stride[1];
  t.beta_ts = a->beta_stride[1];
  t.o_ts = a->o_stride[1];
  t.T = len;
  t.K = K;
  t.V = w;
  t.chunk = a->chunk_size;
  t.scale = plan.scale;
  t.eps = a->eps;
  t.qk_l2norm = (a->flags & FW_FLAG_QK_L2NORM) != 0;
  t.normalize = (a->flags & FW_FLAG_NORMALIZE) != 0;
  t.ws = ws;

  // The state lives in the caller's final-state slot when there is one (so
  // an in-place initial == final update works), else in the workspace.
  const int64_t slot = n * HV + hv;
  float* own = ws + scan_workspace_floats(K, V, a->chunk_size);
  t.S = a->final_state ? a->final_state + slot * K * V + v0 : own;
  t.S_ld = a->final_state ? V : w;
  t.z = a->final_norm ? a->final_norm + slot * K : own + K * V;
  const float* S0 = a->initial_state ? a->initial_state + slot * K * V + v0 : nullptr;
  init_state(t.S, t.S_ld, S0, V, K, w);
  if (t.normalize) {
    const float* z0 = a->initial_norm ? a->initial_norm + slot * K : nullptr;
    init_state(t.z, K, z0, K, 1, K);
  }
  if (len == 0) return;

  const bool chunked = use_chunked(a->mode, len);
  if (op_is_delta(op))
    (chunked ? kt.delta_rule_chunk : kt.delta_rule_recurrent)(t);
  else
    (chunked ? kt.linear_attn_chunk : kt.linear_attn_recurrent)(t);
}

fw_status run_scan(const fw_scan_args* a, ScanOp op) {
  ScanPlan plan;
  const fw_status s = check_scan_args(a, op, &plan);
  if (s != FW_OK) return s;

  const int64_t pairs = plan.num_seqs * a->num_value_heads;
  int64_t threads = num_threads();  // read once: another thread may set it meanwhile
  const Split split = plan_split(pairs, threads, a->head_dim_v, (a->flags & FW_FLAG_NORMALIZE) != 0);
  const int64_t tasks = pairs * split.parts;
  if (threads > tasks) threads = tasks;
  const int64_t per_thread = thread_floats(a);
  int64_t total = 0;
  if (__builtin_mul_overflow(per_thread, threads, &total)) return FW_ERR_OUT_OF_MEMORY;
  Workspace ws(total);
  if (!ws.get()) return FW_ERR_OUT_OF_MEMORY;

  const KernelTable& kt = *dispatch::table_for_call(a->backend);
#pragma omp parallel for num_threads(static_cast<int>(threads)) schedule(dynamic, 1)
  for (int64_t task = 0; task < tasks; ++task) {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    run_task(a, op, plan, split, kt, task, ws.get() + tid * per_thread);
  }
  return FW_OK;
}

}  // namespace
}  // namespace fw

extern "C" {
FW_API fw_status fw_linear_attn(const fw_scan_args* a) { return fw::run_scan(a, fw::ScanOp::kLinearAttn); }
FW_API fw_status fw_simple_gla(const fw_scan_args* a) { return fw::run_scan(a, fw::ScanOp::kSimpleGla); }
FW_API fw_status fw_delta_rule(const fw_scan_args* a) { return fw::run_scan(a, fw::ScanOp::kDeltaRule); }
FW_API fw_status fw_gated_delta_rule(const fw_scan_args* a) {
  return fw::run_scan(a, fw::ScanOp::kGatedDeltaRule);
}
}
