// Building blocks of the chunked scans (docs/design.md, "Chunked form"), shared by linear
// attention and the delta rule; the products go through gemm.hpp. Every
// helper is a template on the vector policy, even where it could be plain: a
// non-template inline function here would be compiled once per ISA file and
// the linker could keep the AVX-512 copy for the scalar backend (xsimd issue
// #1311).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/common/convert.hpp"
#include "kernels/common/gates.hpp"
#include "kernels/common/gemm.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace chunk {

// A chunk record (chunk_record_floats): what prepare leaves for advance.
// Row-major, leading dimensions K and C; linear attention leaves W, T and
// beta unused.
template <class Float>
struct Record {
  Float *Q, *Kd, *W;  // C x K: queries (times exp(G) when gated); keys (times
                      // exp(G_last - G) when gated); -W of the WY form
  Float *T, *A;       // C x C: (I + A)^{-1}; causal Q K^T scores
  Float *G, *beta;    // cumulative log-decay (C), or per channel the decays
                      // exp(G) (C x K, channel_prefix_decays); C betas
};

template <class Vec, class Float>
inline Record<Float> record(Float* rec, int64_t K, int64_t C) {
  Record<Float> r;
  r.Q = rec;
  r.Kd = r.Q + C * K;
  r.W = r.Kd + C * K;
  r.T = r.W + C * K;
  r.A = r.T + C * C;
  r.G = r.A + C * C;
  r.beta = r.G + C * K;
  return r;
}

// Scratch past the recurrent kernels' head (chunk_scratch_floats):
// prepare's and advance's parts overlap, they never run at once.
// prepare loads the keys straight into the record's Kd and decays them there
// last (a copy less per chunk).
struct Scratch {
  float *KT, *Kb, *M;  // prepare: keys transposed (K x C), beta keys
                       // (C x K); a C x C matrix
  float* CS;           // prepare: channel_scores' scratch
  float *X, *U, *O;    // advance: C x V each
};

template <class Vec>
inline Scratch scratch(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  Scratch s;
  s.KT = t.ws + recurrent_head_floats(K, V);
  s.Kb = s.KT + C * K;
  s.M = s.Kb + C * K;
  s.CS = s.M + C * C;
  s.X = t.ws + recurrent_head_floats(K, V);
  s.U = s.X + C * V;
  s.O = s.U + C * V;
  return s;
}

// Length of the chunk starting at c0.
template <class Vec>
inline int64_t chunk_length(const ScanTask& t, int64_t c0) {
  return t.T - c0 < t.chunk ? t.T - c0 : t.chunk;
}

// Input and output rows are fetched a few rows ahead of their use. One
// head's rows sit H * D floats apart in [B, T, H, D] tensors, 8 KiB for 16
// heads of 128: a stride the hardware prefetchers do not follow, and one
// that maps every row to the same L1 sets, so fetching a whole chunk ahead
// only evicts itself. Eight rows ahead took the chunked delta rule from 185
// to 136 ms and linear attention from 107 to 89 ms at T = 4096, H = 16,
// K = V = 128 (AVX-512, one thread; medians of 3).
constexpr int64_t kPrefetchRows = 8;

// The same row of the next chunk goes to L2 only (prefetcht1): L2 has 16x
// the sets of L1, so a chunk of rows 8 KiB apart fits there, and the L1
// fetch eight rows ahead then finds them near. At T = 4096, H = 16,
// K = V = 128, chunk 32 (AVX-512, one thread, 4 runs alternated): linear
// attention 71.2 vs 75.9 ms, delta rule 111 vs 113 ms.
template <class Vec>
inline void prefetch_row_to_l2(const void* row, int64_t bytes) {
  for (int64_t x = 0; x < bytes; x += 64)
    __builtin_prefetch(static_cast<const char*>(row) + x, 0, 2);
}

// Row t of an operand (n elements); asks for the row kPrefetchRows later
// into L1 and the row `far` later into L2 (far < 0: that far back, for the
// backward's chunks taken last first).
template <class Vec>
inline const void* row_ahead(const InRows& x, int64_t t, int64_t T, int64_t n, int64_t far) {
  const int64_t bytes = n * dtype_bytes(x.dt);
  if (t + kPrefetchRows < T) rows::prefetch_bytes<Vec>(x.at(t + kPrefetchRows), bytes, false);
  if (t + far < T && t + far >= 0) prefetch_row_to_l2<Vec>(x.at(t + far), bytes);
  return x.at(t);
}

