#include "src/scan_plan.hpp"

#include <cmath>
#include <initializer_list>

#include "dispatch/backend.hpp"
#include "dispatch/cpu_features.hpp"
#include "src/layout.hpp"
#include "src/state_slots.hpp"
#include "src/struct_args.hpp"

namespace fw {
namespace {

constexpr uint32_t kKnownFlags = FW_FLAG_NORMALIZE | FW_FLAG_QK_L2NORM | FW_FLAG_STATE_V_FIRST |
                                 FW_FLAG_FINAL_STATE_BY_SEQUENCE | FW_FLAG_BETA_SIGMOID |
                                 FW_FLAG_NEG_EIGVAL;

// Outputs of at least this many bytes are written past the caches
// (ScanTask::stream_o, chunk_ops.hpp: store_outputs): half the 32 MiB L3 of
// the machine that measured it, so that a caller reading a smaller output
// back (the next layer's projection) finds it in cache.
constexpr double kStreamOutputBytes = 16.0 * 1024 * 1024;

// One operand as the checks see it: the caller's tensor, its dims' sizes,
// its element type,
// whether the library writes it, whether its innermost dim is a row of
// features (stride 1) rather than the heads of g and beta, the input it may
// be (an output state updated in place), and its byte span once checked.
struct Operand {
  const fw_tensor* t;
  Layout layout;
  bool half_ok;  // may be bf16 or fp16 (q, k, v, g, beta, o); states stay fp32
  bool output;
  bool rows;
  const fw_tensor* in_place_of;
  int64_t bytes;
};

Operand operand(const fw_tensor& t, bool half_ok, bool output, int n, const int64_t (&size)[5],
                bool rows = true, const fw_tensor* in_place_of = nullptr) {
  Operand x{&t, {n, {}, {}}, half_ok, output, rows, in_place_of, 0};
  for (int i = 0; i < n; ++i) {
    x.layout.size[i] = size[i];
    x.layout.stride[i] = t.stride[i];
  }
  return x;
}

bool is_half(int32_t dtype) { return dtype == FW_DTYPE_F16 || dtype == FW_DTYPE_BF16; }

// A dtype the operand may have; strides >= 0, a row's 1, the span
// addressable; an output's elements distinct.
fw_status check_layout(Operand* x) {
  if (x->t->dtype != FW_DTYPE_F32 && !(x->half_ok && is_half(x->t->dtype)))
    return FW_ERR_UNSUPPORTED;
  const int64_t element = x->t->dtype == FW_DTYPE_F32 ? 4 : 2;
  const Layout& l = x->layout;
  for (int i = 0; i < l.n; ++i)
    if (l.stride[i] < 0) return FW_ERR_INVALID_STRIDE;
  if (x->rows && l.size[l.n - 1] > 1 && l.stride[l.n - 1] != 1) return FW_ERR_INVALID_STRIDE;
  int64_t span = 0;
  if (!layout_span(l, element, &span)) return FW_ERR_INVALID_DIMENSION;
  x->bytes = span * element;
  if (x->output && !layout_is_injective(l)) return FW_ERR_INVALID_STRIDE;
  return FW_OK;
}

fw_status check_cu_seqlens(const fw_scan_args& a) {
  if (a.batch != 1 || a.num_seqs < 1) return FW_ERR_INVALID_CU_SEQLENS;
  const int64_t* cu = a.cu_seqlens;
  if (cu[0] != 0 || cu[a.num_seqs] != a.seq_len) return FW_ERR_INVALID_CU_SEQLENS;
  for (int64_t i = 0; i < a.num_seqs; ++i)
    if (cu[i + 1] < cu[i]) return FW_ERR_INVALID_CU_SEQLENS;
  return FW_OK;
}

struct Range {
  const void* p;
  int64_t n;
};

bool in_range(int64_t x, int64_t lo, int64_t hi) { return x >= lo && x <= hi; }

StateView state_view(const fw_tensor& t, bool with_step) {
  const int64_t* s = t.stride;
  if (with_step) return {static_cast<float*>(t.data), s[0], s[1], s[2], s[3]};
  return {static_cast<float*>(t.data), s[0], 0, s[1], s[2]};
}

// The same elements of the same buffer: a state updated in place.
bool same_tensor(const fw_tensor& a, const fw_tensor& b, int n) {
  if (a.data != b.data) return false;
  for (int i = 0; i < n; ++i)
    if (a.stride[i] != b.stride[i]) return false;
  return true;
}

fw_status check_scalars(const fw_scan_args& a, const OpDesc& op) {
  if (a.reserved != 0) return FW_ERR_INVALID_ARGUMENT;
  if (a.mode != FW_MODE_AUTO && a.mode != FW_MODE_CHUNKED && a.mode != FW_MODE_RECURRENT)
    return FW_ERR_UNSUPPORTED;
  if ((a.flags & ~kKnownFlags) != 0 || (a.flags & ~op.flags) != 0) return FW_ERR_INVALID_FLAGS;
  if (a.backend != FW_BACKEND_AUTO && !dispatch::is_supported(static_cast<fw_backend>(a.backend)))
    return FW_ERR_BACKEND_UNAVAILABLE;
  if (!std::isfinite(a.scale) || !std::isfinite(a.eps) || a.eps < 0.0f)
    return FW_ERR_INVALID_ARGUMENT;
  return FW_OK;
}

// The backward's own rules: what it does not take yet, and a gradient only
// for an input that is given.
fw_status check_backward_presence(const fw_scan_args& a) {
  if (!a.grad_o.data) return FW_ERR_NULL_POINTER;
  if (a.state_indices || a.A_log.data) return FW_ERR_UNSUPPORTED;
  if ((a.grad_g.data && !a.g.data) || (a.grad_beta.data && !a.beta.data) ||
      (a.grad_initial_state.data && !a.initial_state.data))
    return FW_ERR_INVALID_ARGUMENT;
  return FW_OK;
}

// Which operands are given: the required ones, g and beta exactly when the
// op reads them, norms only with FW_FLAG_NORMALIZE (dtypes: check_layout).
fw_status check_presence(const fw_scan_args& a, const OpDesc& op, Direction dir) {
  const bool backward = dir == Direction::kBackward;
  if (!a.q.data || !a.k.data || !a.v.data || (!backward && !a.o.data)) return FW_ERR_NULL_POINTER;
  const bool gated = op.gate != FW_GATE_NONE;
  if (gated && !a.g.data) return FW_ERR_NULL_POINTER;
  if (op.beta && !a.beta.data) return FW_ERR_NULL_POINTER;
  if (!gated && a.g.data) return FW_ERR_INVALID_ARGUMENT;
  // The gate projection: A_log on gated ops only, dt_bias only beside it.
  if ((!gated && a.A_log.data) || (a.dt_bias.data && !a.A_log.data)) return FW_ERR_INVALID_ARGUMENT;
  if (!op.beta && a.beta.data) return FW_ERR_INVALID_ARGUMENT;
  const bool normalize = (a.flags & FW_FLAG_NORMALIZE) != 0;
  if (!normalize && (a.initial_norm.data || (!backward && a.final_norm.data)))
    return FW_ERR_INVALID_ARGUMENT;
  if (!a.state_indices && a.num_state_slots != 0) return FW_ERR_INVALID_ARGUMENT;
  const fw_tensor* all[] = {&a.q,
                            &a.k,
                            &a.v,
                            &a.g,
                            &a.beta,
                            &a.o,
                            &a.initial_state,
                            &a.final_state,
                            &a.initial_norm,
                            &a.final_norm,
                            &a.intermediate_states,
                            &a.A_log,
                            &a.dt_bias,
                            &a.grad_o,
                            &a.grad_final_state,
                            &a.grad_q,
                            &a.grad_k,
                            &a.grad_v,
                            &a.grad_g,
                            &a.grad_beta,
                            &a.grad_initial_state};
  for (const fw_tensor* t : all)
    if (t->reserved != 0) return FW_ERR_INVALID_ARGUMENT;
  return backward ? check_backward_presence(a) : FW_OK;
}

fw_status check_dims(const fw_scan_args& a) {
  const int64_t B = a.batch, T = a.seq_len, H = a.num_heads, HV = a.num_value_heads;
  const int64_t K = a.head_dim_k, V = a.head_dim_v;
  if (B < 1 || T < 1 || H < 1 || HV < 1 || K < 1 || V < 1) return FW_ERR_INVALID_DIMENSION;
  if (K > FW_MAX_HEAD_DIM || V > FW_MAX_HEAD_DIM) return FW_ERR_INVALID_DIMENSION;
  if (HV % H != 0) return FW_ERR_HEAD_MISMATCH;
  if (!in_range(a.chunk_size, FW_CHUNK_SIZE_AUTO, FW_MAX_CHUNK_SIZE))
    return FW_ERR_INVALID_CHUNK_SIZE;
  if (a.state_indices && a.num_state_slots < 1) return FW_ERR_INVALID_DIMENSION;
  return FW_OK;
}

// S of the intermediate states: the longest sequence's tokens or chunks.
int64_t intermediate_steps(const fw_scan_args& a, int64_t N, int64_t chunk) {
  int64_t longest = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t len = a.cu_seqlens ? a.cu_seqlens[n + 1] - a.cu_seqlens[n] : a.seq_len;
    if (len > longest) longest = len;
  }
  return a.mode == FW_MODE_RECURRENT ? longest : (longest + chunk - 1) / chunk;
}

}  // namespace

