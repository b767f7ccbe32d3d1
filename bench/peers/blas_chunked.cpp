#include "bench/peers/blas_chunked.hpp"

#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace fwbench {

void blas_set_single_threaded() { openblas_set_num_threads(1); }

namespace {

// Row-major [L x D] copies of one head's rows out of [B, T, H, D].
void gather(const float* src, int64_t row_stride, int64_t L, int64_t D, float* dst) {
  for (int64_t i = 0; i < L; ++i) std::memcpy(dst + i * D, src + i * row_stride, D * sizeof(float));
}

void chunked_pair(ScanProblem& p, int64_t b, int64_t hv, int64_t C, bool delta) {
  const int64_t T = p.T, H = p.H, HV = p.HV, K = p.K, V = p.V, h = hv / (HV / H);
  const float scale = 1.0f / std::sqrt(float(K));
  std::vector<float> Q(C * K), Kc(C * K), U(C * V), O(C * V), A(C * C), W(C * K);
  float* S = p.state.data() + (b * HV + hv) * K * V;
  std::memset(S, 0, sizeof(float) * K * V);
  for (int64_t c0 = 0; c0 < T; c0 += C) {
    const int L = int(T - c0 < C ? T - c0 : C);
    gather(&p.q[((b * T + c0) * H + h) * K], H * K, L, K, Q.data());
    gather(&p.k[((b * T + c0) * H + h) * K], H * K, L, K, Kc.data());
    gather(&p.v[((b * T + c0) * HV + hv) * V], HV * V, L, V, U.data());
    if (delta) {
      const float* beta = &p.beta[(b * T + c0) * HV + hv];
      // A = strict_lower(diag(beta) K K^T); (I + A) W = diag(beta) K, same for U.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, int(K), 1.0f, Kc.data(), int(K),
                  Kc.data(), int(K), 0.0f, A.data(), int(C));
      for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j) A[i * C + j] = j < i ? A[i * C + j] * beta[i * HV] : 0.0f;
      for (int i = 0; i < L; ++i) {
        for (int64_t x = 0; x < K; ++x) W[i * K + x] = Kc[i * K + x] * beta[i * HV];
        for (int64_t x = 0; x < V; ++x) U[i * V + x] *= beta[i * HV];
      }
      cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, L, int(K), 1.0f,
                  A.data(), int(C), W.data(), int(K));
      cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, L, int(V), 1.0f,
                  A.data(), int(C), U.data(), int(V));
      // U' = U - W S
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, int(V), int(K), -1.0f, W.data(),
                  int(K), S, int(V), 1.0f, U.data(), int(V));
    }
    // O = Q S + tril(Q K^T) U; S += K^T U
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, int(V), int(K), 1.0f, Q.data(),
                int(K), S, int(V), 0.0f, O.data(), int(V));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, int(K), 1.0f, Q.data(), int(K),
                Kc.data(), int(K), 0.0f, A.data(), int(C));
    for (int i = 0; i < L; ++i)
      for (int j = i + 1; j < L; ++j) A[i * C + j] = 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, int(V), L, 1.0f, A.data(), int(C),
                U.data(), int(V), 1.0f, O.data(), int(V));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(K), int(V), L, 1.0f, Kc.data(), int(K),
                U.data(), int(V), 1.0f, S, int(V));
    for (int i = 0; i < L; ++i)
      for (int64_t x = 0; x < V; ++x)
        p.o[((b * T + c0 + i) * HV + hv) * V + x] = scale * O[i * V + x];
  }
}

void run(ScanProblem& p, int64_t chunk, int threads, bool delta) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t pair = 0; pair < p.B * p.HV; ++pair)
    chunked_pair(p, pair / p.HV, pair % p.HV, chunk, delta);
}

}  // namespace

void blas_chunked_linear_attn(ScanProblem& p, int64_t chunk, int threads) {
  run(p, chunk, threads, false);
}
void blas_chunked_delta_rule(ScanProblem& p, int64_t chunk, int threads) {
  run(p, chunk, threads, true);
}

}  // namespace fwbench