// dst (n x m, row stride ldd) = src (m x n, row stride lds) transposed:
// N x N blocks in registers, the edges one float at a time.
template <class Vec>
inline void transpose(int64_t m, int64_t n, const float* src, int64_t lds, float* dst,
                      int64_t ldd) {
  constexpr int N = Vec::N;
  const int64_t m_blocks = m / N * N, n_blocks = n / N * N;
  for (int64_t i = 0; i < m_blocks; i += N)
    for (int64_t j = 0; j < n_blocks; j += N)
      Vec::transpose(src + i * lds + j, lds, dst + j * ldd + i, ldd);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = i < m_blocks ? n_blocks : 0; j < n; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// dst rows (m x n, row stride ldd) = src rows (row stride lds), written
// past the caches where they are whole lines, else through them: states a
// caller keeps for much later (the chunked forward's intermediate states
// where the advance cannot stream them itself, ScanTask::S_copy; plain
// copies, each line fetched before being overwritten, had made that
// forward take 1.17-1.23x the time of one that keeps none;
// docs/decisions.md).
template <class Vec>
inline void stream_rows(int64_t m, int64_t n, const float* src, int64_t lds, float* dst,
                        int64_t ldd) {
  if (!rows::whole_lines<Vec>(n, ldd, dst)) {
    for (int64_t i = 0; i < m; ++i) rows::scaled_copy<Vec>(n, 1.0f, src + i * lds, dst + i * ldd);
    return;
  }
  rows::stream_rows_unfenced<Vec>(m, n, src, lds, dst, ldd);
  Vec::stream_fence();
}

// Rows c0 .. c0+L-1 of q and k (L2-normalised on request), k transposed
// (KT, leading dimension C), and the in-chunk cumulative log-decay
// G_i = g_1 + ... + g_i (zeros when ungated).
template <class Vec>
inline void load(const ScanTask& t, int64_t c0, int64_t L, float* Q, float* Kc, float* KT,
                 float* G) {
  const int64_t K = t.K, C = t.chunk;
  float sum = 0.0f;
  const bool scalar_gate = t.g.p && !t.g_channel;
  for (int64_t i = 0; i < L; ++i) {
    convert::load_row<Vec>(K, row_ahead<Vec>(t.q, c0 + i, t.T, K, C), t.q.dt, Q + i * K,
                           t.qk_l2norm);
    convert::load_row<Vec>(K, row_ahead<Vec>(t.k, c0 + i, t.T, K, C), t.k.dt, Kc + i * K,
                           t.qk_l2norm);
    if (scalar_gate) sum += gates::scalar_gate<Vec>(t, c0 + i);
    G[i] = sum;
  }
  for (int64_t i = L; i < C; ++i) G[i] = sum;  // decay_row reads whole vectors
  if (t.g_channel) return;                     // channel_scores reads the keys' rows, not KT
  transpose<Vec>(L, K, Kc, K, KT, C);
  // causal_scores reads a short chunk's keys in whole vectors: zeros past L.
  if (L < C)
    for (int64_t r = 0; r < K; ++r) rows::fill<Vec>(C - L, 0.0f, KT + r * C + L);
}

// Per-channel gates (GLA, KDA). A gate's decay exp(g) below 2^-60 is
// taken as 0, and so is a product of decays (channel_scores) that falls
// below it: the term it scales is then under 1e-18 of the token's own, and
// no product of two kept decays (>= 2^-120) is subnormal, whose arithmetic
// costs Intel cores a microcode assist per operation.
constexpr float kDecayFloor = 0x1p-60f;

// The chunk's decays E_i = exp(g_i) (L x K, floored as above); tmp: K
// floats for a projected gate row (gates.hpp); far as row_ahead's.
template <class Vec>
inline void load_channel_gates(const ScanTask& t, int64_t c0, int64_t L, float* E, float* tmp,
                               int64_t far) {
  const int64_t K = t.K;
  for (int64_t i = 0; i < L; ++i) {
    row_ahead<Vec>(t.g, c0 + i, t.T, K, far);
    const float* g = gates::channel_gate_row<Vec>(t, c0 + i, tmp);
    rows::exp_row<Vec>(K, g, E + i * K);
    rows::flush_below<Vec>(K, kDecayFloor, E + i * K);
  }
}

// Per-channel in-chunk scores: A(i, j) = sum_k X_ik K_jk D_ijk, D_ijk =
// exp(G_ik - G_jk) = E_(j+1),k ... E_i,k, for j <= i; with Akk the same over
// the keys for j < i (the delta rule's strict A); zeros elsewhere in the
// L x L blocks (leading dim C). D is only ever a product of decays (each
// <= 1 for gates <= 0: nothing overflows): an exp per (i, j, k) made these
// scores most of GLA's time, and G_i - G_j itself loses a small exponent to
// cancellation once Kimi's gates (-5 and below per token) have taken G to
// -80 .. -320.
//  - Rows go in blocks of kScoreRows from row i0. Inside a block's diagonal
//    part D is walked down from i, one multiply per step
//    (channel_scores_diagonal).
//  - Left of it, D_ij = P_i R_j with P_i = E_(i0+1) ... E_i and R_j =
//    E_(j+1) ... E_i0, both products of decays, so the block is one gemm of
//    the rows X_i o P_i by the keys K_j o R_j. Each factor is floored at
//    kFactorFloor = kDecayFloor^(1/2), so that a kept product stays above
//    kDecayFloor and no product of two kept factors is subnormal; the terms
//    dropped with it weigh under 2^-30 of the token's own.
// tmp: channel_scores_floats(K, C) floats (kernel_table.hpp).
constexpr float kFactorFloor = 0x1p-30f;

// Rows [i0, i1) of channel_scores, columns j in [i0, i]: D walked down
// from i (d: K floats). kKeys: Akk as well.
template <class Vec, bool kKeys>
inline void channel_scores_diagonal(int64_t i0, int64_t i1, int64_t K, int64_t C, const float* X,
                                    const float* Kc, const float* E, float* A, float* Akk,
                                    float* d) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  const int64_t body = K / N * N;
  for (int64_t i = i0; i < i1; ++i) {
    rows::fill<Vec>(K, 1.0f, d);
    const float *xi = X + i * K, *ki = Kc + i * K;
    for (int64_t j = i; j >= i0; --j) {
      const float* kj = Kc + j * K;
      const float* ej = E + (j + 1) * K;  // taken into d once j < i
      VT aq = Vec::zero(), ak = Vec::zero();
      for (int64_t x = 0; x < body; x += N) {
        VT dx = Vec::load(d + x);
        if (j < i) {
          dx = Vec::flush_below(Vec::mul(dx, Vec::load(ej + x)), kDecayFloor);
          Vec::store(d + x, dx);
        }
        const VT ke = Vec::mul(Vec::load(kj + x), dx);
        aq = Vec::fma(Vec::load(xi + x), ke, aq);
        if (kKeys) ak = Vec::fma(Vec::load(ki + x), ke, ak);
      }
      float sq = Vec::hsum(aq), sk = kKeys ? Vec::hsum(ak) : 0.0f;
      for (int64_t x = body; x < K; ++x) {
        if (j < i) {
          const float p = d[x] * ej[x];
          d[x] = p < kDecayFloor ? 0.0f : p;
        }
        const float ke = kj[x] * d[x];
        sq = Vec::fma1(xi[x], ke, sq);
        if (kKeys) sk = Vec::fma1(ki[x], ke, sk);
      }
      A[i * C + j] = sq;
      if (kKeys) Akk[i * C + j] = j < i ? sk : 0.0f;
    }
  }
}