fw_status plan_scan(int64_t op_id, const fw_scan_args* caller, ScanPlan* plan, Direction dir) {
  const bool backward = dir == Direction::kBackward;
  fw_scan_args a;
  fw_status s = read_struct(caller, &a);
  if (s != FW_OK) return s;
  const OpDesc* op = find_op(op_id);
  if (!op) return FW_ERR_UNSUPPORTED;
  if ((s = check_scalars(a, *op)) != FW_OK) return s;
  if ((s = check_presence(a, *op, dir)) != FW_OK) return s;
  if ((s = check_dims(a)) != FW_OK) return s;
  if (a.cu_seqlens && (s = check_cu_seqlens(a)) != FW_OK) return s;

  const int64_t B = a.batch, T = a.seq_len, H = a.num_heads, HV = a.num_value_heads;
  const int64_t K = a.head_dim_k, V = a.head_dim_v;
  const int64_t N = a.cu_seqlens ? a.num_seqs : B;
  const bool v_first = (a.flags & FW_FLAG_STATE_V_FIRST) != 0;
  const bool by_sequence = a.state_indices && (a.flags & FW_FLAG_FINAL_STATE_BY_SEQUENCE);
  const int64_t P = a.state_indices ? a.num_state_slots : N;
  const int64_t final_slots = by_sequence ? N : P;
  const int64_t rows = v_first ? V : K, cols = v_first ? K : V;
  const int64_t chunk = a.chunk_size != FW_CHUNK_SIZE_AUTO ? a.chunk_size : auto_chunk_size(*op, K);
  // AUTO picks the form per sequence, so a step would mean a token for some
  // sequences and a chunk for others.
  // The backward reads the chunked forward's intermediate states (the
  // chunk boundaries' states), so only with FW_MODE_CHUNKED.
  if (a.intermediate_states.data && (backward ? a.mode != FW_MODE_CHUNKED : a.mode == FW_MODE_AUTO))
    return FW_ERR_INVALID_ARGUMENT;
  const int64_t steps = a.mode == FW_MODE_AUTO ? 0 : intermediate_steps(a, N, chunk);

  // Every operand the call reads or writes, with its dims; the checks below
  // loop over them. The backward reads the forward's inputs and writes a
  // gradient of each (laid out alike); it ignores the forward's outputs.
  const bool channel = op->gate == FW_GATE_CHANNEL;
  auto gate_like = [&](const fw_tensor& t, bool output) {
    return channel ? operand(t, true, output, 4, {B, T, HV, K})
                   : operand(t, true, output, 3, {B, T, HV}, /*rows=*/false);
  };
  constexpr int kMostOperands = 20;
  Operand ops[kMostOperands];
  int count = 0;
  for (const Operand& x : {
           operand(a.q, true, false, 4, {B, T, H, K}),
           operand(a.k, true, false, 4, {B, T, H, K}),
           operand(a.v, true, false, 4, {B, T, HV, V}),
           gate_like(a.g, false),
           operand(a.beta, true, false, 3, {B, T, HV}, /*rows=*/false),
           operand(a.initial_state, false, false, 4, {P, HV, rows, cols}),
           operand(a.initial_norm, false, false, 3, {P, HV, K}),
       })
    ops[count++] = x;
  if (!backward) {
    for (const Operand& x : {
             operand(a.o, true, true, 4, {B, T, HV, V}),
             // Final states by sequence cannot share the pool they are read from.
             operand(a.final_state, false, true, 4, {final_slots, HV, rows, cols}, true,
                     by_sequence ? nullptr : &a.initial_state),
             operand(a.final_norm, false, true, 3, {final_slots, HV, K}, true,
                     by_sequence ? nullptr : &a.initial_norm),
             operand(a.intermediate_states, false, true, 5,
                     {N, steps > 0 ? steps : 1, HV, rows, cols}),
             operand(a.A_log, false, false, 1, {HV}, /*rows=*/false),
             channel ? operand(a.dt_bias, false, false, 2, {HV, K})
                     : operand(a.dt_bias, false, false, 1, {HV}, /*rows=*/false),
         })
      ops[count++] = x;
  } else {
    for (const Operand& x : {
             operand(a.grad_o, true, false, 4, {B, T, HV, V}),
             operand(a.grad_final_state, false, false, 4, {N, HV, rows, cols}),
             operand(a.intermediate_states, false, false, 5,
                     {N, steps > 0 ? steps : 1, HV, rows, cols}),
             operand(a.grad_q, true, true, 4, {B, T, H, K}),
             operand(a.grad_k, true, true, 4, {B, T, H, K}),
             operand(a.grad_v, true, true, 4, {B, T, HV, V}),
             gate_like(a.grad_g, true),
             operand(a.grad_beta, true, true, 3, {B, T, HV}, /*rows=*/false),
             operand(a.grad_initial_state, false, true, 4, {N, HV, rows, cols}),
         })
      ops[count++] = x;
  }
  Operand* const end = ops + count;
  for (Operand* x = ops; x != end; ++x) {
    if (!x->t->data) continue;
    if ((s = check_layout(x)) != FW_OK) return s;
  }
  if (a.state_indices && (s = check_state_indices(a.state_indices, N, P)) != FW_OK) return s;

  // Outputs overlap no other operand, nor the index arrays; a state updated
  // in place (final == initial, same strides, same slots) is the exception.
  const Range extra[] = {{a.cu_seqlens, a.cu_seqlens ? (N + 1) * 8 : 0},
                         {a.state_indices, a.state_indices ? N * 4 : 0}};
  for (const Operand* out_p = ops; out_p != end; ++out_p) {
    const Operand& out = *out_p;
    if (!out.output || !out.t->data) continue;
    for (const Operand* x_p = ops; x_p != end; ++x_p) {
      const Operand& x = *x_p;
      if (&x == &out || !x.t->data || (x.output && &x < &out)) continue;
      const bool in_place = x.t == out.in_place_of && same_tensor(*out.t, *x.t, out.layout.n);
      if (!in_place && ranges_overlap(out.t->data, out.bytes, x.t->data, x.bytes))
        return FW_ERR_ALIASING;
    }
    for (const Range& r : extra)
      if (r.p && ranges_overlap(out.t->data, out.bytes, r.p, r.n)) return FW_ERR_ALIASING;
  }

  ScanPlan& p = *plan;
  p.op = op;
  p.kernels = dispatch::table_for_call(a.backend);
  p.mode = a.mode;
  p.B = B;
  p.T = T;
  p.H = H;
  p.HV = HV;
  p.K = K;
  p.V = V;
  p.N = N;
  p.chunk = chunk;
  p.scale = a.scale != 0.0f ? a.scale : 1.0f / std::sqrt(static_cast<float>(K));
  p.eps = a.eps;
  p.qk_l2norm = (a.flags & FW_FLAG_QK_L2NORM) != 0;
  p.normalize = (a.flags & FW_FLAG_NORMALIZE) != 0;
  p.v_first = v_first;
  auto input = [](const fw_tensor& t) {
    return InputView{
        t.data, {t.stride[0], t.stride[1], t.stride[2], t.stride[3]}, static_cast<Dtype>(t.dtype)};
  };
  p.q = input(a.q);
  p.k = input(a.k);
  p.v = input(a.v);
  p.g = input(a.g);
  p.g_channel = op->gate == FW_GATE_CHANNEL;
  p.A_log = input(a.A_log);
  p.dt_bias = input(a.dt_bias);
  p.beta_sigmoid = (a.flags & FW_FLAG_BETA_SIGMOID) != 0;
  p.beta_scale = (a.flags & FW_FLAG_NEG_EIGVAL) != 0 ? 2.0f : 1.0f;
  p.beta = input(a.beta);
  p.o = a.o.data;
  for (int i = 0; i < 4; ++i) p.o_stride[i] = a.o.stride[i];
  p.o_dt = static_cast<Dtype>(a.o.dtype);
  p.cu_seqlens = a.cu_seqlens;
  p.slots = a.state_indices;
  p.final_by_sequence = by_sequence;
  p.initial_state = state_view(a.initial_state, false);
  p.final_state = state_view(a.final_state, false);
  p.initial_norm = state_view(a.initial_norm, false);
  p.final_norm = state_view(a.final_norm, false);
  p.intermediate = state_view(a.intermediate_states, true);
  p.intermediate_steps = steps;
  const int64_t tokens = a.cu_seqlens ? a.cu_seqlens[N] : B * T;
  p.stream_o = double(tokens) * HV * V * sizeof(float) >= kStreamOutputBytes;  // fp32 only
  p.ask_state_rows = dispatch::cpu_features().ask_state_rows;
  p.row_sweeps = dispatch::cpu_features().row_sweeps;
  if (backward) {
    auto output = [](const fw_tensor& t) {
      return OutputView{t.data,
                        {t.stride[0], t.stride[1], t.stride[2], t.stride[3]},
                        static_cast<Dtype>(t.dtype)};
    };
    p.grad.o = input(a.grad_o);
    p.grad.final_state = state_view(a.grad_final_state, false);
    p.grad.q = output(a.grad_q);
    p.grad.k = output(a.grad_k);
    p.grad.v = output(a.grad_v);
    p.grad.g = output(a.grad_g);
    p.grad.beta = output(a.grad_beta);
    p.grad.initial_state = state_view(a.grad_initial_state, false);
  }
  return FW_OK;
}

}  // namespace fw
