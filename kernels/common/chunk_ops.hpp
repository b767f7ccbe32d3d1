// Building blocks of the chunked scans (DESIGN.md §2), shared by linear
// attention and the delta rule; the products go through gemm.hpp. Every
// helper is a template on the vector policy, even where it could be plain: a
// non-template inline function here would be compiled once per ISA file and
// the linker could keep the AVX-512 copy for the scalar backend (xsimd issue
// #1311).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/gemm.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace chunk {

// Chunk-local buffers carved from the task's workspace (layout matches
// scan_workspace_floats). Row-major; leading dimensions K, V, C.
struct Buffers {
  float *Q, *Kc, *Kb, *W;  // C x K
  float* KT;               // K x C: Kc transposed, the B operand of Q K^T
  float *U, *O;            // C x V
  float *A, *B;            // C x C
  float *G, *beta;         // C
};

template <class Vec>
inline Buffers buffers(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  Buffers b;
  b.Q = t.ws + 2 * K + 2 * V;
  b.Kc = b.Q + C * K;
  b.Kb = b.Kc + C * K;
  b.W = b.Kb + C * K;
  b.KT = b.W + C * K;
  b.U = b.KT + C * K;
  b.O = b.U + C * V;
  b.A = b.O + C * V;
  b.B = b.A + C * C;
  b.G = b.B + C * C;
  b.beta = b.G + C;
  return b;
}

// Input and output rows are fetched a few rows ahead of their use. One
// head's rows sit H * D floats apart in [B, T, H, D] tensors, 8 KiB for 16
// heads of 128: a stride the hardware prefetchers do not follow, and one
// that maps every row to the same L1 sets, so fetching a whole chunk ahead
// only evicts itself. Eight rows ahead took the chunked delta rule from 185
// to 136 ms and linear attention from 107 to 89 ms at T = 4096, H = 16,
// K = V = 128 (AVX-512, one thread; medians of 3).
constexpr int64_t kPrefetchRows = 8;

template <class Vec>
inline void prefetch_row(const float* row, int64_t n, bool for_write) {
  for (int64_t x = 0; x < n; x += 64 / sizeof(float)) {
    if (for_write)
      __builtin_prefetch(row + x, 1);
    else
      __builtin_prefetch(row + x);
  }
}

// row t of a strided tensor, and the one kPrefetchRows later asked for.
template <class Vec>
inline const float* row_ahead(const float* base, int64_t ts, int64_t t, int64_t T, int64_t n) {
  if (t + kPrefetchRows < T) prefetch_row<Vec>(base + (t + kPrefetchRows) * ts, n, false);
  return base + t * ts;
}

// Rows c0 .. c0+L-1 of q and k (L2-normalised on request), k transposed,
// and the in-chunk cumulative log-decay G_i = g_1 + ... + g_i (zeros when
// ungated).
template <class Vec>
inline void load(const ScanTask& t, int64_t c0, int64_t L, const Buffers& b) {
  const int64_t K = t.K, C = t.chunk;
  float G = 0.0f;
  for (int64_t i = 0; i < L; ++i) {
    rows::load_row<Vec>(K, row_ahead<Vec>(t.q, t.q_ts, c0 + i, t.T, K), b.Q + i * K, t.qk_l2norm);
    rows::load_row<Vec>(K, row_ahead<Vec>(t.k, t.k_ts, c0 + i, t.T, K), b.Kc + i * K, t.qk_l2norm);
    if (t.g) G += t.g[(c0 + i) * t.g_ts];
    b.G[i] = G;
  }
  for (int64_t i = 0; i < L; ++i)
    for (int64_t p = 0; p < K; ++p) b.KT[p * C + i] = b.Kc[i * K + p];
}

// dst rows (stride V) = a * v rows c0 .. c0+L-1.
template <class Vec>
inline void load_values(const ScanTask& t, int64_t c0, int64_t L, const float* a, float* dst) {
  for (int64_t i = 0; i < L; ++i)
    rows::scaled_copy<Vec>(t.V, a ? a[i] : 1.0f, row_ahead<Vec>(t.v, t.v_ts, c0 + i, t.T, t.V),
                           dst + i * t.V);
}