// The factors of D left of the diagonal block of rows [i0, i1): rows
// P_(i - i0) = E_(i0+1) ... E_i (P_0 = 1) and R_j = E_(j+1) ... E_i0 for
// j < i0, each floored at kFactorFloor (P: kScoreRows x K, R: C x K). The
// backward's walk takes the same (chunk_backward.hpp).
template <class Vec>
inline void left_factors(int64_t i0, int64_t i1, int64_t K, const float* E, float* P, float* R) {
  for (int64_t j = i0 - 1; j >= 0; --j) {
    if (j == i0 - 1)
      rows::scaled_copy<Vec>(K, 1.0f, E + i0 * K, R + j * K);
    else
      rows::mul<Vec>(K, R + (j + 1) * K, E + (j + 1) * K, R + j * K);
    rows::flush_below<Vec>(K, kFactorFloor, R + j * K);
  }
  rows::fill<Vec>(K, 1.0f, P);
  for (int64_t i = i0 + 1; i < i1; ++i) {
    rows::mul<Vec>(K, P + (i - 1 - i0) * K, E + i * K, P + (i - i0) * K);
    rows::flush_below<Vec>(K, kFactorFloor, P + (i - i0) * K);
  }
}

// Rows [i0, i1) of channel_scores, columns j < i0: the gemm of the rows
// X_i o P_i (and K_i o P_i for Akk) by the keys K_j o R_j, transposed (K x
// n, leading dim C) as the gemm reads them. tmp as channel_scores'.
template <class Vec>
inline void channel_scores_left(int64_t i0, int64_t i1, int64_t K, int64_t C, const float* X,
                                const float* Kc, const float* E, float* A, float* Akk, float* tmp) {
  const int64_t m = i1 - i0;
  float *P = tmp + K, *R = P + kScoreRows * K, *Xp = R + C * K, *Kp = Xp + kScoreRows * K,
        *Kr = Kp + kScoreRows * K, *KrT = Kr + C * K;
  // The columns to whole vectors where A's rows hold them, with zero keys
  // past i0: the diagonal part, written after, overwrites them. (Blocks of
  // 8 rows with a scalar transpose and scalar tail columns left these
  // scores 11.7 % of GLA's samples; this way 9.0 %, the walk over whole
  // rows 16.1 %: T = 4096, H = 16, K = V = 128, AVX-512, Zen 4.)
  const int64_t whole = (i0 + Vec::N - 1) / Vec::N * Vec::N, n = whole <= C ? whole : i0;
  left_factors<Vec>(i0, i1, K, E, P, R);
  rows::mul<Vec>(i0 * K, Kc, R, Kr);
  rows::fill<Vec>((n - i0) * K, 0.0f, Kr + i0 * K);
  transpose<Vec>(n, K, Kr, K, KrT, C);
  rows::mul<Vec>(m * K, X + i0 * K, P, Xp);
  gemm::gemm_set<Vec>(gemm::kFull, m, n, K, Xp, K, 1, KrT, C, A + i0 * C, C);
  if (!Akk) return;
  rows::mul<Vec>(m * K, Kc + i0 * K, P, Kp);
  gemm::gemm_set<Vec>(gemm::kFull, m, n, K, Kp, K, 1, KrT, C, Akk + i0 * C, C);
}

