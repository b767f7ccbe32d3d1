// libFuzzer target for the public C API's argument handling. It builds
// arbitrary argument structs (sizes, strides, dtypes, flags, modes,
// cu_seqlens, state pools and their indices, V-first and padded states,
// intermediate states, the backward's gradients, missing and aliased
// pointers, shorter and longer struct_size) over buffers sized exactly for what the layout spans,
// so AddressSanitizer sees any read or write outside them. Asserts: no crash; an error leaves every
// output untouched; FW_OK with finite, bounded inputs gives finite outputs.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "fastweights/fastweights.h"

namespace {

constexpr int64_t kCap = int64_t{1} << 18;  // floats per buffer the harness will allocate
constexpr float kSentinel = -777.0f;

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "fuzz check failed: %s (line %d)\n", #cond, __LINE__); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

// Elements a strided layout spans, or -1 when it cannot be allocated (a
// non-positive size, a negative stride, or over the cap): such a tensor gets
// a one-element buffer, which the library must never read past.
int64_t span(int n, const int64_t* size, const int64_t* stride) {
  int64_t last = 0;
  for (int i = 0; i < n; ++i) {
    if (size[i] <= 0 || stride[i] < 0 || stride[i] > kCap || size[i] > kCap) return -1;
    last += (size[i] - 1) * stride[i];
    if (last >= kCap) return -1;
  }
  return last + 1;
}

struct Buffer {
  std::vector<float> data;
  float* ptr() { return data.data(); }
};

Buffer make(int64_t n, FuzzedDataProvider& fdp, float lo, float hi) {
  Buffer b;
  b.data.resize(n > 0 ? n : 1);
  for (float& e : b.data) e = lo + (hi - lo) * (fdp.ConsumeIntegral<uint8_t>() / 255.0f);
  return b;
}

float pick_float(FuzzedDataProvider& fdp, float usual) {
  const float choices[] = {usual,
                           usual,
                           usual,
                           0.0f,
                           -1.0f,
                           0.5f,
                           1e30f,
                           std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity()};
  return choices[fdp.ConsumeIntegralInRange<int>(0, 8)];
}

void strides(FuzzedDataProvider& fdp, int n, const int64_t* size, int64_t* st) {
  const int how = fdp.ConsumeIntegralInRange<int>(0, 3);
  if (how <= 1) {  // contiguous in natural order, or with dims 1 and 2 swapped
    int64_t acc = 1;
    for (int i = n - 1; i >= 0; --i) {
      st[i] = acc;
      acc *= size[i] > 0 ? size[i] : 1;
    }
    if (how == 1 && n >= 3) {
      const int64_t s1 = st[1];
      st[1] = st[2] * (size[2] > 0 ? size[2] : 1) / (size[1] > 0 ? size[1] : 1);
      st[2] = s1;
    }
  } else {
    for (int i = 0; i < n; ++i) st[i] = fdp.ConsumeIntegralInRange<int64_t>(-3, 300);
    if (how == 2 && n == 4) st[3] = 1;
  }
}

bool all_equal(const std::vector<float>& x, float v) {
  for (float e : x)
    if (std::memcmp(&e, &v, sizeof e) != 0) return false;
  return true;
}

bool all_finite(const std::vector<float>& x) {
  for (float e : x)
    if (!std::isfinite(e)) return false;
  return true;
}

// A state tensor [slots, HV, rows, cols]: contiguous, padded (slot and row
// strides past their contents), or arbitrary strides.
void state_strides(FuzzedDataProvider& fdp, const int64_t* size, int64_t* st) {
  strides(fdp, 4, size, st);
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
    st[2] += fdp.ConsumeIntegralInRange<int64_t>(0, 5);
    st[1] = st[2] * (size[2] > 0 ? size[2] : 1) + fdp.ConsumeIntegralInRange<int64_t>(0, 3);
    st[0] = st[1] * (size[1] > 0 ? size[1] : 1) + fdp.ConsumeIntegralInRange<int64_t>(0, 64);
  }
}

