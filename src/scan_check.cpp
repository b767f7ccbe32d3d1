#include "src/scan_check.hpp"

#include <cmath>

#include "dispatch/backend.hpp"
#include "src/layout.hpp"

namespace fw {
namespace {

constexpr uint32_t kKnownFlags = FW_FLAG_NORMALIZE | FW_FLAG_QK_L2NORM;

// One tensor argument: pointer, layout, byte span once checked.
struct Operand {
  const void* ptr;
  Layout layout;
  int64_t bytes;
};

Operand operand4(const void* p, int64_t b, int64_t t, int64_t h, int64_t d, const int64_t* stride) {
  return {p, {4, {b, t, h, d}, {stride[0], stride[1], stride[2], stride[3]}}, 0};
}

Operand operand3(const void* p, int64_t b, int64_t t, int64_t h, const int64_t* stride) {
  return {p, {3, {b, t, h, 0}, {stride[0], stride[1], stride[2], 0}}, 0};
}

fw_status check_strides(Operand* x, bool is_output) {
  for (int i = 0; i < x->layout.n; ++i)
    if (x->layout.stride[i] < 0) return FW_ERR_INVALID_STRIDE;
  if (x->layout.n == 4 && x->layout.stride[3] != 1) return FW_ERR_INVALID_STRIDE;
  int64_t span = 0;
  if (!layout_span(x->layout, sizeof(float), &span)) return FW_ERR_INVALID_DIMENSION;
  x->bytes = span * static_cast<int64_t>(sizeof(float));
  if (is_output && !layout_is_injective(x->layout)) return FW_ERR_INVALID_STRIDE;
  return FW_OK;
}

fw_status check_cu_seqlens(const fw_scan_args* a) {
  if (a->batch != 1 || a->num_seqs < 1) return FW_ERR_INVALID_CU_SEQLENS;
  const int64_t* cu = a->cu_seqlens;
  if (cu[0] != 0 || cu[a->num_seqs] != a->seq_len) return FW_ERR_INVALID_CU_SEQLENS;
  for (int64_t i = 0; i < a->num_seqs; ++i)
    if (cu[i + 1] < cu[i]) return FW_ERR_INVALID_CU_SEQLENS;
  return FW_OK;
}

bool in_range(int64_t x, int64_t lo, int64_t hi) { return x >= lo && x <= hi; }

}  // namespace

fw_status check_scan_args(const fw_scan_args* a, ScanOp op, ScanPlan* plan) {
  if (!a) return FW_ERR_NULL_POINTER;
  if (a->struct_size != sizeof(fw_scan_args)) return FW_ERR_INVALID_STRUCT_SIZE;
  if (a->dtype != FW_DTYPE_F32) return FW_ERR_UNSUPPORTED;
  if (a->mode != FW_MODE_AUTO && a->mode != FW_MODE_CHUNKED && a->mode != FW_MODE_RECURRENT)
    return FW_ERR_UNSUPPORTED;
  if ((a->flags & ~kKnownFlags) != 0) return FW_ERR_INVALID_FLAGS;
  if ((a->flags & FW_FLAG_NORMALIZE) && op != ScanOp::kLinearAttn) return FW_ERR_INVALID_FLAGS;
  if (a->backend != FW_BACKEND_AUTO && !dispatch::is_supported(static_cast<fw_backend>(a->backend)))
    return FW_ERR_BACKEND_UNAVAILABLE;

  // Required pointers; g and beta exactly when the op reads them.
  if (!a->q || !a->k || !a->v || !a->o) return FW_ERR_NULL_POINTER;
  if (op_is_gated(op) && !a->g) return FW_ERR_NULL_POINTER;
  if (op_is_delta(op) && !a->beta) return FW_ERR_NULL_POINTER;
  if (!op_is_gated(op) && a->g) return FW_ERR_INVALID_ARGUMENT;
  if (!op_is_delta(op) && a->beta) return FW_ERR_INVALID_ARGUMENT;
  const bool normalize = (a->flags & FW_FLAG_NORMALIZE) != 0;
  if (!normalize && (a->initial_norm || a->final_norm)) return FW_ERR_INVALID_ARGUMENT;

  const int64_t B = a->batch, T = a->seq_len, H = a->num_heads, HV = a->num_value_heads;
  const int64_t K = a->head_dim_k, V = a->head_dim_v;
  if (B < 1 || T < 1 || H < 1 || HV < 1 || K < 1 || V < 1) return FW_ERR_INVALID_DIMENSION;
  if (K > FW_MAX_HEAD_DIM || V > FW_MAX_HEAD_DIM) return FW_ERR_INVALID_DIMENSION;
  if (HV % H != 0) return FW_ERR_HEAD_MISMATCH;
  if (!in_range(a->chunk_size, FW_CHUNK_SIZE_AUTO, FW_MAX_CHUNK_SIZE))
    return FW_ERR_INVALID_CHUNK_SIZE;
  if (!std::isfinite(a->scale) || !std::isfinite(a->eps) || a->eps < 0.0f)
    return FW_ERR_INVALID_ARGUMENT;

  if (a->cu_seqlens) {
    const fw_status s = check_cu_seqlens(a);
    if (s != FW_OK) return s;
  }
  const int64_t N = a->cu_seqlens ? a->num_seqs : B;

  Operand q = operand4(a->q, B, T, H, K, a->q_stride);
  Operand k = operand4(a->k, B, T, H, K, a->k_stride);
  Operand v = operand4(a->v, B, T, HV, V, a->v_stride);
  Operand o = operand4(a->o, B, T, HV, V, a->o_stride);
  Operand g = operand3(a->g, B, T, HV, a->g_stride);
  Operand beta = operand3(a->beta, B, T, HV, a->beta_stride);
  Operand* inputs[] = {&q, &k, &v, &g, &beta};
  for (Operand* x : inputs) {
    if (!x->ptr) continue;
    const fw_status s = check_strides(x, /*is_output=*/false);
    if (s != FW_OK) return s;
  }
  {
    const fw_status s = check_strides(&o, /*is_output=*/true);
    if (s != FW_OK) return s;
  }

  // States are contiguous [N, HV, K, V] and [N, HV, K].
  int64_t state_elems = 0, norm_elems = 0;
  if (!mul_ok(N, HV, &norm_elems) || !mul_ok(norm_elems, K, &norm_elems) ||
      !mul_ok(norm_elems, V, &state_elems) || !mul_ok(state_elems, 4, &state_elems) ||
      !mul_ok(norm_elems, 4, &norm_elems))
    return FW_ERR_INVALID_DIMENSION;
  const int64_t state_bytes = state_elems, norm_bytes = norm_elems;

  // Outputs may not overlap any input or each other; a state updated in
  // place (final == initial, same buffer) is the one exception.
  struct Range {
    const void* p;
    int64_t n;
  };
  const Range outs[] = {
      {a->o, o.bytes}, {a->final_state, state_bytes}, {a->final_norm, norm_bytes}};
  const Range ins[] = {{a->q, q.bytes},
                       {a->k, k.bytes},
                       {a->v, v.bytes},
                       {a->g, g.bytes},
                       {a->beta, beta.bytes},
                       {a->initial_state, state_bytes},
                       {a->initial_norm, norm_bytes},
                       {a->cu_seqlens, (N + 1) * 8}};
  for (int i = 0; i < 3; ++i) {
    if (!outs[i].p) continue;
    for (const Range& in : ins) {
      if (!in.p) continue;
      const bool in_place = (i == 1 && in.p == a->initial_state && in.p == outs[i].p) ||
                            (i == 2 && in.p == a->initial_norm && in.p == outs[i].p);
      if (!in_place && ranges_overlap(outs[i].p, outs[i].n, in.p, in.n)) return FW_ERR_ALIASING;
    }
    for (int j = i + 1; j < 3; ++j)
      if (outs[j].p && ranges_overlap(outs[i].p, outs[i].n, outs[j].p, outs[j].n))
        return FW_ERR_ALIASING;
  }

  plan->num_seqs = N;
  plan->chunk =
      a->chunk_size != FW_CHUNK_SIZE_AUTO ? a->chunk_size : auto_chunk_size(op_is_delta(op), K);
  plan->scale =
      (normalize || a->scale != 0.0f) ? a->scale : 1.0f / std::sqrt(static_cast<float>(K));
  return FW_OK;
}

}  // namespace fw