// channel_scores_diagonal for K = kNV vectors exactly, with D and row i's
// X (and keys) held in registers instead of reloaded, and D stored, at
// every step; the same operations in the same order, so the same bits.
template <class Vec, bool kKeys, int kNV>
inline void channel_scores_diagonal_held(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                         const float* X, const float* Kc, const float* E, float* A,
                                         float* Akk) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  for (int64_t i = i0; i < i1; ++i) {
    VT d[kNV], xi[kNV], ki[kNV];
    for (int x = 0; x < kNV; ++x) {
      d[x] = Vec::set1(1.0f);
      xi[x] = Vec::load(X + i * K + x * N);
      if (kKeys) ki[x] = Vec::load(Kc + i * K + x * N);
    }
    for (int64_t j = i; j >= i0; --j) {
      const float* kj = Kc + j * K;
      const float* ej = E + (j + 1) * K;
      VT aq = Vec::zero(), ak = Vec::zero();
#pragma GCC unroll 8
      for (int x = 0; x < kNV; ++x) {
        if (j < i) d[x] = Vec::flush_below(Vec::mul(d[x], Vec::load(ej + x * N)), kDecayFloor);
        const VT ke = Vec::mul(Vec::load(kj + x * N), d[x]);
        aq = Vec::fma(xi[x], ke, aq);
        if (kKeys) ak = Vec::fma(ki[x], ke, ak);
      }
      A[i * C + j] = Vec::hsum(aq);
      if (kKeys) Akk[i * C + j] = j < i ? Vec::hsum(ak) : 0.0f;
    }
  }
}

