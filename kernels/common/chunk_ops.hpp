// Building blocks of the chunked scans (DESIGN.md §2), shared by linear
// attention and the delta rule. Every helper is a template on the vector
// policy, even where it could be plain: a non-template inline function here
// would be compiled once per ISA file and the linker could keep the AVX-512
// copy for the scalar backend (xsimd issue #1311).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace chunk {

// Chunk-local buffers carved from the task's workspace (layout matches
// scan_workspace_floats). Row-major, leading dimensions K, V and C.
struct Buffers {
  float *Q, *Kc, *W;  // C x K
  float *U, *O;       // C x V
  float *A, *B;       // C x C scores
  float *G, *beta;    // C
};

template <class Vec>
inline Buffers buffers(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  Buffers b;
  b.Q = t.ws + 2 * K + 2 * V;
  b.Kc = b.Q + C * K;
  b.W = b.Kc + C * K;
  b.U = b.W + C * K;
  b.O = b.U + C * V;
  b.A = b.O + C * V;
  b.B = b.A + C * C;
  b.G = b.B + C * C;
  b.beta = b.G + C;
  return b;
}

// Rows c0 .. c0+L-1 of q and k (L2-normalised on request), and the in-chunk
// cumulative log-decay G_i = g_1 + ... + g_i (zeros when ungated).
template <class Vec>
inline void load(const ScanTask& t, int64_t c0, int64_t L, const Buffers& b) {
  const int64_t K = t.K;
  float G = 0.0f;
  for (int64_t i = 0; i < L; ++i) {
    rows::load_row<Vec>(K, t.q + (c0 + i) * t.q_ts, b.Q + i * K, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + (c0 + i) * t.k_ts, b.Kc + i * K, t.qk_l2norm);
    if (t.g) G += t.g[(c0 + i) * t.g_ts];
    b.G[i] = G;
  }
}

// Out (L x V) = X (L x K) S (K x V), then row i scaled by exp(G_i) when gated.
template <class Vec>
inline void times_state(int64_t L, int64_t K, int64_t V, const float* X, const float* S,
                        const float* G, bool gated, float* Out) {
  for (int64_t i = 0; i < L; ++i) {
    float* out = Out + i * V;
    rows::fill<Vec>(V, 0.0f, out);
    for (int64_t k = 0; k < K; ++k) rows::axpy<Vec>(V, X[i * K + k], S + k * V, out);
    if (gated) rows::scal<Vec>(V, std::exp(G[i]), out);
  }
}

// A_ij = (X_i . Y_j) exp(G_i - G_j) for j <= i (j < i when strict), row-major
// with leading dimension C. The decay is formed as one exponent of a
// difference: exp(G_i) * exp(-G_j) overflows for long chunks.
template <class Vec>
inline void causal_scores(int64_t L, int64_t K, int64_t C, const float* X, const float* Y,
                          const float* G, bool gated, bool strict, float* A) {
  for (int64_t i = 0; i < L; ++i) {
    const int64_t jend = strict ? i : i + 1;
    for (int64_t j = 0; j < jend; ++j) {
      float a = rows::dot<Vec>(K, X + i * K, Y + j * K);
      if (gated) a *= std::exp(G[i] - G[j]);
      A[i * C + j] = a;
    }
  }
}

// Out_i += sum_{j <= i} A_ij U_j   (A lower-triangular, leading dim C)
template <class Vec>
inline void add_causal_product(int64_t L, int64_t V, int64_t C, const float* A, const float* U,
                               float* Out) {
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j <= i; ++j) rows::axpy<Vec>(V, A[i * C + j], U + j * V, Out + i * V);
}

// S = exp(G_last) S + sum_j exp(G_last - G_j) K_j^T U_j
template <class Vec>
inline void update_state(int64_t L, int64_t K, int64_t V, const float* Kc, const float* U,
                         const float* G, bool gated, float* S) {
  const float G_last = G[L - 1];
  const float decay = gated ? std::exp(G_last) : 1.0f;
  for (int64_t k = 0; k < K; ++k) {
    float* s = S + k * V;
    if (gated) rows::scal<Vec>(V, decay, s);
    for (int64_t j = 0; j < L; ++j) {
      const float w = gated ? Kc[j * K + k] * std::exp(G_last - G[j]) : Kc[j * K + k];
      rows::axpy<Vec>(V, w, U + j * V, s);
    }
  }
}

}  // namespace chunk
}  // namespace fw
