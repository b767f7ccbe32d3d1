// Inputs of one benchmarked scan, shared by the fastweights runs and the
// peers: [B, T, H, K] q/k, [B, T, HV, V] v/o, [B, T, HV] g/beta, states.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "fastweights/fastweights.h"

namespace fwbench {

// Tensors start on a cache line, as PyTorch allocates them (64-byte
// aligned); a plain std::vector<float> put every row of 512 bytes across
// nine lines instead of eight.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const CacheLineAllocator&) const { return true; }
  bool operator!=(const CacheLineAllocator&) const { return false; }
};
using Tensor = std::vector<float, CacheLineAllocator<float>>;
using HalfTensor = std::vector<uint16_t, CacheLineAllocator<uint16_t>>;

// x rounded to nearest even in a half type (the benchmark's inputs only).
inline uint16_t to_half(float x, int32_t dtype) {
  if (dtype == FW_DTYPE_F16) {
    const _Float16 h = static_cast<_Float16>(x);
    uint16_t b;
    std::memcpy(&b, &h, sizeof b);
    return b;
  }
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline HalfTensor to_half(const std::vector<float, CacheLineAllocator<float>>& x, int32_t dtype) {
  HalfTensor h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = to_half(x[i], dtype);
  return h;
}

// Ops come from the library's registry (fw_op_count, fw_op_get_info).
inline fw_op_info op_info(int op) {
  fw_op_info info{};
  info.struct_size = sizeof info;
  fw_op_get_info(static_cast<fw_op>(op), &info);
  return info;
}
inline const char* op_name(int op) { return op_info(op).name; }
// Model FLOPs per token and value head: 4KV, 6KV (delta).
inline double model_flops(int op, int64_t K, int64_t V) { return op_info(op).flops_per_kv * K * V; }

struct ScanProblem {
  int64_t B, T, H, HV, K, V;
  Tensor q, k, v, g, beta, o, state;
  Tensor gk;  // [B, T, HV, K]: gates per key channel (GLA, KDA), made on first use
  // q, k, v and o in fp16 ([0]) and bf16 ([1]), made on first use.
  HalfTensor half[2][4];

  HalfTensor* half_operands(int32_t dtype) {
    HalfTensor* h = half[dtype == FW_DTYPE_BF16 ? 1 : 0];
    if (h[0].empty()) {
      h[0] = to_half(q, dtype);
      h[1] = to_half(k, dtype);
      h[2] = to_half(v, dtype);
      h[3].assign(o.size(), 0);
    }
    return h;
  }

  float* channel_gates() {
    if (gk.empty()) {
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> ug(-0.1f, 0.0f);
      gk.resize(B * T * HV * K);
      for (float& x : gk) x = ug(rng);
    }
    return gk.data();
  }

  ScanProblem(int64_t B_, int64_t T_, int64_t H_, int64_t HV_, int64_t K_, int64_t V_)
      : B(B_), T(T_), H(H_), HV(HV_), K(K_), V(V_) {
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f), ub(0.1f, 0.9f), ug(-0.1f, 0.0f);
    q.resize(B * T * H * K);
    k.resize(q.size());
    v.resize(B * T * HV * V);
    for (float& x : q) x = u(rng);
    for (float& x : v) x = u(rng);
    for (int64_t r = 0; r < B * T * H; ++r) {  // unit keys, as the delta rule wants
      double s = 0;
      for (int64_t i = 0; i < K; ++i) s += (k[r * K + i] = u(rng)) * double(k[r * K + i]);
      for (int64_t i = 0; i < K; ++i) k[r * K + i] = float(k[r * K + i] / std::sqrt(s));
    }
    g.resize(B * T * HV);
    beta.resize(g.size());
    for (float& x : g) x = ug(rng);
    for (float& x : beta) x = ub(rng);
    o.assign(v.size(), 0.0f);
    state.assign(B * HV * K * V, 0.0f);
  }
};