// The per-channel walks (the forward's and the backward's) hold a row's
// vectors in registers where they fit beside the sums: AVX-512 at K = 64 or
// 128. There held(std::integral_constant<int, K / N>) runs and this returns
// true; elsewhere false, and the caller walks another way (the backward's
// in slices of 4 vectors where K allows, else with reloads).
template <class Vec, class Held>
inline bool walk_held(int64_t K, Held&& held) {
  if constexpr (Vec::N == 16) {
    if (K == 8 * Vec::N) {
      held(std::integral_constant<int, 8>());
      return true;
    }
    if (K == 4 * Vec::N) {
      held(std::integral_constant<int, 4>());
      return true;
    }
  }
  return false;
}

template <class Vec, bool kKeys>
inline void channel_scores_diagonal_any(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                        const float* X, const float* Kc, const float* E, float* A,
                                        float* Akk, float* d) {
  auto held = [&](auto nv) {
    channel_scores_diagonal_held<Vec, kKeys, decltype(nv)::value>(i0, i1, K, C, X, Kc, E, A, Akk);
  };
  if (!walk_held<Vec>(K, held))
    channel_scores_diagonal<Vec, kKeys>(i0, i1, K, C, X, Kc, E, A, Akk, d);
}

template <class Vec>
inline void channel_scores(int64_t L, int64_t K, int64_t C, const float* X, const float* Kc,
                           const float* E, float* A, float* Akk, float* tmp) {
  for (int64_t i0 = 0; i0 < L; i0 += kScoreRows) {
    const int64_t i1 = L - i0 < kScoreRows ? L : i0 + kScoreRows;
    if (i0 > 0) channel_scores_left<Vec>(i0, i1, K, C, X, Kc, E, A, Akk, tmp);
    if (Akk)
      channel_scores_diagonal_any<Vec, true>(i0, i1, K, C, X, Kc, E, A, Akk, tmp);
    else
      channel_scores_diagonal_any<Vec, false>(i0, i1, K, C, X, Kc, E, A, Akk, tmp);
    for (int64_t i = i0; i < i1; ++i) {
      rows::fill<Vec>(L - i - 1, 0.0f, A + i * C + i + 1);
      if (Akk) rows::fill<Vec>(L - i - 1, 0.0f, Akk + i * C + i + 1);
    }
  }
}

// The decays from the chunk's start: P_i = exp(G_i) = E_0 ... E_i as a
// product walked up (floored as channel_scores' walk), for the queries and
// the delta rule's W keys (decay_rows) and the state's rows (update_state).
// The exp of each G_i had been 3.3 % of GLA's time (T = 4096, H = 16,
// K = V = 128, AVX-512), and a product of decays is the closer of the two
// once G_i is large: G's own rounding, about 2^-24 |G_i| per step, goes
// into the exponent.
template <class Vec>
inline void channel_prefix_decays(int64_t L, int64_t K, const float* E, float* P) {
  rows::scaled_copy<Vec>(K, 1.0f, E, P);
  for (int64_t i = 1; i < L; ++i) {
    rows::mul<Vec>(K, P + (i - 1) * K, E + i * K, P + i * K);
    rows::flush_below<Vec>(K, kDecayFloor, P + i * K);
  }
}

// Row i of X *= P_i (channel_prefix_decays).
template <class Vec>
inline void decay_rows(int64_t L, int64_t K, const float* P, float* X) {
  for (int64_t i = 0; i < L; ++i) rows::mul<Vec>(K, X + i * K, P + i * K, X + i * K);
}

// Row j of Kd *= E_(j+1) ... E_(L-1), the product walked down from the
// chunk's end as in channel_scores (d: K floats).
template <class Vec>
inline void channel_decay_keys(int64_t L, int64_t K, const float* E, float* Kd, float* d) {
  rows::fill<Vec>(K, 1.0f, d);
  for (int64_t j = L - 2; j >= 0; --j) {
    rows::mul<Vec>(K, d, E + (j + 1) * K, d);
    rows::flush_below<Vec>(K, kDecayFloor, d);
    rows::mul<Vec>(K, Kd + j * K, d, Kd + j * K);
  }
}

