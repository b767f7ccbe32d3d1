// libFuzzer target for the public C API's argument handling. It builds
// arbitrary argument structs (sizes, strides, flags, modes, cu_seqlens,
// missing and aliased pointers) over buffers sized exactly for what the
// layout spans, so AddressSanitizer sees any read or write outside them.
// Asserts: no crash; an error leaves every output untouched; FW_OK with
// finite, bounded inputs gives finite outputs.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
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

void fuzz_scan(FuzzedDataProvider& fdp, int op) {
  fw_scan_args a;
  fw_scan_args_init(&a);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    a.struct_size = fdp.ConsumeIntegralInRange<size_t>(0, 600);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    a.dtype = fdp.ConsumeIntegralInRange<int32_t>(-1, 4);
  a.mode = fdp.ConsumeIntegralInRange<int32_t>(-1, 3);
  a.flags = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint32_t>(0, 3)
                              : fdp.ConsumeIntegral<uint32_t>();
  a.backend = fdp.ConsumeIntegralInRange<int32_t>(-1, 5);
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
  const int64_t qsz[4] = {B, T, H, K}, vsz[4] = {B, T, HV, V}, gsz[3] = {B, T, HV};
  strides(fdp, 4, qsz, a.q_stride);
  strides(fdp, 4, qsz, a.k_stride);
  strides(fdp, 4, vsz, a.v_stride);
  strides(fdp, 4, vsz, a.o_stride);
  strides(fdp, 3, gsz, a.g_stride);
  strides(fdp, 3, gsz, a.beta_stride);

  // Bounded inputs: |k| <= 1 (so the delta rule is a contraction), q and k
  // non-negative when normalising (q . z stays >= 0), g in [-5, 0].
  const bool normalize = a.flags & FW_FLAG_NORMALIZE;
  const float klim = K > 0 ? 1.0f / std::sqrt(float(K)) : 1.0f;
  Buffer q = make(span(4, qsz, a.q_stride), fdp, normalize ? 0.0f : -1.0f, 1.0f);
  Buffer k = make(span(4, qsz, a.k_stride), fdp, normalize ? 0.0f : -klim, klim);
  Buffer v = make(span(4, vsz, a.v_stride), fdp, -1.0f, 1.0f);
  Buffer g = make(span(3, gsz, a.g_stride), fdp, -5.0f, 0.0f);
  Buffer beta = make(span(3, gsz, a.beta_stride), fdp, 0.0f, 1.0f);
  Buffer o;
  o.data.assign(span(4, vsz, a.o_stride) > 0 ? span(4, vsz, a.o_stride) : 1, kSentinel);

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
  int64_t state_n = -1;
  if (N > 0 && HV > 0 && K > 0 && V > 0 && N * HV * K * V <= kCap) state_n = N * HV * K * V;
  Buffer s0 = make(state_n, fdp, -0.5f, 0.5f);
  Buffer s1;
  s1.data.assign(state_n > 0 ? state_n : 1, kSentinel);
  const int64_t norm_n = state_n > 0 ? N * HV * K : 1;
  Buffer z0 = make(norm_n, fdp, 0.0f, 1.0f);
  Buffer z1;
  z1.data.assign(norm_n, kSentinel);

  const bool gated = op == 1 || op == 3, delta = op >= 2;
  a.q = fdp.ConsumeIntegralInRange<int>(0, 30) ? q.ptr() : nullptr;
  a.k = k.ptr();
  a.v = v.ptr();
  a.o = o.ptr();
  a.g = (gated ^ (fdp.ConsumeIntegralInRange<int>(0, 30) == 0)) ? g.ptr() : nullptr;
  a.beta = (delta ^ (fdp.ConsumeIntegralInRange<int>(0, 30) == 0)) ? beta.ptr() : nullptr;
  if (fdp.ConsumeBool()) a.initial_state = s0.ptr();
  if (fdp.ConsumeBool())
    a.final_state = fdp.ConsumeIntegralInRange<int>(0, 5) ? s1.ptr() : s0.ptr();
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) a.initial_norm = z0.ptr();
  if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) a.final_norm = z1.ptr();
  const bool alias = fdp.ConsumeIntegralInRange<int>(0, 20) == 0;
  if (alias) a.o = v.ptr();  // must be refused
  const std::vector<float> v_before = v.data, s0_before = s0.data;

  const fw_status st = op == 0   ? fw_linear_attn(&a)
                       : op == 1 ? fw_simple_gla(&a)
                       : op == 2 ? fw_delta_rule(&a)
                                 : fw_gated_delta_rule(&a);
  if (alias) FUZZ_CHECK(st != FW_OK);
  if (st != FW_OK) {
    FUZZ_CHECK(all_equal(o.data, kSentinel));
    FUZZ_CHECK(all_equal(s1.data, kSentinel));
    FUZZ_CHECK(all_equal(z1.data, kSentinel));
    FUZZ_CHECK(std::memcmp(v.data.data(), v_before.data(), v_before.size() * 4) == 0);
    FUZZ_CHECK(std::memcmp(s0.data.data(), s0_before.data(), s0_before.size() * 4) == 0);
    return;
  }
  const bool bounded = std::fabs(a.scale) <= 10.0f && (!normalize || a.eps >= 1e-6f);
  if (bounded) {
    FUZZ_CHECK(all_finite(o.data) || !all_equal(o.data, kSentinel));  // o may hold gaps
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < HV; ++h)
          for (int64_t j = 0; j < V; ++j)
            FUZZ_CHECK(std::isfinite(
                o.data[b * a.o_stride[0] + t * a.o_stride[1] + h * a.o_stride[2] + j]));
    if (a.final_state == s1.ptr()) FUZZ_CHECK(all_finite(s1.data));
  }
}

