// A scan problem for the tests: random inputs in a chosen layout, the
// library's argument struct pointing at them, and error measures against
// the double reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "fastweights/fastweights.h"
#include "reference.hpp"

namespace fwtest {

struct Shape {
  Op op = Op::kLinearAttn;
  int64_t B = 1, T = 1, H = 1, HV = 1, K = 1, V = 1;
  bool bhtd = false;  // [B, H, T, D] layout instead of [B, T, H, D]
  bool initial_state = false;
  bool cu_seqlens = false;  // pack B sequences (one of them empty) along T
  uint32_t flags = 0;
  int32_t mode = FW_MODE_AUTO;
  int64_t chunk = FW_DEFAULT_CHUNK_SIZE;
};

// A shape in one line; the other fields keep their defaults.
inline Shape make_shape(Op op, int32_t mode, int64_t B, int64_t T, int64_t H, int64_t HV, int64_t K,
                        int64_t V, bool initial_state = false) {
  Shape s;
  s.op = op;
  s.mode = mode;
  s.B = B;
  s.T = T;
  s.H = H;
  s.HV = HV;
  s.K = K;
  s.V = V;
  s.initial_state = initial_state;
  return s;
}

// The four ops, for tests that loop over them.
constexpr Op kAllOps[] = {Op::kLinearAttn, Op::kSimpleGla, Op::kDeltaRule, Op::kGatedDeltaRule};

inline const char* op_name(Op op) {
  switch (op) {
    case Op::kLinearAttn: return "linear_attn";
    case Op::kSimpleGla: return "simple_gla";
    case Op::kDeltaRule: return "delta_rule";
    case Op::kGatedDeltaRule: return "gated_delta_rule";
  }
  return "?";
}

inline fw_status call_op(Op op, const fw_scan_args* a) {
  switch (op) {
    case Op::kLinearAttn: return fw_linear_attn(a);
    case Op::kSimpleGla: return fw_simple_gla(a);
    case Op::kDeltaRule: return fw_delta_rule(a);
    case Op::kGatedDeltaRule: return fw_gated_delta_rule(a);
  }
  return FW_ERR_INVALID_ARGUMENT;
}

// Short form for test logs (gtest would dump the struct's bytes).
inline void PrintTo(const Shape& s, std::ostream* os) {
  *os << "T=" << s.T << " K=" << s.K << " V=" << s.V;
}

// max |x - ref| / max |ref| over all elements (0 when both vanish).
inline double rel_max_error(const std::vector<double>& ref, const std::vector<float>& x) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num = std::max(num, std::fabs(double(x[i]) - ref[i]));
    den = std::max(den, std::fabs(ref[i]));
  }
  return den > 0 ? num / den : num;
}

class Problem {
 public:
  explicit Problem(const Shape& s, uint32_t seed = 1) : s_(s), rng_(seed) {
    const int64_t B = s.B, T = s.T, H = s.H, HV = s.HV, K = s.K, V = s.V;
    const bool positive = s.flags & FW_FLAG_NORMALIZE;  // q . z must stay away from 0
    fill(q, B * T * H * K, positive ? 0.0f : -1.0f, 1.0f);
    fill(k, B * T * H * K, positive ? 0.0f : -1.0f, 1.0f);
    for (int64_t r = 0; r < B * T * H; ++r) unit_row(&k[r * K], K);  // L2-normalised keys
    fill(v, B * T * HV * V, -1.0f, 1.0f);
    if (is_gated(s.op)) {
      fill(g, B * T * HV, 0.8f, 1.0f);
      for (float& x : g) x = std::log(x);
    }
    if (is_delta(s.op)) fill(beta, B * T * HV, 0.05f, 0.95f);
    o.assign(B * T * HV * V, kSentinel);

    fw_scan_args_init(&args);
    args.batch = B;
    args.seq_len = T;
    args.num_heads = H;
    args.num_value_heads = HV;
    args.head_dim_k = K;
    args.head_dim_v = V;
    args.flags = s.flags;
    args.mode = s.mode;
    args.chunk_size = s.chunk;
    set_strides(args.q_stride, T, H, K);
    set_strides(args.k_stride, T, H, K);
    set_strides(args.v_stride, T, HV, V);
    set_strides(args.o_stride, T, HV, V);
    args.q = q.data();
    args.k = k.data();
    args.v = v.data();
    args.o = o.data();
    if (!g.empty()) {
      args.g = g.data();
      set_strides3(args.g_stride, T, HV);
    }
    if (!beta.empty()) {
      args.beta = beta.data();
      set_strides3(args.beta_stride, T, HV);
    }
    int64_t N = B;
    if (s.cu_seqlens) {
      // B = 1 with three packed sequences, the middle one empty.
      cu = {0, T / 3, T / 3, T};
      args.cu_seqlens = cu.data();
      args.num_seqs = N = 3;
    }
    state_out.assign(N * HV * K * V, kSentinel);
    args.final_state = state_out.data();
    if (s.flags & FW_FLAG_NORMALIZE) {
      norm_out.assign(N * HV * K, kSentinel);
      args.final_norm = norm_out.data();
    }
    if (s.initial_state) {
      fill(state_in, N * HV * K * V, -0.5f, 0.5f);
      args.initial_state = state_in.data();
      if (s.flags & FW_FLAG_NORMALIZE) {
        fill(norm_in, N * HV * K, 0.0f, 1.0f);
        args.initial_norm = norm_in.data();
      }
    }
  }

  fw_status run() { return call_op(s_.op, &args); }
  RefResult reference() const { return reference_scan(s_.op, args); }

  // o gathered from its strided layout into [B, T, HV, V].
  std::vector<float> o_contiguous() const {
    std::vector<float> out;
    for (int64_t b = 0; b < s_.B; ++b)
      for (int64_t t = 0; t < s_.T; ++t)
        for (int64_t h = 0; h < s_.HV; ++h)
          for (int64_t j = 0; j < s_.V; ++j)
            out.push_back(
                o[b * args.o_stride[0] + t * args.o_stride[1] + h * args.o_stride[2] + j]);
    return out;
  }

  static constexpr float kSentinel = -12345.0f;
  std::vector<float> q, k, v, g, beta, o, state_in, state_out, norm_in, norm_out;
  std::vector<int64_t> cu;
  fw_scan_args args;

 private:
  void fill(std::vector<float>& x, int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    x.resize(n);
    for (float& e : x) e = d(rng_);
  }
  static void unit_row(float* x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
    const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    for (int64_t i = 0; i < n; ++i) x[i] = float(x[i] * inv);
    if (s == 0) x[0] = 1.0f;
  }
  // Strides of [B, T, Hx, D] stored either as such or as [B, Hx, T, D].
  void set_strides(int64_t* st, int64_t T, int64_t Hx, int64_t D) const {
    st[0] = T * Hx * D;
    st[1] = s_.bhtd ? D : Hx * D;
    st[2] = s_.bhtd ? T * D : D;
    st[3] = 1;
  }
  void set_strides3(int64_t* st, int64_t T, int64_t Hx) const {
    st[0] = T * Hx;
    st[1] = s_.bhtd ? 1 : Hx;
    st[2] = s_.bhtd ? T : 1;
  }

  Shape s_;
  std::mt19937 rng_;
};

}  // namespace fwtest
