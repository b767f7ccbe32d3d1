#include "src/scan_task.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace fw {

void copy_rows(float* dst, int64_t dld, const float* src, int64_t sld, int64_t K, int64_t w) {
  if (src == dst) return;
  for (int64_t i = 0; i < K; ++i) {
    if (src)
      std::memcpy(dst + i * dld, src + i * sld, sizeof(float) * w);
    else
      std::memset(dst + i * dld, 0, sizeof(float) * w);
  }
}

namespace {

// The output rows of (batch b, token t0, value head hv) on.
OutRows pair_outputs(const ScanPlan& p, int64_t b, int64_t t0, int64_t hv) {
  const OutRows all{p.o, p.o_stride[1], p.o_dt};
  return all.from(0, b * p.o_stride[0] + t0 * p.o_stride[1] + hv * p.o_stride[2]);
}

}  // namespace

ScanTask pair_task(const ScanPlan& p, int64_t pair, float* own, bool native_v_first) {
  const int64_t n = pair / p.HV, hv = pair % p.HV, h = hv / (p.HV / p.H);
  const int64_t b = p.batch_of(n), t0 = p.first_token(n);
  ScanTask t;
  t.q = p.q.rows(b, t0, h);
  t.k = p.k.rows(b, t0, h);
  t.v = p.v.rows(b, t0, hv);
  t.g = p.g.rows(b, t0, hv);
  t.beta = p.beta.rows(b, t0, hv);
  t.o = pair_outputs(p, b, t0, hv);
  t.g_channel = p.g_channel;
  t.gate_proj = p.A_log.data != nullptr;
  t.gate_a = t.gate_proj ? -std::exp(*p.A_log.f32(hv * p.A_log.stride[0])) : 0.0f;
  t.dt_bias = p.dt_bias.data ? p.dt_bias.f32(hv * p.dt_bias.stride[0]) : nullptr;
  t.beta_sigmoid = p.beta_sigmoid;
  t.beta_scale = p.beta_scale;
  t.T = p.length(n);
  t.K = p.K;
  t.V = p.V;
  t.chunk = p.chunk;
  t.scale = p.scale;
  t.eps = p.eps;
  t.qk_l2norm = p.qk_l2norm;
  t.normalize = p.normalize;
  t.stream_o = p.stream_o;
  t.ask_state_rows = p.ask_state_rows;
  t.row_sweeps = p.row_sweeps;
  t.ws = nullptr;
  t.S_copy = nullptr;
  const bool padding = p.is_padding(n);
  t.S_v_first = p.v_first && native_v_first;
  if (p.final_state.data && (!p.v_first || native_v_first) && !padding) {
    t.S = p.final_state.at(p.write_slot(n), hv);
    t.S_ld = p.final_state.row;
  } else {
    t.S = own;
    t.S_ld = t.S_v_first ? p.K : p.V;
  }
  t.z = p.final_norm.data && !padding ? p.final_norm.at(p.write_slot(n), hv) : own + p.K * p.V;
  return t;
}

void load_pair_state(const ScanPlan& p, const ScanTask& t, int64_t pair) {
  const int64_t n = pair / p.HV, hv = pair % p.HV, K = p.K, V = p.V;
  const float* S0 = p.initial_state.data ? p.initial_state.at(p.read_slot(n), hv) : nullptr;
  if (t.S_v_first)
    copy_rows(t.S, t.S_ld, S0, p.initial_state.row, V, K);
  else if (p.v_first && S0)
    p.kernels->transpose(V, K, S0, p.initial_state.row, t.S, t.S_ld);
  else
    copy_rows(t.S, t.S_ld, S0, p.initial_state.row, K, V);
  if (p.normalize) {
    const float* z0 = p.initial_norm.data ? p.initial_norm.at(p.read_slot(n), hv) : nullptr;
    copy_rows(t.z, K, z0, K, 1, K);
  }
}

namespace {

// dst (a caller's state block in the plan's layout, row stride dld) =
// columns [v0, v0 + t.V) of the pair's working state t.S; stream: past the
// caches (the kernels' stream_rows) where no transpose lies between.
void copy_state_out(const ScanPlan& p, const ScanTask& t, float* dst, int64_t dld, int64_t v0,
                    bool stream = false) {
  if (t.S_v_first) {
    if (stream)
      p.kernels->stream_rows(t.V, p.K, t.S, t.S_ld, dst + v0 * dld, dld);
    else
      copy_rows(dst + v0 * dld, dld, t.S, t.S_ld, t.V, p.K);
  } else if (p.v_first) {
    p.kernels->transpose(p.K, t.V, t.S, t.S_ld, dst + v0 * dld, dld);
  } else if (stream) {
    p.kernels->stream_rows(p.K, t.V, t.S, t.S_ld, dst + v0, dld);
  } else {
    copy_rows(dst + v0, dld, t.S, t.S_ld, p.K, t.V);
  }
}

}  // namespace

void store_pair_state(const ScanPlan& p, const ScanTask& t, int64_t pair) {
  if (!p.final_state.data) return;
  const int64_t n = pair / p.HV, hv = pair % p.HV;
  copy_state_out(p, t, p.final_state.at(p.write_slot(n), hv), p.final_state.row, 0);
}

void write_padding(const ScanPlan& p, int64_t pair) {
  const int64_t n = pair / p.HV, hv = pair % p.HV;
  const OutRows o = pair_outputs(p, p.batch_of(n), p.first_token(n), hv);
  for (int64_t s = 0; s < p.length(n); ++s) std::memset(o.at(s), 0, p.V * dtype_bytes(o.dt));
  if (!p.final_by_sequence) return;
  const int64_t rows = p.v_first ? p.V : p.K, cols = p.v_first ? p.K : p.V;
  if (p.final_state.data)
    copy_rows(p.final_state.at(n, hv), p.final_state.row, nullptr, 0, rows, cols);
  if (p.final_norm.data) copy_rows(p.final_norm.at(n, hv), p.K, nullptr, 0, 1, p.K);
}

float* intermediate_rows(const ScanPlan& p, int64_t pair, int64_t step, int64_t v0,
                         const ScanTask& t) {
  constexpr int64_t kLine = 64 / sizeof(float);
  if (!p.intermediate.data || p.v_first || t.S_v_first || p.intermediate.row != t.S_ld ||
      t.S_ld % kLine != 0 || t.V % kLine != 0)
    return nullptr;
  const int64_t n = pair / p.HV, hv = pair % p.HV;
  float* dst = p.intermediate.at(n, hv, step) + v0;
  return reinterpret_cast<uintptr_t>(dst) % 64 == 0 ? dst : nullptr;
}

void store_intermediate(const ScanPlan& p, int64_t pair, int64_t step, int64_t v0,
                        const ScanTask& t, bool stream) {
  const int64_t n = pair / p.HV, hv = pair % p.HV;
  copy_state_out(p, t, p.intermediate.at(n, hv, step), p.intermediate.row, v0, stream);
}

ScanTask token_range(const ScanTask& t, int64_t s, int64_t n) {
  ScanTask r = t;
  r.q = t.q.from(s);
  r.k = t.k.from(s);
  r.v = t.v.from(s);
  r.g = t.g.from(s);
  r.beta = t.beta.from(s);
  r.o = t.o.from(s);
  r.T = n;
  return r;
}

}  // namespace fw
