// A scan backward problem for the tests: random float inputs, held also in
// double for reference_backward.hpp, the library's fw_scan_args pointing at
// them and at gradient outputs (each filled with a sentinel first), in the
// dense [B, T, H(V), D] layout; or packed along T with cu_seqlens, or with
// V-first states.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "fastweights/fastweights.h"
#include "reference_backward.hpp"

namespace fwtest {

struct BackwardOptions {
  bool initial_state = true;
  bool final_grad = true;  // grad_final_state given
  bool l2 = false;
  bool normalize = false;  // linear attention only
  bool v_first = false;
  bool packed = false;    // batch rows packed along T with cu_seqlens
  float scale = 0;        // 0: the default
  double gate_lo = -1.0;  // g drawn in [gate_lo, 0]
  int64_t chunk = 0;
};

class BackwardProblem {
 public:
  static constexpr float kSentinel = -7777.0f;

  BackwardProblem(fw_op op, int64_t B, int64_t T, int64_t H, int64_t HV, int64_t K, int64_t V,
                  const BackwardOptions& o, uint32_t seed = 1)
      : opt(o) {
    p.op = op;
    p.B = B;
    p.T = T;
    p.H = H;
    p.HV = HV;
    p.K = K;
    p.V = V;
    p.l2 = o.l2;
    p.normalize = o.normalize;
    p.eps = 1e-3;
    p.scale = o.scale;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1), pos(0.1f, 1), strength(0.05f, 0.95f);
    std::uniform_real_distribution<float> gate(static_cast<float>(o.gate_lo), 0.0f);
    auto draw = [&](std::vector<float>* x, int64_t n, std::uniform_real_distribution<float>& d,
                    float s = 1.0f) {
      x->resize(n);
      for (float& e : *x) e = s * d(rng);
    };
    // Keys of norm at most 1 keep the delta rules' transitions contractive.
    const float key = 1.0f / std::sqrt(static_cast<float>(K));
    draw(&q, B * T * H * K, o.normalize ? pos : u);
    draw(&k, B * T * H * K, o.normalize ? pos : u, o.normalize ? 1.0f : key);
    draw(&v, B * T * HV * V, u);
    if (is_gated(op)) draw(&g, B * T * HV * (is_channel_gated(op) ? K : 1), gate);
    if (is_delta(op)) draw(&beta, B * T * HV, strength);
    if (o.initial_state) draw(&S0, B * HV * K * V, u);
    draw(&dout, B * T * HV * V, u);
    if (o.final_grad) draw(&dht, B * HV * K * V, u);
    sync_double();
    init_args();
  }

  // The double inputs from the floats (after a test changed or rounded them).
  void sync_double() {
    p.q.assign(q.begin(), q.end());
    p.k.assign(k.begin(), k.end());
    p.v.assign(v.begin(), v.end());
    p.g.assign(g.begin(), g.end());
    p.beta.assign(beta.begin(), beta.end());
    p.S0.assign(S0.begin(), S0.end());
  }

  Grads reference() const {
    return backward_double(p, std::vector<double>(dout.begin(), dout.end()),
                           std::vector<double>(dht.begin(), dht.end()));
  }

  fw_status run() { return fw_scan_backward(p.op, &args); }

  fw_scan_args args;
  GradProblem p;
  BackwardOptions opt;
  std::vector<float> q, k, v, g, beta, S0, dout, dht;
  std::vector<float> dq, dk, dv, dg, dbeta, dh0;
  std::vector<int64_t> cu;

 private:
  // [.., K, V] <-> [.., V, K] for every (sequence, head) block.
  std::vector<float> transposed(const std::vector<float>& x, int64_t rows, int64_t cols) const {
    std::vector<float> y(x.size());
    for (size_t b = 0; b < x.size() / (rows * cols); ++b)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          y[b * rows * cols + j * rows + i] = x[b * rows * cols + i * cols + j];
    return y;
  }

  static void dense(fw_tensor* t, void* data, int n, std::vector<int64_t> sizes) {
    fw_tensor_contiguous(t, data, n, sizes.data());
  }

  void init_args() {
    const int64_t B = p.B, T = p.T, H = p.H, HV = p.HV, K = p.K, V = p.V;
    fw_scan_args_init(&args);
    // Packed: [1, B * T, ..] holds the same floats as [B, T, ..].
    const int64_t b = opt.packed ? 1 : B, t = opt.packed ? B * T : T;
    args.batch = b;
    args.seq_len = t;
    args.num_heads = H;
    args.num_value_heads = HV;
    args.head_dim_k = K;
    args.head_dim_v = V;
    args.chunk_size = opt.chunk;
    args.scale = opt.scale;
    args.eps = static_cast<float>(p.eps);
    uint32_t flags = 0;
    if (opt.l2) flags |= FW_FLAG_QK_L2NORM;
    if (opt.normalize) flags |= FW_FLAG_NORMALIZE;
    if (opt.v_first) flags |= FW_FLAG_STATE_V_FIRST;
    args.flags = flags;
    if (opt.packed) {
      for (int64_t n = 0; n <= B; ++n) cu.push_back(n * T);
      args.cu_seqlens = cu.data();
      args.num_seqs = B;
    }
    dq.assign(q.size(), kSentinel);
    dk.assign(k.size(), kSentinel);
    dv.assign(v.size(), kSentinel);
    dg.assign(g.size(), kSentinel);
    dbeta.assign(beta.size(), kSentinel);
    dh0.assign(S0.size(), kSentinel);
    dense(&args.q, q.data(), 4, {b, t, H, K});
    dense(&args.k, k.data(), 4, {b, t, H, K});
    dense(&args.v, v.data(), 4, {b, t, HV, V});
    dense(&args.grad_o, dout.data(), 4, {b, t, HV, V});
    dense(&args.grad_q, dq.data(), 4, {b, t, H, K});
    dense(&args.grad_k, dk.data(), 4, {b, t, H, K});
    dense(&args.grad_v, dv.data(), 4, {b, t, HV, V});
    if (!g.empty()) {
      const bool ch = is_channel_gated(p.op);
      dense(&args.g, g.data(), ch ? 4 : 3, {b, t, HV, K});
      dense(&args.grad_g, dg.data(), ch ? 4 : 3, {b, t, HV, K});
    }
    if (!beta.empty()) {
      dense(&args.beta, beta.data(), 3, {b, t, HV});
      dense(&args.grad_beta, dbeta.data(), 3, {b, t, HV});
    }
    const int64_t rows = opt.v_first ? V : K, cols = opt.v_first ? K : V;
    if (opt.v_first) {
      S0_v = transposed(S0, K, V);
      dht_v = transposed(dht, K, V);
    }
    if (!S0.empty()) {
      dense(&args.initial_state, opt.v_first ? S0_v.data() : S0.data(), 4, {B, HV, rows, cols});
      dense(&args.grad_initial_state, dh0.data(), 4, {B, HV, rows, cols});
    }
    if (!dht.empty())
      dense(&args.grad_final_state, opt.v_first ? dht_v.data() : dht.data(), 4,
            {B, HV, rows, cols});
  }

 public:
  // dh0 K-first, whatever the layout it was written in.
  std::vector<float> dh0_k_first() const { return opt.v_first ? transposed(dh0, p.V, p.K) : dh0; }

 private:
  std::vector<float> S0_v, dht_v;
};

}  // namespace fwtest
