// The recurrent kernels' sweeps over a K x V state, one block of
// block_vectors() vectors of columns at a time with the block's sums in
// registers (per-row helpers that reload and store them for every row made
// delta-rule decode at B = 64, HV = 32, K = V = 128 take 21.8 ms on one
// thread instead of 13.7).
//
// Lane-split sums. A sum over the K rows (k S, q S) is kept as N partial
// sums (N = Vec::N), row i adding into partial i mod N in row order, and
// the partials are then added in a halving tree (partial l + partial
// l + N/2, ..., Vec::tree_sum's order). That is the order in which a V-first
// state row's dot product runs on N-wide vectors (each lane in row order,
// then the lanes halved), so these K-first sweeps and the V-first kernels
// give the same bits. Where the block's N x block_vectors partial vectors do
// not fit the registers at once, the sweeps visit the rows a few partials at
// a time (rows l, l + N, l + 2N, ...; lane_split_sum): keeping all of them
// for one vector of columns instead cost 43 % more loads per FMA and 27 %
// on AVX-512 decode (docs/decisions.md).
// Linear attention splits its q S Vec::kSumLanes ways instead (8 on
// AVX-512; vec_xsimd.hpp, LaneSums), update_read_rows' P.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/common/rows.hpp"

namespace fw {
namespace sweep {

// Vectors per column block, and partials formed side by side
// (lane_split_sum: rows go in runs of that many), as the registers allow
// beside the N/2 x 2 pending sums. AVX-512 (32 registers): eight partials;
// delta-rule decode at B = 64, HV = 32, K = V = 128 (one thread) took
// 1.05-1.06x ABI 0's time with four and 1.14x in cache (T = 256, H = 4),
// with eight 1.03-1.05x and 1.07x. AVX2 (16 registers): two partials,
// 1.17-1.19x and 1.36x (one-vector blocks with all eight partials, rows in
// order: 1.22x and 1.68x). Four-wide vectors and scalars: every partial.
template <class Vec>
constexpr int block_vectors() {
  return 2;
}
template <class Vec>
constexpr int partials_at_once() {
  return Vec::N == 8 ? 2 : Vec::N < 8 ? Vec::N : 8;
}

// out[0 : NB N) = the lane-split sum over rows 0 .. K-1 of a block of NB
// vectors (block_vectors(), or one for a partial block's whole vectors; a
// column's sum is the same either way): row(i, acc) adds row i's term into acc[NB]. The rows go
// partial by partial, partials_at_once() at a time, and the tree's first level is taken as the
// partials arrive (partial l + N/2 onto partial l), so the N/2 pending sums stay in registers (16
// vectors on AVX-512); the rest of the tree follows. Partials past K (K < N) are never formed: they
// would be zeros, which change no sum (a partial is never -0, so x + 0 is x).
template <class Vec, int kNB, class Row>
inline void lane_split_sum(int64_t K, Row&& row, float* out) {
  using V = typename Vec::type;
  constexpr int N = Vec::N, H = N / 2 > 0 ? N / 2 : 1, P = partials_at_once<Vec>();
  V held[H][kNB];
  for (int l = 0; l < H; ++l)
    for (int x = 0; x < kNB; ++x) held[l][x] = Vec::zero();
  const int used = K < N ? static_cast<int>(K) : N;
#pragma GCC unroll 16
  for (int l0 = 0; l0 < N; l0 += P) {
    if (l0 >= used) break;
    V acc[P][kNB];
    for (int p = 0; p < P; ++p)
      for (int x = 0; x < kNB; ++x) acc[p][x] = Vec::zero();
    for (int64_t i = l0; i < K; i += N)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p)
        if (i + p < K) row(i + p, acc[p]);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const int l = l0 + p;
      if (l >= used) break;
      for (int x = 0; x < kNB; ++x) {
        if (N == 1 || l < N / 2)
          held[l % H][x] = acc[p][x];
        else
          held[l - N / 2][x] = Vec::add(held[l - N / 2][x], acc[p][x]);
      }
    }
  }
  const int pending = used < H ? used : H;
#pragma GCC unroll 16
  for (int h = N / 4; h >= 1; h /= 2)
#pragma GCC unroll 16
    for (int l = 0; l < h; ++l)
      if (l + h < pending)
        for (int x = 0; x < kNB; ++x) held[l][x] = Vec::add(held[l][x], held[l + h][x]);
  for (int x = 0; x < kNB; ++x) Vec::store(out + x * N, held[0][x]);
}