// Runs call(struct) on a copy of a exactly struct_size bytes long (a
// shorter, older caller's or a longer, newer caller's), so that ASan sees
// any read past what the caller said it filled; a longer one sometimes has
// a non-zero byte past the library's struct (a newer field in use), which
// must be refused.
template <class Args, class Call>
fw_status call_sized(FuzzedDataProvider& fdp, const Args& a, Call&& call) {
  const size_t n = a.struct_size;
  if (n == sizeof a || n > 4096) return call(&a);  // (over 4096: refused unread)
  // (struct_size itself is always there, whatever it says.)
  std::vector<unsigned char> bytes(n > sizeof(size_t) ? n : sizeof(size_t), 0);
  std::memcpy(bytes.data(), &a, bytes.size() < sizeof a ? bytes.size() : sizeof a);
  bool newer_field = false;
  if (n > sizeof a && fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
    bytes[fdp.ConsumeIntegralInRange<size_t>(sizeof a, n - 1)] = 1;
    newer_field = true;
  }
  const fw_status st = call(reinterpret_cast<const Args*>(bytes.data()));
  if (newer_field) FUZZ_CHECK(st == FW_ERR_UNSUPPORTED);
  return st;
}

void fuzz_scan(FuzzedDataProvider& fdp, int op) {
  fw_op_info info;
  info.struct_size = sizeof info;
  FUZZ_CHECK(fw_op_get_info(static_cast<fw_op>(op), &info) == FW_OK);
  fw_scan_args a;
  fw_scan_args_init(&a);
  // Older callers' structs end before the pool fields or before the
  // intermediate states (and then use neither); newer ones are longer;
  // a few sizes are nonsense.
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) {
    const size_t sizes[] = {offsetof(fw_scan_args, state_indices),
                            offsetof(fw_scan_args, intermediate_states),
                            offsetof(fw_scan_args, A_log),
                            0,
                            4,
                            sizeof a + fdp.ConsumeIntegralInRange<size_t>(1, 64),
                            100000};
    a.struct_size = sizes[fdp.ConsumeIntegralInRange<int>(0, 6)];
  }
  const bool has_pool = a.struct_size > offsetof(fw_scan_args, state_indices);
  const bool has_intermediate = a.struct_size > offsetof(fw_scan_args, intermediate_states);
  const bool has_gate_projection = a.struct_size > offsetof(fw_scan_args, A_log);
  a.mode = fdp.ConsumeIntegralInRange<int32_t>(-1, 3);
  a.flags = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint32_t>(0, 63)
                              : fdp.ConsumeIntegral<uint32_t>();
  a.backend = fdp.ConsumeIntegralInRange<int32_t>(-1, 5);
  if (fdp.ConsumeIntegralInRange<int>(0, 31) == 0) a.reserved = 1;
  a.batch = fdp.ConsumeIntegralInRange<int64_t>(-1, 3);
  a.seq_len = fdp.ConsumeIntegralInRange<int64_t>(-1, 40);
  a.num_heads = fdp.ConsumeIntegralInRange<int64_t>(-1, 3);
  a.num_value_heads = fdp.ConsumeIntegralInRange<int64_t>(-1, 6);
  a.head_dim_k = fdp.ConsumeIntegralInRange<int64_t>(-1, 33);
  a.head_dim_v = fdp.ConsumeIntegralInRange<int64_t>(-1, 33);
  a.chunk_size = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int64_t>(1, 20)
                                   : fdp.ConsumeIntegralInRange<int64_t>(-2, 1100);
  a.scale = pick_float(fdp, 0.0f);
  a.eps = pick_float(fdp, 1e-6f);

  const int64_t B = a.batch, T = a.seq_len, H = a.num_heads, HV = a.num_value_heads;
  const int64_t K = a.head_dim_k, V = a.head_dim_v;
  const int64_t qsz[4] = {B, T, H, K}, vsz[4] = {B, T, HV, V}, gsz[4] = {B, T, HV, K};
  // g [B, T, HV], or [B, T, HV, K] for a gate per key channel.
  const int g_dims = info.gate == FW_GATE_CHANNEL ? 4 : 3;
  strides(fdp, 4, qsz, a.q.stride);
  strides(fdp, 4, qsz, a.k.stride);
  strides(fdp, 4, vsz, a.v.stride);
  strides(fdp, 4, vsz, a.o.stride);
  strides(fdp, g_dims, gsz, a.g.stride);
  strides(fdp, 3, gsz, a.beta.stride);
  fw_tensor* tensors[] = {&a.q, &a.k, &a.v, &a.g, &a.beta, &a.o};
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0)  // half operands, each its own
    for (fw_tensor* t : tensors) t->dtype = fdp.ConsumeIntegralInRange<int32_t>(0, 2);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    tensors[fdp.ConsumeIntegralInRange<int>(0, 5)]->dtype =
        fdp.ConsumeIntegralInRange<int32_t>(-1, 3);
  if (fdp.ConsumeIntegralInRange<int>(0, 31) == 0)
    tensors[fdp.ConsumeIntegralInRange<int>(0, 5)]->reserved = 1;

  // Bounded inputs: |k| <= 1 (so the delta rule is a contraction), q and k
  // non-negative when normalising (q . z stays >= 0), g in [-5, 0] ([-20, 0]
  // per key channel: Kimi's gates and stronger).
  const bool normalize = a.flags & FW_FLAG_NORMALIZE;
  const float klim = K > 0 ? 1.0f / std::sqrt(float(K)) : 1.0f;
  Buffer q = make(span(4, qsz, a.q.stride), fdp, normalize ? 0.0f : -1.0f, 1.0f);
  Buffer k = make(span(4, qsz, a.k.stride), fdp, normalize ? 0.0f : -klim, klim);
  Buffer v = make(span(4, vsz, a.v.stride), fdp, -1.0f, 1.0f);
  Buffer g = make(span(g_dims, gsz, a.g.stride), fdp, g_dims == 4 ? -20.0f : -5.0f, 0.0f);
  Buffer beta = make(span(3, gsz, a.beta.stride), fdp, 0.0f, 1.0f);
  Buffer o;
  o.data.assign(span(4, vsz, a.o.stride) > 0 ? span(4, vsz, a.o.stride) : 1, kSentinel);

  std::vector<int64_t> cu;
  int64_t N = B;
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
    a.num_seqs = fdp.ConsumeIntegralInRange<int64_t>(-1, 4);
    cu.resize(a.num_seqs >= 0 ? a.num_seqs + 1 : 1);
    const bool sorted = fdp.ConsumeBool();
    for (size_t i = 0; i < cu.size(); ++i)
      cu[i] = sorted ? (T * int64_t(i)) / int64_t(cu.size() > 1 ? cu.size() - 1 : 1)
                     : fdp.ConsumeIntegralInRange<int64_t>(-2, T + 2);
    a.cu_seqlens = cu.data();
    N = a.num_seqs;
  }

  // State pool: P slots, an index per sequence (padding, repeats and out of
  // range included), V-first or K-first, padded strides.
  std::vector<int32_t> slots;
  int64_t P = N;
  if (has_pool && fdp.ConsumeIntegralInRange<int>(0, 2) == 0) {
    P = fdp.ConsumeIntegralInRange<int64_t>(-1, 6);
    slots.resize(N > 0 ? N : 1);
    for (int32_t& x : slots) x = fdp.ConsumeIntegralInRange<int32_t>(-2, 6);
    a.state_indices = slots.data();
    a.num_state_slots = P;
  } else if (has_pool && fdp.ConsumeIntegralInRange<int>(0, 31) == 0) {
    a.num_state_slots = 3;  // without indices: refused
  }
  const bool v_first = a.flags & FW_FLAG_STATE_V_FIRST;
  const bool by_sequence = a.state_indices && (a.flags & FW_FLAG_FINAL_STATE_BY_SEQUENCE);
  const int64_t rows = v_first ? V : K, cols = v_first ? K : V;
  const int64_t s0sz[4] = {P, HV, rows, cols}, s1sz[4] = {by_sequence ? N : P, HV, rows, cols};
  const int64_t z0sz[3] = {P, HV, K}, z1sz[3] = {by_sequence ? N : P, HV, K};
  state_strides(fdp, s0sz, a.initial_state.stride);
  const bool in_place = fdp.ConsumeIntegralInRange<int>(0, 2) == 0;
  if (in_place)
    std::memcpy(a.final_state.stride, a.initial_state.stride, sizeof a.final_state.stride);
  else
    state_strides(fdp, s1sz, a.final_state.stride);
  strides(fdp, 3, z0sz, a.initial_norm.stride);
  strides(fdp, 3, z1sz, a.final_norm.stride);
  Buffer s0 = make(span(4, s0sz, a.initial_state.stride), fdp, -0.5f, 0.5f);
  Buffer s1;
  s1.data.assign(span(4, s1sz, a.final_state.stride) > 0 ? span(4, s1sz, a.final_state.stride) : 1,
                 kSentinel);
  Buffer z0 = make(span(3, z0sz, a.initial_norm.stride), fdp, 0.0f, 1.0f);
  Buffer z1;
  z1.data.assign(span(3, z1sz, a.final_norm.stride) > 0 ? span(3, z1sz, a.final_norm.stride) : 1,
                 kSentinel);

  const bool gated = info.gate != FW_GATE_NONE, delta = info.has_beta != 0;
  a.q.data = fdp.ConsumeIntegralInRange<int>(0, 30) ? q.ptr() : nullptr;
  a.k.data = k.ptr();
  a.v.data = v.ptr();
  a.o.data = o.ptr();
  a.g.data = (gated ^ (fdp.ConsumeIntegralInRange<int>(0, 30) == 0)) ? g.ptr() : nullptr;
  a.beta.data = (delta ^ (fdp.ConsumeIntegralInRange<int>(0, 30) == 0)) ? beta.ptr() : nullptr;
  if (fdp.ConsumeBool()) a.initial_state.data = s0.ptr();
  // In place only where the final state has the pool's slots: by sequence
  // it spans N of them, which s0 (P slots) need not hold.
  if (fdp.ConsumeBool()) a.final_state.data = in_place && !by_sequence ? s0.ptr() : s1.ptr();
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) a.initial_norm.data = z0.ptr();
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) a.final_norm.data = z1.ptr();
  // Intermediate states [N, S, HV, rows, cols], S as fw_intermediate_state_count
  // says (the caller's side of the contract: the library cannot see the
  // buffer's end), or one more.
  Buffer inter;
  inter.data.assign(1, kSentinel);
  int64_t steps = 0;
  fw_scan_args whole = a;  // (the query reads a whole struct)
  whole.struct_size = sizeof whole;
  if (has_intermediate && fdp.ConsumeIntegralInRange<int>(0, 3) == 0 &&
      fw_intermediate_state_count(static_cast<fw_op>(op), &whole, &steps) == FW_OK) {
    steps += fdp.ConsumeIntegralInRange<int64_t>(0, 1);
    const int64_t isz[5] = {N, steps, HV, rows, cols};
    strides(fdp, 4, isz + 1, a.intermediate_states.stride + 1);
    a.intermediate_states.stride[0] = a.intermediate_states.stride[1] * (steps > 0 ? steps : 1);
    const int64_t n = span(5, isz, a.intermediate_states.stride);
    if (n > 0) {
      inter.data.assign(n, kSentinel);
      a.intermediate_states.data = inter.ptr();
    }
  }

  // fla's gate projection: A_log [HV] and dt_bias [HV] or [HV, K], on any
  // op (refused where the op has no gate), either alone.
  Buffer A_log, dt_bias;
  if (has_gate_projection && fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
    const int64_t hsz[2] = {HV, K};
    const int b_dims = info.gate == FW_GATE_CHANNEL ? 2 : 1;
    strides(fdp, 1, hsz, a.A_log.stride);
    strides(fdp, b_dims, hsz, a.dt_bias.stride);
    A_log = make(span(1, hsz, a.A_log.stride), fdp, -2.0f, 2.0f);
    dt_bias = make(span(b_dims, hsz, a.dt_bias.stride), fdp, -3.0f, 3.0f);
    if (fdp.ConsumeIntegralInRange<int>(0, 7)) a.A_log.data = A_log.ptr();
    if (fdp.ConsumeBool()) a.dt_bias.data = dt_bias.ptr();
  }

  // One call in three is the backward of these arguments: grad_o and
  // grad_final_state in; a gradient of each input out, laid out on its own,
  // each sometimes absent or given for an absent input, sometimes half.
  const bool backward = fdp.ConsumeIntegralInRange<int>(0, 2) == 0;
  const int64_t dssz[4] = {N, HV, rows, cols};
  struct GradOut {
    fw_tensor* t;
    int n;
    const int64_t* size;
    Buffer buf;
  };
  GradOut grads[] = {{&a.grad_q, 4, qsz, {}},    {&a.grad_k, 4, qsz, {}},
                     {&a.grad_v, 4, vsz, {}},    {&a.grad_g, g_dims, gsz, {}},
                     {&a.grad_beta, 3, gsz, {}}, {&a.grad_initial_state, 4, dssz, {}}};
  Buffer grad_o, grad_final;
  if (backward) {
    strides(fdp, 4, vsz, a.grad_o.stride);
    state_strides(fdp, dssz, a.grad_final_state.stride);
    grad_o = make(span(4, vsz, a.grad_o.stride), fdp, -1.0f, 1.0f);
    grad_final = make(span(4, dssz, a.grad_final_state.stride), fdp, -1.0f, 1.0f);
    a.grad_o.data = fdp.ConsumeIntegralInRange<int>(0, 30) ? grad_o.ptr() : nullptr;
    if (fdp.ConsumeBool()) a.grad_final_state.data = grad_final.ptr();
    const bool half = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
    if (half) a.grad_o.dtype = fdp.ConsumeIntegralInRange<int32_t>(0, 2);
    for (GradOut& d : grads) {
      if (d.t == &a.grad_initial_state)
        state_strides(fdp, d.size, d.t->stride);
      else
        strides(fdp, d.n, d.size, d.t->stride);
      const int64_t n = span(d.n, d.size, d.t->stride);
      d.buf.data.assign(n > 0 ? n : 1, kSentinel);
      if (half && d.t != &a.grad_initial_state)
        d.t->dtype = fdp.ConsumeIntegralInRange<int32_t>(0, 2);
      if (fdp.ConsumeIntegralInRange<int>(0, 5)) d.t->data = d.buf.ptr();
    }
  }

  const bool alias = fdp.ConsumeIntegralInRange<int>(0, 20) == 0;
  if (alias) {  // must be refused
    if (backward)
      a.grad_v.data = v.ptr();
    else
      a.o.data = v.ptr();
  }
  const std::vector<float> v_before = v.data, s0_before = s0.data;

  const fw_status st = call_sized(fdp, a, [op, backward](const fw_scan_args* x) {
    return backward ? fw_scan_backward(static_cast<fw_op>(op), x)
                    : fw_scan(static_cast<fw_op>(op), x);
  });
  if (alias) FUZZ_CHECK(st != FW_OK);
  // The backward never writes the forward's outputs.
  if (backward || st != FW_OK) {
    for (const GradOut& d : grads)
      if (st != FW_OK || !d.t->data) FUZZ_CHECK(all_equal(d.buf.data, kSentinel));
  }
  if (backward && st == FW_OK) {
    FUZZ_CHECK(all_equal(o.data, kSentinel));
    FUZZ_CHECK(all_equal(s1.data, kSentinel));
    FUZZ_CHECK(all_equal(inter.data, kSentinel));
    return;
  }
  if (st != FW_OK) {
    FUZZ_CHECK(all_equal(o.data, kSentinel));
    FUZZ_CHECK(all_equal(s1.data, kSentinel));
    FUZZ_CHECK(all_equal(z1.data, kSentinel));
    FUZZ_CHECK(all_equal(inter.data, kSentinel));
    FUZZ_CHECK(std::memcmp(v.data.data(), v_before.data(), v_before.size() * 4) == 0);
    FUZZ_CHECK(std::memcmp(s0.data.data(), s0_before.data(), s0_before.size() * 4) == 0);
    return;
  }
  // Half operands read the bounded floats' bits as halves (any value, NaN
  // included) or write o in halves: no finiteness to check there.
  bool all_f32 = true;
  for (const fw_tensor* t : tensors) all_f32 = all_f32 && t->dtype == FW_DTYPE_F32;
  const bool bounded = std::fabs(a.scale) <= 10.0f && (!normalize || a.eps >= 1e-6f) && all_f32;
  if (bounded && a.struct_size == sizeof a) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < HV; ++h)
          for (int64_t j = 0; j < V; ++j)
            FUZZ_CHECK(std::isfinite(
                o.data[b * a.o.stride[0] + t * a.o.stride[1] + h * a.o.stride[2] + j]));
  }
}