// The fw_scan_args of one scan over p: contiguous [B, T, H, D] tensors, the
// state updated in place (decode carries it from step to step, as a serving
// loop does), K-first or V-first (the same floats either way: the benchmark
// times the layout, not the values); q, k, v and o in dtype, g and beta fp32
// (as sglang passes them).
inline fw_scan_args scan_args(ScanProblem& p, const fw_op_info& info, int32_t mode, int64_t chunk,
                              bool v_first = false, int32_t dtype = FW_DTYPE_F32) {
  fw_scan_args a;
  fw_scan_args_init(&a);
  a.mode = mode;
  a.batch = p.B;
  a.seq_len = p.T;
  a.num_heads = p.H;
  a.num_value_heads = p.HV;
  a.head_dim_k = p.K;
  a.head_dim_v = p.V;
  a.chunk_size = chunk;
  const int64_t qk[4] = {p.B, p.T, p.H, p.K}, vo[4] = {p.B, p.T, p.HV, p.V};
  const int64_t gb[4] = {p.B, p.T, p.HV, p.K};
  const int64_t st[4] = {p.B, p.HV, v_first ? p.V : p.K, v_first ? p.K : p.V};
  fw_tensor_contiguous(&a.q, p.q.data(), 4, qk);
  fw_tensor_contiguous(&a.k, p.k.data(), 4, qk);
  fw_tensor_contiguous(&a.v, p.v.data(), 4, vo);
  fw_tensor_contiguous(&a.o, p.o.data(), 4, vo);
  if (info.gate == FW_GATE_CHANNEL)
    fw_tensor_contiguous(&a.g, p.channel_gates(), 4, gb);
  else if (info.gate != FW_GATE_NONE)
    fw_tensor_contiguous(&a.g, p.g.data(), 3, gb);
  if (info.has_beta) fw_tensor_contiguous(&a.beta, p.beta.data(), 3, gb);
  fw_tensor_contiguous(&a.initial_state, p.state.data(), 4, st);
  a.final_state = a.initial_state;
  if (v_first) a.flags |= FW_FLAG_STATE_V_FIRST;
  if (dtype != FW_DTYPE_F32) {
    HalfTensor* h = p.half_operands(dtype);
    fw_tensor* t[4] = {&a.q, &a.k, &a.v, &a.o};
    for (int i = 0; i < 4; ++i) {
      t[i]->data = h[i].data();
      t[i]->dtype = dtype;
    }
  }
  return a;
}

inline fw_scan_args scan_args(ScanProblem& p, int op, int32_t mode, int64_t chunk,
                              bool v_first = false, int32_t dtype = FW_DTYPE_F32) {
  return scan_args(p, op_info(op), mode, chunk, v_first, dtype);
}

// The gradients' buffers of a backward over p (the output's gradient a copy
// of v), and their tensors set in a forward's args: every gradient the op
// has, the initial state's included. The state is read, not written back.
struct Gradients {
  Tensor dout, dq, dk, dv, dg, dbeta, dS;

  void attach(ScanProblem& p, const fw_op_info& info, fw_scan_args* a) {
    dout = p.v;
    dq.resize(p.q.size());
    dk.resize(p.k.size());
    dv.resize(p.v.size());
    dS.resize(p.state.size());
    const int64_t qk[4] = {p.B, p.T, p.H, p.K}, vo[4] = {p.B, p.T, p.HV, p.V};
    fw_tensor_contiguous(&a->grad_o, dout.data(), 4, vo);
    fw_tensor_contiguous(&a->grad_q, dq.data(), 4, qk);
    fw_tensor_contiguous(&a->grad_k, dk.data(), 4, qk);
    fw_tensor_contiguous(&a->grad_v, dv.data(), 4, vo);
    if (a->g.data) {
      dg.resize(info.gate == FW_GATE_CHANNEL ? p.B * p.T * p.HV * p.K : p.g.size());
      a->grad_g = a->g;
      a->grad_g.data = dg.data();
    }
    if (a->beta.data) {
      dbeta.resize(p.beta.size());
      a->grad_beta = a->beta;
      a->grad_beta.data = dbeta.data();
    }
    a->final_state.data = nullptr;
    a->grad_initial_state = a->initial_state;
    a->grad_initial_state.data = dS.data();
  }
};

}  // namespace fwbench