// d[0 : NB N) = sum_i k_i S_i[0 : NB N), lane-split over i.
template <class Vec, int kNB = block_vectors<Vec>()>
inline void read(int64_t K, const float* k, const float* S, int64_t ld, float* d) {
  using V = typename Vec::type;
  constexpr int N = Vec::N;
  lane_split_sum<Vec, kNB>(
      K,
      [&](int64_t i, V* acc) {
        const V ki = Vec::set1(k[i]);
        for (int x = 0; x < kNB; ++x) acc[x] = Vec::fma(ki, Vec::load(S + i * ld + x * N), acc[x]);
      },
      d);
}

// For each row i: S_i = s S_i + k_i w;  out = sum_i q_i S_i, lane-split.
// kRows: row i's own s_rows[i] instead of s (a per-channel gate).
template <class Vec, bool kRows = false, int kNB = block_vectors<Vec>()>
inline void update_read(int64_t K, float s, const float* s_rows, float* S, int64_t ld,
                        const float* k, const float* w, const float* q, float* out) {
  using V = typename Vec::type;
  constexpr int N = Vec::N;
  const V vs = Vec::set1(s);
  V wv[kNB];
  for (int x = 0; x < kNB; ++x) wv[x] = Vec::load(w + x * N);
  lane_split_sum<Vec, kNB>(
      K,
      [&](int64_t i, V* acc) {
        const V ki = Vec::set1(k[i]), qi = Vec::set1(q[i]);
        const V si = kRows ? Vec::set1(s_rows[i]) : vs;
        for (int x = 0; x < kNB; ++x) {
          float* p = S + i * ld + x * N;
          const V r = Vec::fma(ki, wv[x], Vec::mul(si, Vec::load(p)));
          Vec::store(p, r);
          acc[x] = Vec::fma(qi, r, acc[x]);
        }
      },
      out);
}

// Column vectors update_read_rows sums in registers at once: a whole
// 128-wide row on AVX-512, half of one on AVX2. Only AVX-512 (32 registers)
// holds the token's values beside them; the others load them again for
// each row (on AVX2, four vectors with the values held took 1.9x the time
// in cache, T = 256, H = 4, K = V = 128, Zen 4).
template <class Vec>
constexpr int row_sweep_vectors() {
  return Vec::N >= 8 ? 8 : 4;
}

// The token's values for kNV column vectors, held in registers on AVX-512
// (row_sweep_vectors); elsewhere update_vector loads them again.
template <class Vec, int kNV>
[[gnu::always_inline]] inline void hold_values(const float* v, typename Vec::type* vv) {
#pragma GCC unroll 8
  for (int x = 0; x < kNV; ++x) vv[x] = Vec::N == 16 ? Vec::load(v + x * Vec::N) : Vec::zero();
}

// Column vector x of a state row, s_i row + k_i v, stored back and returned.
template <class Vec>
[[gnu::always_inline]] inline typename Vec::type update_vector(typename Vec::type si,
                                                               typename Vec::type ki,
                                                               const typename Vec::type* vv,
                                                               const float* v, float* row, int x) {
  constexpr int N = Vec::N;
  const typename Vec::type r =
      Vec::fma(ki, N == 16 ? vv[x] : Vec::load(v + x * N), Vec::mul(si, Vec::load(row + x * N)));
  Vec::store(row + x * N, r);
  return r;
}