void fuzz_feature_map(FuzzedDataProvider& fdp) {
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    a.struct_size = fdp.ConsumeIntegralInRange<size_t>(0, 200);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0)
    a.dtype = fdp.ConsumeIntegralInRange<int32_t>(-1, 3);
  a.kind = fdp.ConsumeIntegralInRange<int32_t>(-1, 7);
  a.backend = fdp.ConsumeIntegralInRange<int32_t>(-1, 5);
  a.rows = fdp.ConsumeIntegralInRange<int64_t>(-1, 6);
  a.dim = fdp.ConsumeIntegralInRange<int64_t>(-1, 20);
  a.nu = fdp.ConsumeIntegralInRange<int32_t>(-1, 8);
  a.num_features = fdp.ConsumeIntegralInRange<int64_t>(-1, 40);
  a.seed = fdp.ConsumeIntegral<uint64_t>();
  a.eps = pick_float(fdp, 1e-6f);
  a.x_row_stride = fdp.ConsumeIntegralInRange<int64_t>(-2, 30);
  int64_t out_dim = 0;
  const fw_status dim_status = fw_feature_map_dim(&a, &out_dim);
  a.out_row_stride = fdp.ConsumeBool() ? out_dim : fdp.ConsumeIntegralInRange<int64_t>(-2, 400);
  const int64_t xs[2] = {a.rows, a.dim}, xst[2] = {a.x_row_stride, 1};
  const int64_t os[2] = {a.rows, out_dim}, ost[2] = {a.out_row_stride, 1};
  // The sign (and so the sum-norm denominator) is held away from 0.
  Buffer x = make(span(2, xs, xst), fdp, a.kind == FW_FEATURE_SUM_NORM ? 0.1f : -1.0f, 1.0f);
  Buffer out;
  out.data.assign(dim_status == FW_OK && span(2, os, ost) > 0 ? span(2, os, ost) : 1, kSentinel);
  a.x = fdp.ConsumeIntegralInRange<int>(0, 30) ? x.ptr() : nullptr;
  a.out = out.ptr();
  const fw_status st = fw_feature_map(&a);
  if (st != FW_OK) {
    FUZZ_CHECK(all_equal(out.data, kSentinel));
    return;
  }
  FUZZ_CHECK(dim_status == FW_OK);
  if (a.eps >= 1e-6f && std::isfinite(a.eps) && a.eps < 1e20f)
    for (int64_t r = 0; r < a.rows; ++r)
      for (int64_t j = 0; j < out_dim; ++j)
        FUZZ_CHECK(std::isfinite(out.data[r * a.out_row_stride + j]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const int op = fdp.ConsumeIntegralInRange<int>(0, 4);
  if (op < 4)
    fuzz_scan(fdp, op);
  else
    fuzz_feature_map(fdp);
  return 0;
}
