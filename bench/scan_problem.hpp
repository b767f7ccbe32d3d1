// Inputs of one benchmarked scan, shared by the fastweights runs and the
// peers: [B, T, H, K] q/k, [B, T, HV, V] v/o, [B, T, HV] g/beta, states.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
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

enum Op { kLinear = 0, kGla = 1, kDelta = 2, kGatedDelta = 3 };
inline const char* op_name(int op) {
  static const char* names[] = {"linear_attn", "simple_gla", "delta_rule", "gated_delta_rule"};
  return names[op];
}
// Model FLOPs per token and value head (DESIGN.md §2): 4KV, 6KV (delta).
inline double model_flops(int op, int64_t K, int64_t V) {
  return (op >= kDelta ? 6.0 : 4.0) * K * V;
}

struct ScanProblem {
  int64_t B, T, H, HV, K, V;
  Tensor q, k, v, g, beta, o, state;

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
// loop does).
inline fw_scan_args scan_args(ScanProblem& p, int op, int32_t mode, int64_t chunk) {
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
  const int64_t qs[4] = {p.T * p.H * p.K, p.H * p.K, p.K, 1};
  const int64_t vs[4] = {p.T * p.HV * p.V, p.HV * p.V, p.V, 1};
  const int64_t gs[3] = {p.T * p.HV, p.HV, 1};
  for (int i = 0; i < 4; ++i) {
    a.q_stride[i] = a.k_stride[i] = qs[i];
    a.v_stride[i] = a.o_stride[i] = vs[i];
  }
  for (int i = 0; i < 3; ++i) a.g_stride[i] = a.beta_stride[i] = gs[i];
  a.q = p.q.data();
  a.k = p.k.data();
  a.v = p.v.data();
  a.o = p.o.data();
  if (op == kGla || op == kGatedDelta) a.g = p.g.data();
  if (op == kDelta || op == kGatedDelta) a.beta = p.beta.data();
  a.initial_state = a.final_state = p.state.data();
  return a;
}

}  // namespace fwbench