// update_read_rows on rows [i0, i1) (i1 - i0 <= R P) and kNV vectors of
// columns from S, v and lanes (offset to them): partial row l takes rows
// i0 + l, i0 + l + P, .. in registers, starting from zero when `first`,
// and goes back to lanes once. ask_ahead > 0: each row visited asks for
// the row that far ahead. Always inlined: out of line (GCC's choice with
// two callers) decode took 1.03x the time on Zen 4.
template <class Vec, int P, int kNV>
[[gnu::always_inline]] inline void update_read_block(bool first, int64_t i0, int64_t i1,
                                                     int64_t used, float s, const float* s_rows,
                                                     float* S, int64_t ld, const float* k,
                                                     const float* v, const float* q, float* lanes,
                                                     int64_t V, int64_t ask_ahead, int64_t K) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  VT vv[kNV];
  hold_values<Vec, kNV>(v, vv);
  for (int64_t l = 0; l < used; ++l) {
    float* part = lanes + l * V;
    VT acc[kNV];
#pragma GCC unroll 8
    for (int x = 0; x < kNV; ++x) acc[x] = first ? Vec::zero() : Vec::load(part + x * N);
    for (int64_t i = i0 + l; i < i1; i += P) {
      if (ask_ahead > 0 && i + ask_ahead < K)
        rows::prefetch<Vec>(S + (i + ask_ahead) * ld, kNV * N, true);
      const VT si = Vec::set1(s_rows ? s_rows[i] : s), ki = Vec::set1(k[i]), qi = Vec::set1(q[i]);
#pragma GCC unroll 8
      for (int x = 0; x < kNV; ++x)
        acc[x] = Vec::fma(qi, update_vector<Vec>(si, ki, vv, v, S + i * ld, x), acc[x]);
    }
#pragma GCC unroll 8
    for (int x = 0; x < kNV; ++x) Vec::store(part + x * N, acc[x]);
  }
}

// update_read_block with one row per partial (R = 1: rows [i0, i1), row
// i0 + l into partial l), in address order: each column vector's partial is
// loaded, added to and stored right beside the row's own vector, not
// loaded before the row and stored after it. The same operations, so the
// same bits. Decode (B = 64, HV = 32, K = V = 128, AVX-512, one thread,
// Zen 4): 0.88-0.93x the time of update_read_block's order (GLA, simple
// GLA, linear attention; the delta rules' second sweep 0.98-0.99); one
// function for both, the order a template flag, took 1.02-1.03x this one's.
// kFirst (the first rows: partials from zero) a copy of its own: 0.97-0.99x
// again on AVX-512 (the delta rules 0.93-0.98), AVX2 the same; with the P
// rows unrolled as well, 1.06-1.10x.
template <class Vec, int kNV, bool kFirst>
[[gnu::always_inline]] inline void update_read_block_rows(int64_t i0, int64_t i1, float s,
                                                          const float* s_rows, float* S, int64_t ld,
                                                          const float* k, const float* v,
                                                          const float* q, float* lanes, int64_t V,
                                                          int64_t ask_ahead, int64_t K) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  VT vv[kNV];
  hold_values<Vec, kNV>(v, vv);
  for (int64_t i = i0; i < i1; ++i) {
    if (ask_ahead > 0 && i + ask_ahead < K)
      rows::prefetch<Vec>(S + (i + ask_ahead) * ld, kNV * N, true);
    const VT si = Vec::set1(s_rows ? s_rows[i] : s), ki = Vec::set1(k[i]), qi = Vec::set1(q[i]);
    float* part = lanes + (i - i0) * V;
#pragma GCC unroll 8
    for (int x = 0; x < kNV; ++x) {
      const VT r = update_vector<Vec>(si, ki, vv, v, S + i * ld, x);
      Vec::store(part + x * N, Vec::fma(qi, r, kFirst ? Vec::zero() : Vec::load(part + x * N)));
    }
  }
}