void fuzz_feature_map(FuzzedDataProvider& fdp) {
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  // Older callers' structs end on a field (one that ended inside a pointer
  // would hand the library half a pointer, which no check can catch); newer
  // ones are longer; a few sizes are nonsense.
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) {
    const size_t sizes[] = {offsetof(fw_feature_map_args, nu),
                            offsetof(fw_feature_map_args, x),
                            offsetof(fw_feature_map_args, out),
                            offsetof(fw_feature_map_args, backend),
                            offsetof(fw_feature_map_args, num_features),
                            offsetof(fw_feature_map_args, seed),
                            offsetof(fw_feature_map_args, dy),  // before the backward
                            0,
                            4,
                            sizeof a + fdp.ConsumeIntegralInRange<size_t>(1, 64),
                            100000};
    a.struct_size = sizes[fdp.ConsumeIntegralInRange<int>(0, 10)];
  }
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    (fdp.ConsumeBool() ? a.x : a.out).dtype = fdp.ConsumeIntegralInRange<int32_t>(-1, 3);
  a.kind = fdp.ConsumeIntegralInRange<int32_t>(-1, 7);
  a.backend = fdp.ConsumeIntegralInRange<int32_t>(-1, 5);
  a.rows = fdp.ConsumeIntegralInRange<int64_t>(-1, 6);
  a.dim = fdp.ConsumeIntegralInRange<int64_t>(-1, 20);
  a.nu = fdp.ConsumeIntegralInRange<int32_t>(-1, 8);
  a.num_features = fdp.ConsumeIntegralInRange<int64_t>(-1, 40);
  a.seed = fdp.ConsumeIntegral<uint64_t>();
  a.eps = pick_float(fdp, 1e-6f);
  a.x.stride[0] = fdp.ConsumeIntegralInRange<int64_t>(-2, 30);
  a.x.stride[1] = a.out.stride[1] = 1;
  // The output is sized for the struct as the library will read it (a
  // shorter one's missing tail as zeros).
  auto library_view = [&a] {
    fw_feature_map_args v;
    std::memset(&v, 0, sizeof v);
    std::memcpy(&v, &a, std::min(std::max(a.struct_size, sizeof(size_t)), sizeof a));
    v.struct_size = sizeof v;
    return v;
  };
  int64_t out_dim = 0, sized_dim = 0;
  fw_feature_map_args view = library_view();
  const fw_status dim_status = fw_feature_map_dim(&view, &out_dim);
  call_sized(fdp, a,
             [&](const fw_feature_map_args* x) { return fw_feature_map_dim(x, &sized_dim); });
  a.out.stride[0] = fdp.ConsumeBool() ? out_dim : fdp.ConsumeIntegralInRange<int64_t>(-2, 400);
  view = library_view();
  const int64_t xs[2] = {view.rows, view.dim}, xst[2] = {view.x.stride[0], 1};
  const int64_t os[2] = {view.rows, out_dim}, ost[2] = {view.out.stride[0], 1};
  // The sign (and so the sum-norm denominator) is held away from 0.
  Buffer x = make(span(2, xs, xst), fdp, a.kind == FW_FEATURE_SUM_NORM ? 0.1f : -1.0f, 1.0f);
  Buffer out;
  out.data.assign(dim_status == FW_OK && span(2, os, ost) > 0 ? span(2, os, ost) : 1, kSentinel);
  a.x.data = fdp.ConsumeIntegralInRange<int>(0, 30) ? x.ptr() : nullptr;
  a.out.data = out.ptr();
  const fw_status st =
      call_sized(fdp, a, [](const fw_feature_map_args* x) { return fw_feature_map(x); });
  if (st != FW_OK) {
    FUZZ_CHECK(all_equal(out.data, kSentinel));
    return;
  }
  FUZZ_CHECK(dim_status == FW_OK || a.struct_size != sizeof a);
  const bool f32 = view.x.dtype == FW_DTYPE_F32 && view.out.dtype == FW_DTYPE_F32;
  if (f32 && view.eps >= 1e-6f && std::isfinite(view.eps) && view.eps < 1e20f)
    for (int64_t r = 0; r < view.rows; ++r)
      for (int64_t j = 0; j < out_dim; ++j)
        FUZZ_CHECK(std::isfinite(out.data[r * view.out.stride[0] + j]));

  // The backward on the same rows, out's values as dy, into a dx of its own
  // (sometimes strided wrongly, sometimes on x: refused, nothing written).
  if (!f32 || !fdp.ConsumeBool()) return;
  a.dy = a.out;
  a.dx.stride[0] = fdp.ConsumeBool() ? view.dim : fdp.ConsumeIntegralInRange<int64_t>(-2, 30);
  a.dx.stride[1] = 1;
  const int64_t dxst[2] = {a.dx.stride[0], 1};
  Buffer dx;
  dx.data.assign(span(2, xs, dxst) > 0 ? span(2, xs, dxst) : 1, kSentinel);
  a.dx.data = fdp.ConsumeIntegralInRange<int>(0, 20) ? dx.ptr() : x.ptr();
  const fw_status bst =
      call_sized(fdp, a, [](const fw_feature_map_args* x) { return fw_feature_map_backward(x); });
  if (a.dx.data == x.ptr()) FUZZ_CHECK(bst != FW_OK);
  if (bst != FW_OK) FUZZ_CHECK(all_equal(dx.data, kSentinel));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const int op = fdp.ConsumeIntegralInRange<int>(0, fw_op_count());
  if (op < fw_op_count())
    fuzz_scan(fdp, op);
  else
    fuzz_feature_map(fdp);
  return 0;
}
