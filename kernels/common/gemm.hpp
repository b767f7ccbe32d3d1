// Register-blocked matrix multiply-accumulate, written once over a vector
// policy: every chunked-scan product (Q S, W S, T K, T V, Q K^T, A U,
// K^T U) is one call of gemm_acc, or of gemm_set for the first product into
// a block:
//
//   C[m x n] += A[m x k] * B[k x n]     (gemm_acc)
//   C[m x n]  = A[m x k] * B[k x n]     (gemm_set: the accumulators start at
//                                        zero, so C needs no zero fill and
//                                        is not read; the same bits)
//   A element (i, p) at A[i * a_rs + p * a_cs]  (any strides: K^T is read
//   in place); B and C row-major with contiguous rows (ldb, ldc).
//
// The micro-kernel keeps an MR x (NV vectors) block of C in registers and
// streams one row of B per step: NV loads and MR broadcasts feed MR * NV
// FMAs. Vec::kMR / Vec::kNV set the block per ISA (see vec_*.hpp for the
// figures that chose them).
//
// Triangular shapes, so that the causal parts cost half:
//  - kCausalK: row i of A is zero past column i (A lower-triangular, k == m):
//    each row stops its k loop at its diagonal (B rows past it are never
//    read, so a non-finite value there cannot reach earlier rows).
//  - kUpperK: row i of A is zero before column i (A upper-triangular, k ==
//    m; the transpose of a causal matrix, read in place): each row starts
//    its k loop at its diagonal, so B rows before it are never read.
//  - kLowerC: only C(i, j) with j <= i is wanted (n >= m): a column panel
//    skips the row blocks wholly above it. Entries above the diagonal inside
//    the blocks that are computed hold garbage, and with gemm_set those of
//    the skipped blocks are never written; the caller masks them.
#pragma once

#include <cstdint>

#include "kernels/common/rows.hpp"

