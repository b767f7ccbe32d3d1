// A scan problem for the tests: random inputs in a chosen layout, the
// library's argument struct pointing at them, and error measures against
// the double reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "fastweights/fastweights.h"
#include "reference.hpp"

namespace fwtest {

struct Shape {
  fw_op op = FW_OP_LINEAR_ATTN;
  int64_t B = 1, T = 1, H = 1, HV = 1, K = 1, V = 1;
  bool bhtd = false;  // [B, H, T, D] layout instead of [B, T, H, D]
  bool initial_state = false;
  bool cu_seqlens = false;  // pack B sequences (one of them empty) along T
  uint32_t flags = 0;
  int32_t mode = FW_MODE_AUTO;
  int64_t chunk = 32;
};

// A shape in one line; the other fields keep their defaults.
inline Shape make_shape(fw_op op, int32_t mode, int64_t B, int64_t T, int64_t H, int64_t HV,
                        int64_t K, int64_t V, bool initial_state = false) {
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

// Every op of the library's registry, for tests that loop over them.
inline const std::vector<fw_op>& all_ops() {
  static const std::vector<fw_op> ops = [] {
    std::vector<fw_op> v;
    for (int32_t i = 0; i < fw_op_count(); ++i) v.push_back(static_cast<fw_op>(i));
    return v;
  }();
  return ops;
}

inline const char* op_name(fw_op op) { return op_info(op).name; }

inline fw_status call_op(fw_op op, const fw_scan_args* a) { return fw_scan(op, a); }

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp with the null data() of an empty vector is undefined, even for 0 bytes.
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Sets the thread count for a scope; the default after.
class ThreadScope {
 public:
  explicit ThreadScope(int n) { fw_set_num_threads(n); }
  ~ThreadScope() { fw_set_num_threads(0); }
};

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

// The same, against the library's own floats (another call, another backend).
inline double rel_max_error(const std::vector<float>& ref, const std::vector<float>& x) {
  return rel_max_error(std::vector<double>(ref.begin(), ref.end()), x);
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
    if (is_gated(s.op)) {  // one per token and value head, or per key channel too
      fill(g, B * T * HV * (is_channel_gated(s.op) ? K : 1), 0.8f, 1.0f);
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
    args.eps = 1e-6f;
    set_strides(&args.q, q.data(), T, H, K);
    set_strides(&args.k, k.data(), T, H, K);
    set_strides(&args.v, v.data(), T, HV, V);
    set_strides(&args.o, o.data(), T, HV, V);
    if (!g.empty() && is_channel_gated(s.op))
      set_strides(&args.g, g.data(), T, HV, K);
    else if (!g.empty())
      set_strides3(&args.g, g.data(), T, HV);
    if (!beta.empty()) set_strides3(&args.beta, beta.data(), T, HV);
    int64_t N = B;
    if (s.cu_seqlens) {
      // B = 1 with three packed sequences, the middle one empty.
      cu = {0, T / 3, T / 3, T};
      args.cu_seqlens = cu.data();
      args.num_seqs = N = 3;
    }
    state_out.assign(N * HV * K * V, kSentinel);
    set_state(&args.final_state, state_out.data(), N);
    if (s.flags & FW_FLAG_NORMALIZE) {
      norm_out.assign(N * HV * K, kSentinel);
      set_norm(&args.final_norm, norm_out.data(), N);
    }
    if (s.initial_state) {
      fill(state_in, N * HV * K * V, -0.5f, 0.5f);
      set_state(&args.initial_state, state_in.data(), N);
      if (s.flags & FW_FLAG_NORMALIZE) {
        fill(norm_in, N * HV * K, 0.0f, 1.0f);
        set_norm(&args.initial_norm, norm_in.data(), N);
      }
    }
  }

  // A contiguous [slots, HV, K, V] state tensor (V-first: [slots, HV, V, K]).
  void set_state(fw_tensor* t, float* data, int64_t slots, bool v_first = false) const {
    const int64_t sizes[4] = {slots, s_.HV, v_first ? s_.V : s_.K, v_first ? s_.K : s_.V};
    fw_tensor_contiguous(t, data, 4, sizes);
  }
  void set_norm(fw_tensor* t, float* data, int64_t slots) const {
    const int64_t sizes[3] = {slots, s_.HV, s_.K};
    fw_tensor_contiguous(t, data, 3, sizes);
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
                o[b * args.o.stride[0] + t * args.o.stride[1] + h * args.o.stride[2] + j]);
    return out;
  }

  static constexpr float kSentinel = -12345.0f;
  std::vector<float> q, k, v, g, beta, o, state_in, state_out, norm_in, norm_out, inter;
  std::vector<int64_t> cu;
  std::vector<int32_t> slots;
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
  void set_strides(fw_tensor* x, float* data, int64_t T, int64_t Hx, int64_t D) const {
    x->data = data;
    int64_t* st = x->stride;
    st[0] = T * Hx * D;
    st[1] = s_.bhtd ? D : Hx * D;
    st[2] = s_.bhtd ? T * D : D;
    st[3] = 1;
  }
  void set_strides3(fw_tensor* x, float* data, int64_t T, int64_t Hx) const {
    x->data = data;
    int64_t* st = x->stride;
    st[0] = T * Hx;
    st[1] = s_.bhtd ? 1 : Hx;
    st[2] = s_.bhtd ? T : 1;
  }

  Shape s_;
  std::mt19937 rng_;
};

}  // namespace fwtest