// decay_queries: row i of X *= exp(G_i); decay_keys: row j of Kd *=
// exp(G_last - G_j); nothing when ungated.
template <class Vec>
inline void decay_queries(int64_t L, int64_t K, const float* G, bool gated, float* X) {
  if (gated)
    for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(K, std::exp(G[i]), X + i * K);
}

template <class Vec>
inline void decay_keys(int64_t L, int64_t K, const float* G, bool gated, float* Kd) {
  if (gated)
    for (int64_t j = 0; j < L; ++j) rows::scal<Vec>(K, std::exp(G[L - 1] - G[j]), Kd + j * K);
}

// dst rows (stride V) = a * v rows c0 .. c0+L-1; far as row_ahead's.
template <class Vec>
inline void load_values(const ScanTask& t, int64_t c0, int64_t L, const float* a, float* dst,
                        int64_t far) {
  for (int64_t i = 0; i < L; ++i)
    convert::widen_scaled<Vec>(t.V, a ? a[i] : 1.0f, row_ahead<Vec>(t.v, c0 + i, t.T, t.V, far),
                               t.v.dt, dst + i * t.V);
}

// A line in the same 4 KiB page as the row (bytes long, on a cache line)
// but not in it, or null: read, it has the page's translation ready when
// the row's streamed stores come, and those do not then find the line in
// cache.
inline const char* page_mate(const void* row, int64_t bytes) {
  const char* p = static_cast<const char*>(row);
  const int64_t in_page = static_cast<int64_t>(reinterpret_cast<uintptr_t>(row) & 4095);
  if (in_page + bytes < 4096) return p + bytes;
  if (in_page > 0) return p - 64;
  return nullptr;
}

// Rows c0 .. c0+L-1 of out (n elements each, of T rows) = a_i * src rows
// (row stride n; a = nullptr: a_all). Outputs too large to stay in cache
// (stream) go past the caches when their rows are whole cache lines: they
// are written once and not read here, so a store that first fetches each
// line and then evicts a state or input line for it is wasted. Measured
// with bench/ab_compare.cpp (T = 4096, H = 16, K = V = 128, AVX-512, one
// thread): linear attention 1.7 % faster, simple GLA 1.5 %, delta rule
// 0.8 %. far (the chunk that comes next, + or -): each streamed row asks
// for the page of the row that far away (page_mate), whose stores had
// waited on its page walk: the backward 0.93-0.98x (Zen 4 under KVM).
// The streamed stores are not fenced: the caller fences once, after its
// last (Vec::stream_fence); a fence per call waits for them to drain, and
// dropping the backward's took 0.94-0.99x the time.
template <class Vec>
inline void store_rows(const OutRows& out, int64_t c0, int64_t L, int64_t T, int64_t n,
                       const float* src, const float* a, float a_all, bool stream,
                       int64_t far = 0) {
  if (stream && out.is_f32() && rows::whole_lines<Vec>(n, out.ts, static_cast<float*>(out.p))) {
    for (int64_t i = 0; i < L; ++i) {
      const typename Vec::type va = Vec::set1(a ? a[i] : a_all);
      float* row = static_cast<float*>(out.at(c0 + i));
      const int64_t ahead = c0 + i + far;
      if (far != 0 && ahead >= 0 && ahead < T)
        if (const char* mate = page_mate(out.at(ahead), n * sizeof(float)))
          __builtin_prefetch(mate, 0, 0);
      for (int64_t x = 0; x < n; x += Vec::N)
        Vec::stream(row + x, Vec::mul(va, Vec::load(src + i * n + x)));
    }
    return;
  }
  // Half outputs are stored through the caches: half the bytes, and rows
  // of n halves are not whole lines at every n.
  const int64_t bytes = n * dtype_bytes(out.dt);
  for (int64_t i = 0; i < L; ++i) {
    if (c0 + i + kPrefetchRows < T)
      rows::prefetch_bytes<Vec>(out.at(c0 + i + kPrefetchRows), bytes, true);
    convert::narrow_scaled<Vec>(n, a ? a[i] : a_all, src + i * n, out.at(c0 + i), out.dt);
  }
}

// The chunk's output rows c0 .. c0+L-1 = a_i * src rows (a = nullptr: scale).
template <class Vec>
inline void store_outputs(const ScanTask& t, int64_t c0, int64_t L, const float* src,
                          const float* a) {
  store_rows<Vec>(t.o, c0, L, t.T, t.V, src, a, t.scale, t.stream_o);
  Vec::stream_fence();
}

