// The contract between the API layer (src/) and the per-ISA kernels.
//
// Kernels see only these plain structs: never the public C structs, never an
// allocator. One ScanTask is one (sequence, value head) pair; the API layer
// resolves heads, batches and cu_seqlens into base pointers and time strides,
// and hands each thread its own workspace of scan_workspace_floats() floats.
#pragma once

#include <cstdint>

namespace fw {

struct ScanTask {
  const float* q;     // row t at q + t * q_ts, K floats
  const float* k;     // row t at k + t * k_ts, K floats
  const float* v;     // row t at v + t * v_ts, V floats
  const float* g;     // log-decay at g[t * g_ts]; nullptr = ungated
  const float* beta;  // beta at beta[t * beta_ts]; delta rules only
  float* o;           // row t at o + t * o_ts, V floats
  int64_t q_ts, k_ts, v_ts, g_ts, beta_ts, o_ts;
  int64_t T, K, V;
  int64_t chunk;      // chunked kernels only
  float scale;        // applied to every output row (not with normalize)
  float eps;          // normalize denominator term
  bool qk_l2norm;
  bool normalize;     // linear attention only: divide by q . z + eps
  float* S;           // K x V state, read and updated in place; row i at
  int64_t S_ld;       //   S + i * S_ld (V, or wider when V is one slice)
  float* z;           // K normaliser state (normalize only), in place
  float* ws;          // scan_workspace_floats(K, V, chunk) floats
};

// Floats of per-thread workspace any scan kernel may use. Recurrent kernels
// use the first 2K + 2V; chunked ones the rest too (Q, K, scaled K, W and
// K transposed: C x K; U, O: C x V; two C x C matrices; gates, betas: C).
inline int64_t scan_workspace_floats(int64_t K, int64_t V, int64_t chunk) {
  return 2 * K + 2 * V + 5 * chunk * K + 2 * chunk * V + 2 * chunk * chunk +
         2 * chunk;
}

struct FeatureMapTask {
  int32_t kind;       // fw_feature_map_kind
  int64_t rows, dim;  // input rows of dim floats
  const float* x;
  int64_t x_rs;       // row stride, elements
  float* out;
  int64_t out_rs;
  int32_t nu;         // DPFP
  int64_t m;          // FAVOR+ features
  const float* proj;  // FAVOR+ projection, m x dim
  float eps;
};

using ScanFn = void (*)(const ScanTask&);
using FeatureMapFn = void (*)(const FeatureMapTask&);

// One backend: every kernel of the library, compiled for one ISA.
struct KernelTable {
  ScanFn linear_attn_recurrent;  // also gated (g != nullptr) and normalize
  ScanFn linear_attn_chunk;
  ScanFn delta_rule_recurrent;   // also gated
  ScanFn delta_rule_chunk;
  FeatureMapFn feature_map;
};

}  // namespace fw