// Output rows c0 .. c0+L-1 = a_i * src rows (a = nullptr: scale).
template <class Vec>
inline void store_outputs(const ScanTask& t, int64_t c0, int64_t L, const float* src,
                          const float* a) {
  for (int64_t i = 0; i < L; ++i) {
    if (c0 + i + kPrefetchRows < t.T)
      prefetch_row<Vec>(t.o + (c0 + i + kPrefetchRows) * t.o_ts, t.V, true);
    rows::scaled_copy<Vec>(t.V, a ? a[i] : t.scale, src + i * t.V, t.o + (c0 + i) * t.o_ts);
  }
}

// row[j] *= exp(Gi - G[j]) for j < n. One exponent of a difference:
// exp(G_i) * exp(-G_j) overflows for long chunks.
template <class Vec>
inline void decay_row(int64_t n, float Gi, const float* G, float* row) {
  const typename Vec::type vgi = Vec::set1(Gi);
  int64_t j = 0;
  for (; j + Vec::N <= n; j += Vec::N)
    Vec::store(row + j, Vec::mul(Vec::load(row + j), Vec::exp(Vec::sub(vgi, Vec::load(G + j)))));
  for (; j < n; ++j) row[j] *= std::exp(Gi - G[j]);
}

// A_ij = (X_i . K_j) exp(G_i - G_j) for j <= i (j < i when strict), zero
// elsewhere in the L x L block; row-major, leading dimension C.
template <class Vec>
inline void causal_scores(int64_t L, int64_t K, int64_t C, const float* X, const float* KT,
                          const float* G, bool gated, bool strict, float* A) {
  for (int64_t i = 0; i < L; ++i) rows::fill<Vec>(L, 0.0f, A + i * C);
  gemm::gemm_acc<Vec>(gemm::kLowerC, L, L, K, X, K, 1, KT, C, A, C);
  for (int64_t i = 0; i < L; ++i) {
    const int64_t keep = strict ? i : i + 1;
    if (gated) decay_row<Vec>(keep, G[i], G, A + i * C);
    rows::fill<Vec>(L - keep, 0.0f, A + i * C + keep);
  }
}

// Out (L x V, row stride ldo) = X (L x K) S (K x V, row stride ldS), row i
// then scaled by exp(G_i) if gated.
template <class Vec>
inline void times_state(int64_t L, int64_t K, int64_t V, const float* X, const float* S,
                        int64_t ldS, const float* G, bool gated, float* Out, int64_t ldo) {
  for (int64_t i = 0; i < L; ++i) rows::fill<Vec>(V, 0.0f, Out + i * ldo);
  gemm::gemm_acc<Vec>(gemm::kFull, L, V, K, X, K, 1, S, ldS, Out, ldo);
  if (gated)
    for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(V, std::exp(G[i]), Out + i * ldo);
}

// Out += A U with A lower-triangular (L x L, leading dim C); U rows of V at
// stride ldu (the caller's v rows for linear attention: no copy).
template <class Vec>
inline void add_causal_product(int64_t L, int64_t V, int64_t C, const float* A, const float* U,
                               int64_t ldu, float* Out, int64_t ldo) {
  gemm::gemm_acc<Vec>(gemm::kCausalK, L, V, L, A, C, 1, U, ldu, Out, ldo);
}

// S = exp(G_last) S + sum_j exp(G_last - G_j) K_j^T U_j (U rows at stride
// ldu, S rows at ldS); Kd is scratch for the decayed keys (L x K). K^T is read in place
// through gemm's strides.
template <class Vec>
inline void update_state(int64_t L, int64_t K, int64_t V, const float* Kc, const float* U,
                         int64_t ldu, const float* G, bool gated, float* Kd, float* S,
                         int64_t ldS) {
  const float* keys = Kc;
  if (gated) {
    const float G_last = G[L - 1];
    for (int64_t k = 0; k < K; ++k) rows::scal<Vec>(V, std::exp(G_last), S + k * ldS);
    for (int64_t j = 0; j < L; ++j)
      rows::scaled_copy<Vec>(K, std::exp(G_last - G[j]), Kc + j * K, Kd + j * K);
    keys = Kd;
  }
  gemm::gemm_acc<Vec>(gemm::kFull, K, V, L, keys, 1, K, U, ldu, S, ldS);
}

}  // namespace chunk
}  // namespace fw
