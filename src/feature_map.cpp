// Feature-map entry points, forward and backward: check, then map rows on
// the active backend, rows split into fixed contiguous blocks, one per thread.
#include <cmath>
#include <initializer_list>

#include "dispatch/backend.hpp"
#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"
#include "src/favor_projection.hpp"
#include "src/layout.hpp"
#include "src/struct_args.hpp"
#include "src/team.hpp"
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

// Checks shared by fw_feature_map_dim and map_rows: *a = the
// caller's struct as this library reads it, *out_dim on FW_OK.
fw_status check(const fw_feature_map_args* caller, fw_feature_map_args* a, int64_t* out_dim) {
  const fw_status s = read_struct(caller, a);
  if (s != FW_OK) return s;
  for (const fw_tensor* t : {&a->x, &a->out, &a->dy, &a->dx}) {
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

// One [rows, cols] operand of a map: its rows, and its byte span once checked.
struct MapOperand {
  const fw_tensor* t;
  int64_t cols;
  bool output;
  int64_t bytes;
};

// A row's stride 1, row stride >= 0, the span addressable, an output's rows
// distinct.
fw_status check_operand(int64_t rows, MapOperand* x) {
  const int64_t rs = x->t->stride[0];
  if (rs < 0 || (x->cols > 1 && x->t->stride[1] != 1)) return FW_ERR_INVALID_STRIDE;
  const Layout l = {2, {rows, x->cols}, {rs, 1}};
  const int64_t element = dtype_bytes(static_cast<Dtype>(x->t->dtype));
  int64_t span = 0;
  if (!layout_span(l, element, &span)) return FW_ERR_INVALID_DIMENSION;
  if (x->output && !layout_is_injective(l)) return FW_ERR_INVALID_STRIDE;
  x->bytes = span * element;
  return FW_OK;
}

Rows<const void> in_rows(const fw_tensor& t) {
  return {t.data, t.stride[0], static_cast<Dtype>(t.dtype)};
}

// fw_feature_map (x -> out) and fw_feature_map_backward (x, dy -> dx): the
// checks, then rows split over threads in fixed contiguous blocks.
fw_status map_rows(const fw_feature_map_args* caller, bool backward) {
  int64_t out_dim = 0;
  fw_feature_map_args a;
  fw_status s = check(caller, &a, &out_dim);
  if (s != FW_OK) return s;
  if (a.rows < 1) return FW_ERR_INVALID_DIMENSION;
  const int64_t d = a.dim;
  MapOperand forward_ops[] = {{&a.x, d, false, 0}, {&a.out, out_dim, true, 0}};
  MapOperand backward_ops[] = {
      {&a.x, d, false, 0}, {&a.dy, out_dim, false, 0}, {&a.dx, d, true, 0}};
  MapOperand* ops = backward ? backward_ops : forward_ops;
  const int n_ops = backward ? 3 : 2;
  for (int i = 0; i < n_ops; ++i)
    if (!ops[i].t->data) return FW_ERR_NULL_POINTER;
  for (int i = 0; i < n_ops; ++i)
    if ((s = check_operand(a.rows, &ops[i])) != FW_OK) return s;
  const MapOperand& written = ops[n_ops - 1];
  for (int i = 0; i + 1 < n_ops; ++i)
    if (ranges_overlap(ops[i].t->data, ops[i].bytes, written.t->data, written.bytes))
      return FW_ERR_ALIASING;

  const bool favor = a.kind == FW_FEATURE_FAVOR_PLUS;
  const int64_t m = a.num_features;
  Workspace proj(favor ? m * d : 0);
  Workspace scratch(favor ? 2 * favor_projection_scratch(d) : 0);  // doubles
  if (!proj.get() || !scratch.get()) return FW_ERR_OUT_OF_MEMORY;
  if (favor) favor_projection(d, m, a.seed, reinterpret_cast<double*>(scratch.get()), proj.get());

  const KernelTable& kt = *dispatch::table_for_call(a.backend);
  // Work in FLOPs per output element: FAVOR+'s projection 2 d, the other
  // maps a few.
  const double work = static_cast<double>(a.rows) * static_cast<double>(out_dim) *
                      (favor ? 2.0 * static_cast<double>(d) : 4.0);
  Team team = call_team(num_threads(), work, kt.thread_floors.pairs, kt.thread_floors.wake);
  if (team.threads > a.rows) team.threads = static_cast<int>(a.rows);
  const int64_t threads = team.threads;
  // Rows in fp32 scratch: the backward's always (kernel_table.hpp), the
  // forward's for half types (feature_maps.hpp), a row in and a row out.
  const bool half = a.x.dtype != FW_DTYPE_F32 || a.out.dtype != FW_DTYPE_F32;
  const int64_t row_floats =
      backward ? feature_map_backward_floats(d, out_dim) : (half ? d + out_dim : 0);
  Workspace rows_ws(threads * row_floats);
  if (!rows_ws.get()) return FW_ERR_OUT_OF_MEMORY;
  auto map_part = [&](int64_t part, int slot) {
    const int64_t r0 = a.rows * part / threads, r1 = a.rows * (part + 1) / threads;
    FeatureMapTask t{};
    t.kind = a.kind;
    t.rows = r1 - r0;
    t.dim = d;
    t.out_dim = out_dim;
    t.x = in_rows(a.x).from(r0);
    if (backward) {
      t.dy = in_rows(a.dy).from(r0);
      t.dx = OutRows{a.dx.data, a.dx.stride[0], static_cast<Dtype>(a.dx.dtype)}.from(r0);
    } else {
      t.out = OutRows{a.out.data, a.out.stride[0], static_cast<Dtype>(a.out.dtype)}.from(r0);
    }
    t.ws = row_floats ? rows_ws.get() + slot * row_floats : nullptr;
    t.nu = a.nu;
    t.m = m;
    t.proj = proj.get();
    t.eps = a.eps;
    (backward ? kt.feature_map_backward : kt.feature_map)(t);
  };
  team_loop(team, threads, map_part);
  return FW_OK;
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
  return fw::map_rows(args, /*backward=*/false);
}

FW_API fw_status fw_feature_map_backward(const fw_feature_map_args* args) {
  return fw::map_rows(args, /*backward=*/true);
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