// update_read_rows row by row, in address order, each row's sum added into
// its partial row in L1. Out of line: inside update_read_rows GCC reloaded a
// pointer from the stack in the rows' loop (AVX2 decode, B = 64, HV = 32,
// K = V = 128, Zen 4: linear attention 1.03-1.06x this function's time, the
// delta rule's first-token sweep 1.16-1.27x).
template <class Vec, int P>
__attribute__((noinline)) void update_read_rows_in_order(int64_t K, int64_t w, float s,
                                                         const float* s_rows, float* S, int64_t ld,
                                                         const float* k, const float* v,
                                                         const float* q, float* lanes, int64_t V,
                                                         int64_t ask_ahead) {
  for (int64_t i = 0; i < K; ++i) {
    if (ask_ahead > 0 && i + ask_ahead < K) rows::prefetch<Vec>(S + (i + ask_ahead) * ld, w, true);
    const float si = s_rows ? s_rows[i] : s;
    if (i < P)
      rows::update_and_read<Vec, true>(w, si, S + i * ld, k[i], v, q[i], lanes + i * V);
    else
      rows::update_and_read<Vec>(w, si, S + i * ld, k[i], v, q[i], lanes + (i % P) * V);
  }
}

// For each row i < K of a K x w block: S_i = s_i S_i + k_i v (s_i = s, or
// s_rows[i]); partial row l < min(K, P) of lanes (row stride V) = the sum
// of q_i S_i over rows i = l, l + P, l + 2P, .., in that order: the
// lane-split order above with P partials (P = N, or Vec::kSumLanes for
// linear attention). The rows go R P at a time, each partial's rows
// of them summed in registers, so that a state vector costs one store plus
// 1/R of a partial's. R = 1 visits the rows in address order, for a state
// streamed from memory (update_read_block_rows); a larger R suits a state
// in cache. Figures: Zen 4, one thread, K = V = 128, linear attention;
// decode is B = 64, HV = 32, in cache T = 256, H = 4:
//   - R = 8 (P = 16) in cache took 0.71-0.75x R = 1's time (AVX-512 and
//     AVX2), at decode 1.19x (any order but the rows' own slows a stream
//     from memory: two column halves per 16 rows took 1.9x);
//   - the sweep before, which added each row into its partial row in L1,
//     took 1.03x this one's time at decode and 1.4x in cache.
template <class Vec, int R, int P = Vec::N>
inline void update_read_rows(int64_t K, int64_t w, float s, const float* s_rows, float* S,
                             int64_t ld, const float* k, const float* v, const float* q,
                             float* lanes, int64_t V, int64_t ask_ahead) {
  // Vectors per register block: update_read_block_rows (R = 1) holds no
  // sums, so AVX2 takes a whole 128-wide row there (the delta rules' decode,
  // B = 64, HV = 32, K = V = 128, Zen 4: 0.86-0.89x the time of 8 vectors;
  // linear attention the same).
  constexpr int N = Vec::N, W = R == 1 && N == 8 ? 16 : row_sweep_vectors<Vec>();
  const int64_t used = K < P ? K : P;
  // Rows wider than a register block go row by row, in address order
  // (column block by column block over each run of P rows made AVX2 decode
  // take 1.48x the time); for every token on NEON and scalar, whose blocks
  // (a quarter of a 128-wide row or less) no one has timed.
  if ((R == 1 || N < 8) && w > W * N)
    return update_read_rows_in_order<Vec, P>(K, w, s, s_rows, S, ld, k, v, q, lanes, V, ask_ahead);
  for (int64_t i0 = 0; i0 < K; i0 += R * P) {
    const int64_t i1 = K - i0 < R * P ? K : i0 + R * P;
    // Register blocks of W vectors, then the rest in one block of 8, 4, 2 or 1
    // (single vectors, four passes over rows of 64 floats, made decode at
    // K = V = 64 take 1.9x ABI 0's time on AVX-512).
    int64_t c = 0;
    auto block = [&](auto nv) {  // returns the columns it did
      constexpr int kNV = decltype(nv)::value;
      if (R == 1 && i0 == 0)
        update_read_block_rows<Vec, kNV, true>(i0, i1, s, s_rows, S + c, ld, k, v + c, q, lanes + c,
                                               V, ask_ahead, K);
      else if (R == 1)
        update_read_block_rows<Vec, kNV, false>(i0, i1, s, s_rows, S + c, ld, k, v + c, q,
                                                lanes + c, V, ask_ahead, K);
      else
        update_read_block<Vec, P, kNV>(i0 == 0, i0, i1, used, s, s_rows, S + c, ld, k, v + c, q,
                                       lanes + c, V, ask_ahead, K);
      return kNV * N;
    };
    while (c + W * N <= w) c += block(std::integral_constant<int, W>());
    if (W > 8 && c + 8 * N <= w) c += block(std::integral_constant<int, 8>());
    if (W > 4 && c + 4 * N <= w) c += block(std::integral_constant<int, 4>());
    if (c + 2 * N <= w) c += block(std::integral_constant<int, 2>());
    if (c + N <= w) c += block(std::integral_constant<int, 1>());
    for (; c < w; ++c)  // columns past the last whole vector
      for (int64_t l = 0; l < used; ++l) {
        float acc = i0 == 0 ? 0.0f : lanes[l * V + c];
        for (int64_t i = i0 + l; i < i1; i += P) {
          const float r = Vec::fma1(k[i], v[c], (s_rows ? s_rows[i] : s) * S[i * ld + c]);
          S[i * ld + c] = r;
          acc = Vec::fma1(q[i], r, acc);
        }
        lanes[l * V + c] = acc;
      }
  }
}

