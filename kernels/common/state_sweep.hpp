// The recurrent kernels' two sweeps over a K x V state, one block of NB
// vectors of columns at a time with the block's accumulators held in
// registers across all K rows (rows.hpp's per-row helpers reload and store
// them for every row: delta-rule decode at B = 64, HV = 32, K = V = 128 took
// 21.8 ms on one thread that way, 13.7 ms this way). Per element the
// operations and their order are those of rows::axpy and
// rows::update_and_read, so results do not depend on which path (or which
// column slice) computed a column.
#pragma once

#include <cstdint>

namespace fw {
namespace sweep {

constexpr int kNB = 2;  // vectors per column block

// d[0 : NB N) = sum_i k_i S_i[0 : NB N), i = 0 .. K-1 in order.
template <class Vec>
inline void read(int64_t K, const float* k, const float* S, int64_t ld, float* d) {
  typename Vec::type acc[kNB];
  for (int b = 0; b < kNB; ++b) acc[b] = Vec::zero();
  for (int64_t i = 0; i < K; ++i) {
    const typename Vec::type ki = Vec::set1(k[i]);
    for (int b = 0; b < kNB; ++b) acc[b] = Vec::fma(ki, Vec::load(S + i * ld + b * Vec::N), acc[b]);
  }
  for (int b = 0; b < kNB; ++b) Vec::store(d + b * Vec::N, acc[b]);
}

// For each row i: S_i = s S_i + k_i w;  acc += q_i S_i   (acc starts at 0).
template <class Vec>
inline void update_read(int64_t K, float s, float* S, int64_t ld, const float* k, const float* w,
                        const float* q, float* acc_out) {
  typename Vec::type acc[kNB], wv[kNB];
  const typename Vec::type vs = Vec::set1(s);
  for (int b = 0; b < kNB; ++b) {
    acc[b] = Vec::zero();
    wv[b] = Vec::load(w + b * Vec::N);
  }
  for (int64_t i = 0; i < K; ++i) {
    const typename Vec::type ki = Vec::set1(k[i]), qi = Vec::set1(q[i]);
    for (int b = 0; b < kNB; ++b) {
      float* p = S + i * ld + b * Vec::N;
      const typename Vec::type r = Vec::fma(ki, wv[b], Vec::mul(vs, Vec::load(p)));
      Vec::store(p, r);
      acc[b] = Vec::fma(qi, r, acc[b]);
    }
  }
  for (int b = 0; b < kNB; ++b) Vec::store(acc_out + b * Vec::N, acc[b]);
}

}  // namespace sweep
}  // namespace fw