namespace fw {
namespace gemm {

enum Shape { kFull = 0, kCausalK = 1, kLowerC = 2, kUpperK = 3 };

// kTriangle: then the diagonal block of a kCausalK product, A's columns and
// B's rows k .. k + MR - 1: row r takes those up to k + r only, unrolled so
// that all MR x NV accumulators stay in flight. Row by row (micro<1, NV>)
// it had NV chains of dependent FMAs: 40 GFLOP/s at L = 16 and 69 at
// L = 32, against 107-115 for the full products (AVX-512, one thread).
// Each accumulator sees the same FMAs in the same order either way.
// kLead: the block of a kUpperK product from its diagonal on: A's columns
// and B's rows 0 .. MR - 1 first, row r taking those from r on (the same
// unrolling), then the rest, rows MR .. k - 1, whole.
template <class Vec, int MR, int NV, bool kLoadC, bool kTriangle = false, bool kLead = false>
inline void micro(int64_t k, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                  int64_t ldb, float* C, int64_t ldc) {
  using B_t = typename Vec::type;
  B_t acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = kLoadC ? Vec::load(C + r * ldc + v * Vec::N) : Vec::zero();
  if (kLead) {
#pragma GCC unroll 16
    for (int p = 0; p < MR; ++p) {
      B_t b[NV];
      for (int v = 0; v < NV; ++v) b[v] = Vec::load(B + p * ldb + v * Vec::N);
#pragma GCC unroll 16
      for (int r = 0; r <= p; ++r) {
        const B_t a = Vec::set1(A[r * a_rs + p * a_cs]);
        for (int v = 0; v < NV; ++v) acc[r][v] = Vec::fma(a, b[v], acc[r][v]);
      }
    }
  }
  for (int64_t p = kLead ? MR : 0; p < k; ++p) {
    B_t b[NV];
    for (int v = 0; v < NV; ++v) b[v] = Vec::load(B + p * ldb + v * Vec::N);
    for (int r = 0; r < MR; ++r) {
      const B_t a = Vec::set1(A[r * a_rs + p * a_cs]);
      for (int v = 0; v < NV; ++v) acc[r][v] = Vec::fma(a, b[v], acc[r][v]);
    }
  }
  if (kTriangle) {
#pragma GCC unroll 16
    for (int p = 0; p < MR; ++p) {
      B_t b[NV];
      for (int v = 0; v < NV; ++v) b[v] = Vec::load(B + (k + p) * ldb + v * Vec::N);
#pragma GCC unroll 16
      for (int r = p; r < MR; ++r) {
        const B_t a = Vec::set1(A[r * a_rs + (k + p) * a_cs]);
        for (int v = 0; v < NV; ++v) acc[r][v] = Vec::fma(a, b[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) Vec::store(C + r * ldc + v * Vec::N, acc[r][v]);
}

// Rows [i, i + R) of a panel's columns [j0, j0 + NV * N), as one block.
template <class Vec, int R, int NV, bool kSet>
inline void block(int shape, int64_t k, int64_t i, int64_t j0, const float* A, int64_t a_rs,
                  int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (shape == kUpperK) {  // the block's rows from column i on (k == m > i + R - 1)
    micro<Vec, R, NV, !kSet, false, true>(k - i, A + i * a_rs + i * a_cs, a_rs, a_cs,
                                          B + i * ldb + j0, ldb, C + i * ldc + j0, ldc);
    return;
  }
  if (shape != kCausalK) {
    micro<Vec, R, NV, !kSet>(k, A + i * a_rs, a_rs, a_cs, B + j0, ldb, C + i * ldc + j0, ldc);
    return;
  }
  // The block's rows all take k < i; in the triangle k in [i, i + R)
  // (inside k, since k == m) each row stops at its diagonal. Running the
  // whole block to i + R would multiply B rows past a row's diagonal by A's
  // zeros, and 0 * Inf = NaN would leak a later token's Inf or NaN into
  // earlier rows.
  micro<Vec, R, NV, !kSet, true>(i, A + i * a_rs, a_rs, a_cs, B + j0, ldb, C + i * ldc + j0, ldc);
}

// Rows [i, i + R) across the column panels of NV vectors, panel by panel,
// then the vectors left one at a time: the block's R rows of A stay in L1
// while B streams through in rows. With three-vector panels (AVX2, NEON)
// the vectors past the last whole panel go as a panel of two, and a single
// one left over takes a panel back to make two of two: a block of 4 rows x
// 1 vector keeps 4 chains of dependent FMAs, half of what two FMA pipes
// need (AVX2 at chunk 16, whose backward products against S are 2 vectors
// wide, spent a fifth of KDA's backward in such blocks; docs/decisions.md).
// kLowerC: a panel skips the block when it lies wholly above the panel, and
// takes it one vector at a time (those vectors whose first row it reaches)
// while it lies above the panel's last vector (at chunk 32 on AVX-512, 6
// blocks of 8 x 16 instead of 8 for Q K^T).
template <class Vec, int R, bool kSet>
inline void row_block(int shape, int64_t n_vec, int64_t k, int64_t i, const float* A, int64_t a_rs,
                      int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc) {
  constexpr int MR = Vec::kMR, NV = Vec::kNV, N = Vec::N;
  // First row block a column starting at j needs under kLowerC.
  auto first_row = [&](int64_t j) -> int64_t { return shape == kLowerC ? j / MR * MR : 0; };
  const int64_t vectors = n_vec / N;
  int64_t panels = vectors / NV, pairs = 0;
  if (NV == 3 && vectors % NV == 2) pairs = 1;
  if (NV == 3 && vectors % NV == 1 && panels > 0) {
    --panels;
    pairs = 2;
  }
  const int64_t n_full = panels * NV * N, n_pairs = n_full + pairs * 2 * N;
  for (int64_t j = 0; j < n_full; j += NV * N) {
    if (i >= first_row(j + (NV - 1) * N)) {
      block<Vec, R, NV, kSet>(shape, k, i, j, A, a_rs, a_cs, B, ldb, C, ldc);
      continue;
    }
    for (int v = 0; v + 1 < NV; ++v)
      if (i >= first_row(j + v * N))
        block<Vec, R, 1, kSet>(shape, k, i, j + v * N, A, a_rs, a_cs, B, ldb, C, ldc);
  }
  if constexpr (NV > 2) {
    for (int64_t j = n_full; j < n_pairs; j += 2 * N) {
      if (i >= first_row(j + N))
        block<Vec, R, 2, kSet>(shape, k, i, j, A, a_rs, a_cs, B, ldb, C, ldc);
      else if (i >= first_row(j))
        block<Vec, R, 1, kSet>(shape, k, i, j, A, a_rs, a_cs, B, ldb, C, ldc);
    }
  }
  for (int64_t j = NV > 2 ? n_pairs : n_full; j < n_vec; j += N)
    if (i >= first_row(j)) block<Vec, R, 1, kSet>(shape, k, i, j, A, a_rs, a_cs, B, ldb, C, ldc);
}

// The last m - i < 2R rows: a block of R if they reach it, then halves. A
// short last chunk (L = 14 at chunk 16, say) ran its rows past the last
// block of MR one at a time, each a chain of dependent FMAs: the delta rule
// took 0.24 ms at T = 14 against 0.08 ms at T = 16 (H = 4, K = V = 128,
// AVX-512, one thread). Each accumulator sees the same FMAs in the same
// order either way.
template <class Vec, int R, bool kSet>
inline void tail_rows(int shape, int64_t m, int64_t n_vec, int64_t k, int64_t i, const float* A,
                      int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C,
                      int64_t ldc) {
  if constexpr (R > 1) {
    if (i + R <= m) {
      row_block<Vec, R, kSet>(shape, n_vec, k, i, A, a_rs, a_cs, B, ldb, C, ldc);
      i += R;
    }
    tail_rows<Vec, R / 2, kSet>(shape, m, n_vec, k, i, A, a_rs, a_cs, B, ldb, C, ldc);
  } else {
    // Every row left: with MR not a power of two (6), halving leaves up to
    // two (5 = 3 + 1 + 1).
    for (; i < m; ++i) row_block<Vec, 1, kSet>(shape, n_vec, k, i, A, a_rs, a_cs, B, ldb, C, ldc);
  }
}

// Row blocks outer, column panels inner: a block's rows of A are read from
// L1 for every panel, where panels outer streamed all of A once per panel.
// Paired A/B in the scans (T = 4096, H = 16, K = V = 128, one thread,
// Cascade Lake): AVX2 0.88-0.96 of the time, AVX-512 0.97-1.02
// (docs/decisions.md). Each accumulator sees the same FMAs in the same order
// either way.
// copy (kFull only; rows::whole_lines(n, ldc, copy)): each
// block of finished rows of C is also streamed past the caches into copy,
// while the next block computes (the backward's boundary states: a burst of
// 64 KB after the product had stalled the first pass; docs/decisions.md).
template <class Vec, bool kSet>
inline void gemm(int shape, int64_t m, int64_t n, int64_t k, const float* A, int64_t a_rs,
                 int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc,
                 float* copy = nullptr) {
  constexpr int MR = Vec::kMR, N = Vec::N;
  auto first_row = [&](int64_t j) -> int64_t { return shape == kLowerC ? j / MR * MR : 0; };
  const int64_t n_vec = n / N * N;
  auto copy_rows = [&](int64_t r0, int64_t r1) {
    if (copy) rows::stream_rows_unfenced<Vec>(r1 - r0, n, C + r0 * ldc, ldc, copy + r0 * ldc, ldc);
  };
  int64_t i = 0;
  for (; i + MR <= m; i += MR) {
    row_block<Vec, MR, kSet>(shape, n_vec, k, i, A, a_rs, a_cs, B, ldb, C, ldc);
    copy_rows(i, i + MR);
  }
  if (i < m) tail_rows<Vec, MR / 2, kSet>(shape, m, n_vec, k, i, A, a_rs, a_cs, B, ldb, C, ldc);
  copy_rows(i, m);
  if (copy) Vec::stream_fence();
  // Scalar tail columns (fewer than one vector).
  const int64_t j = n_vec;
  if (j == n) return;
  for (int64_t r = first_row(j); r < m; ++r) {
    const int64_t kk = shape == kCausalK ? (r + 1 < k ? r + 1 : k) : k;
    const int64_t p0 = shape == kUpperK ? r : 0;
    for (int64_t c = j; c < n; ++c) {
      float s = kSet ? 0.0f : C[r * ldc + c];
      for (int64_t p = p0; p < kk; ++p) s = Vec::fma1(A[r * a_rs + p * a_cs], B[p * ldb + c], s);
      C[r * ldc + c] = s;
    }
  }
}

template <class Vec>
inline void gemm_acc(int shape, int64_t m, int64_t n, int64_t k, const float* A, int64_t a_rs,
                     int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc) {
  gemm<Vec, false>(shape, m, n, k, A, a_rs, a_cs, B, ldb, C, ldc);
}

// gemm_acc with C's finished rows also streamed into copy (gemm's copy).
template <class Vec>
inline void gemm_acc_copy(int64_t m, int64_t n, int64_t k, const float* A, int64_t a_rs,
                          int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc,
                          float* copy) {
  gemm<Vec, false>(kFull, m, n, k, A, a_rs, a_cs, B, ldb, C, ldc, copy);
}

template <class Vec>
inline void gemm_set(int shape, int64_t m, int64_t n, int64_t k, const float* A, int64_t a_rs,
                     int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc) {
  gemm<Vec, true>(shape, m, n, k, A, a_rs, a_cs, B, ldb, C, ldc);
}

}  // namespace gemm
}  // namespace fw