// The halving tree over `used` rows of partial sums (row l at lanes + l *
// V, V floats each; used <= P), into row 0: the kernels that keep
// their partials in rows of L1 instead of registers. (fma(1, x, y) is x + y
// rounded once, as the register tree's adds are.)
template <class Vec, int P = Vec::N>
inline void lane_rows_tree(int64_t used, int64_t V, float* lanes) {
  for (int h = P / 2; h >= 1; h /= 2)
    for (int l = 0; l < h && l + h < used; ++l)
      rows::axpy<Vec>(V, 1.0f, lanes + (l + h) * V, lanes + l * V);
}

// The halving tree over one column's Vec::N partial sums, into acc[0]
// (templated on Vec, as every helper here: each ISA file keeps its own copy).
template <class Vec>
inline float column_tree(float* acc) {
  for (int h = Vec::N / 2; h >= 1; h /= 2)
    for (int l = 0; l < h; ++l) acc[l] = acc[l] + acc[l + h];
  return acc[0];
}

// The same two sweeps one column at a time, for a partial block's last
// columns (fewer than a vector).
template <class Vec>
inline float read_column(int64_t K, const float* k, const float* S, int64_t ld) {
  constexpr int N = Vec::N;
  float acc[N] = {};
  for (int64_t i = 0; i < K; ++i) acc[i % N] = Vec::fma1(k[i], S[i * ld], acc[i % N]);
  return column_tree<Vec>(acc);
}

template <class Vec>
inline float update_read_column(int64_t K, float s, const float* s_rows, float* S, int64_t ld,
                                const float* k, float w, const float* q) {
  constexpr int N = Vec::N;
  float acc[N] = {};
  for (int64_t i = 0; i < K; ++i) {
    const float r = Vec::fma1(k[i], w, (s_rows ? s_rows[i] : s) * S[i * ld]);
    S[i * ld] = r;
    acc[i % N] = Vec::fma1(q[i], r, acc[i % N]);
  }
  return column_tree<Vec>(acc);
}

}  // namespace sweep
}  // namespace fw
