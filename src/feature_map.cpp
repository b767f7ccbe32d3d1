// Feature-map entry points: check, then map rows on the active backend,
// rows split over threads in fixed contiguous blocks.
#include <cmath>
#include <initializer_list>

#include "dispatch/backend.hpp"
#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"
#include "src/favor_projection.hpp"
#include "src/layout.hpp"
#include "src/struct_args.hpp"
#include "src/threads.hpp"
#include "src/workspace.hpp"

namespace fw {
namespace {

constexpr int64_t kMaxFeatures = int64_t{1} << 20;

fw_status output_dim(const fw_feature_map_args* a, int64_t* dim) {
  switch (a->kind) {
    case FW_FEATURE_IDENTITY:
    case FW_FEATURE_ELU_PLUS_ONE:
    case FW_FEATURE_RELU:
    case FW_FEATURE_SUM_NORM:
    case FW_FEATURE_L2_NORM: *dim = a->dim; return FW_OK;
    case FW_FEATURE_DPFP:
      if (a->nu < 1 || a->nu >= 2 * a->dim) return FW_ERR_INVALID_ARGUMENT;
      *dim = 2 * a->nu * a->dim;
      return FW_OK;
    case FW_FEATURE_FAVOR_PLUS:
      if (a->num_features < 1 || a->num_features > kMaxFeatures) return FW_ERR_INVALID_ARGUMENT;
      *dim = a->num_features;
      return FW_OK;
  }
  return FW_ERR_UNSUPPORTED;
}

// Checks shared by fw_feature_map_dim and fw_feature_map: *a = the
// caller's struct as this library reads it, *out_dim on FW_OK.
fw_status check(const fw_feature_map_args* caller, fw_feature_map_args* a, int64_t* out_dim) {
  const fw_status s = read_struct(caller, a);
  if (s != FW_OK) return s;
  for (const fw_tensor* t : {&a->x, &a->out}) {
    if (t->reserved != 0) return FW_ERR_INVALID_ARGUMENT;
    if (t->data && t->dtype != FW_DTYPE_F32 && t->dtype != FW_DTYPE_F16 &&
        t->dtype != FW_DTYPE_BF16)
      return FW_ERR_UNSUPPORTED;
  }
  if (a->backend != FW_BACKEND_AUTO &&
      !fw::dispatch::is_supported(static_cast<fw_backend>(a->backend)))
    return FW_ERR_BACKEND_UNAVAILABLE;
  if (a->dim < 1 || a->dim > FW_MAX_HEAD_DIM || a->rows < 0) return FW_ERR_INVALID_DIMENSION;
  if (!std::isfinite(a->eps) || a->eps < 0.0f) return FW_ERR_INVALID_ARGUMENT;
  return output_dim(a, out_dim);
}

}  // namespace
}  // namespace fw

extern "C" {

FW_API fw_status fw_feature_map_dim(const fw_feature_map_args* args, int64_t* out_dim) {
  if (!out_dim) return FW_ERR_NULL_POINTER;
  int64_t d = 0;
  fw_feature_map_args a;
  const fw_status s = fw::check(args, &a, &d);
  if (s == FW_OK) *out_dim = d;
  return s;
}

FW_API fw_status fw_feature_map(const fw_feature_map_args* args) {
  int64_t out_dim = 0;
  fw_feature_map_args args_read;
  const fw_feature_map_args* a = &args_read;
  const fw_status s = fw::check(args, &args_read, &out_dim);
  if (s != FW_OK) return s;
  if (a->rows < 1) return FW_ERR_INVALID_DIMENSION;
  if (!a->x.data || !a->out.data) return FW_ERR_NULL_POINTER;
  const int64_t x_rs = a->x.stride[0], out_rs = a->out.stride[0];
  if (x_rs < 0 || out_rs < 0) return FW_ERR_INVALID_STRIDE;
  if ((a->dim > 1 && a->x.stride[1] != 1) || (out_dim > 1 && a->out.stride[1] != 1))
    return FW_ERR_INVALID_STRIDE;
  const fw::Layout in = {2, {a->rows, a->dim}, {x_rs, 1}};
  const fw::Layout out = {2, {a->rows, out_dim}, {out_rs, 1}};
  const fw::Dtype x_dt = static_cast<fw::Dtype>(a->x.dtype),
                  out_dt = static_cast<fw::Dtype>(a->out.dtype);
  const int64_t x_bytes = fw::dtype_bytes(x_dt), out_bytes = fw::dtype_bytes(out_dt);
  int64_t in_span = 0, out_span = 0;
  if (!fw::layout_span(in, x_bytes, &in_span) || !fw::layout_span(out, out_bytes, &out_span))
    return FW_ERR_INVALID_DIMENSION;
  if (!fw::layout_is_injective(out)) return FW_ERR_INVALID_STRIDE;
  if (fw::ranges_overlap(a->x.data, in_span * x_bytes, a->out.data, out_span * out_bytes))
    return FW_ERR_ALIASING;

  const bool favor = a->kind == FW_FEATURE_FAVOR_PLUS;
  const int64_t m = a->num_features, d = a->dim;
  fw::Workspace proj(favor ? m * d : 0);
  fw::Workspace scratch(favor ? 2 * fw::favor_projection_scratch(d) : 0);  // doubles
  if (!proj.get() || !scratch.get()) return FW_ERR_OUT_OF_MEMORY;
  if (favor)
    fw::favor_projection(d, m, a->seed, reinterpret_cast<double*>(scratch.get()), proj.get());

  const fw::KernelTable& kt = *fw::dispatch::table_for_call(a->backend);
  int64_t threads = fw::num_threads();
  if (threads > a->rows) threads = a->rows;
  // Half rows are mapped in fp32 scratch (feature_maps.hpp), a row in and
  // a row out per thread.
  const bool half = x_dt != fw::Dtype::f32 || out_dt != fw::Dtype::f32;
  const int64_t row_floats = d + out_dim;
  fw::Workspace rows_ws(half ? threads * row_floats : 0);
  if (half && !rows_ws.get()) return FW_ERR_OUT_OF_MEMORY;
#pragma omp parallel for num_threads(static_cast <int>(threads)) schedule(static, 1)
  for (int64_t part = 0; part < threads; ++part) {
    const int64_t r0 = a->rows * part / threads, r1 = a->rows * (part + 1) / threads;
    fw::FeatureMapTask t;
    t.kind = a->kind;
    t.rows = r1 - r0;
    t.dim = d;
    t.out_dim = out_dim;
    t.x = fw::InRows{a->x.data, x_rs, x_dt}.from(r0);
    t.out = fw::OutRows{a->out.data, out_rs, out_dt}.from(r0);
    t.ws = half ? rows_ws.get() + part * row_floats : nullptr;
    t.nu = a->nu;
    t.m = m;
    t.proj = proj.get();
    t.eps = a->eps;
    kt.feature_map(t);
  }
  return FW_OK;
}

FW_API fw_status fw_favor_plus_projection(int64_t dim, int64_t num_features, uint64_t seed,
                                          float* out) {
  if (!out) return FW_ERR_NULL_POINTER;
  if (dim < 1 || dim > FW_MAX_HEAD_DIM || num_features < 1 || num_features > fw::kMaxFeatures)
    return FW_ERR_INVALID_DIMENSION;
  fw::Workspace scratch(2 * fw::favor_projection_scratch(dim));
  if (!scratch.get()) return FW_ERR_OUT_OF_MEMORY;
  fw::favor_projection(dim, num_features, seed, reinterpret_cast<double*>(scratch.get()), out);
  return FW_OK;
}

}  // extern "C"