// row[j] *= exp(Gi - G[j]) for j < n. One exponent of a difference:
// exp(G_i) * exp(-G_j) overflows for long chunks. Whole vectors run past n
// while they fit in the row's `width` floats (and G's): the caller
// overwrites those entries. A scalar tail (std::exp) for the short rows at
// the top of each chunk had been 2 % of simple GLA's samples in perf.
template <class Vec>
inline void decay_row(int64_t n, int64_t width, float Gi, const float* G, float* row) {
  const typename Vec::type vgi = Vec::set1(Gi);
  int64_t j = 0;
  for (; j < n && j + Vec::N <= width; j += Vec::N)
    Vec::store(row + j, Vec::mul(Vec::load(row + j), Vec::exp(Vec::sub(vgi, Vec::load(G + j)))));
  for (; j < n; ++j) row[j] *= std::exp(Gi - G[j]);
}

// A_ij = (X_i . K_j) exp(G_i - G_j) for j <= i (j < i when strict), zero
// elsewhere in the L x L block; row-major, leading dimension C.
// A short chunk's columns run to whole vectors where the rows hold them
// (KT's columns past L are zeros, A's past L are never read): its last
// columns would otherwise go one float at a time.
template <class Vec>
inline void causal_scores(int64_t L, int64_t K, int64_t C, const float* X, const float* KT,
                          const float* G, bool gated, bool strict, float* A) {
  const int64_t whole = (L + Vec::N - 1) / Vec::N * Vec::N;
  gemm::gemm_set<Vec>(gemm::kLowerC, L, whole <= C ? whole : L, K, X, K, 1, KT, C, A, C);
  for (int64_t i = 0; i < L; ++i) {
    const int64_t keep = strict ? i : i + 1;
    if (gated) decay_row<Vec>(keep, C, G[i], G, A + i * C);
    rows::fill<Vec>(L - keep, 0.0f, A + i * C + keep);
  }
}

// Out (L x V, row stride ldo) = X (L x K) S (K x V, row stride ldS), or
// += with accumulate.
template <class Vec>
inline void times_state(bool accumulate, int64_t L, int64_t K, int64_t V, const float* X,
                        const float* S, int64_t ldS, float* Out, int64_t ldo) {
  if (accumulate)
    gemm::gemm_acc<Vec>(gemm::kFull, L, V, K, X, K, 1, S, ldS, Out, ldo);
  else
    gemm::gemm_set<Vec>(gemm::kFull, L, V, K, X, K, 1, S, ldS, Out, ldo);
}

// Out += A U with A lower-triangular (L x L, leading dim C); U rows of V at
// stride ldu.
template <class Vec>
inline void add_causal_product(int64_t L, int64_t V, int64_t C, const float* A, const float* U,
                               int64_t ldu, float* Out, int64_t ldo) {
  gemm::gemm_acc<Vec>(gemm::kCausalK, L, V, L, A, C, 1, U, ldu, Out, ldo);
}

// S = exp(G_last) S + Kd^T U, Kd the decayed keys (L x K, read transposed
// in place through gemm's strides), U rows at stride ldu, S rows at ldS.
// With a per-channel gate (channel), G holds the decays P
// (channel_prefix_decays), and row k of S decays by P_(L-1),k.
template <class Vec>
inline void update_state(int64_t L, int64_t K, int64_t V, const float* Kd, const float* U,
                         int64_t ldu, const float* G, bool gated, bool channel, float* S,
                         int64_t ldS, float* copy) {
  if (channel)
    for (int64_t k = 0; k < K; ++k) rows::scal<Vec>(V, G[(L - 1) * K + k], S + k * ldS);
  else if (gated)
    for (int64_t k = 0; k < K; ++k) rows::scal<Vec>(V, std::exp(G[L - 1]), S + k * ldS);
  if (copy)
    gemm::gemm_acc_copy<Vec>(K, V, L, Kd, 1, K, U, ldu, S, ldS, copy);
  else
    gemm::gemm_acc<Vec>(gemm::kFull, K, V, L, Kd, 1, K, U, ldu, S, ldS);
}

}  // namespace chunk
}  // namespace fw
