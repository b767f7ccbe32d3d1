// The op registry's public side: fw_op_count, fw_op_get_info, and the
// chunk and intermediate-state queries.
#include <cstring>

#include "fastweights/fastweights.h"
#include "kernels/op_registry.hpp"
#include "src/scan_plan.hpp"
#include "src/struct_args.hpp"

namespace fw {

// The chunk of FW_CHUNK_SIZE_AUTO. Measured with bench/ (FW_BENCH_FULL=1
// FW_BENCH_CHUNK=16|32|64, B = 1, T = 2048, H = HV = 16, AVX-512, one
// thread): the delta rules run 16 up to K = 128 (K = 64 16.7-19.6 ms at 16
// vs 22.4-24.0 at 32; smaller chunks halve their in-chunk products), else
// 32; linear attention 32 (16 and 64 were no faster at K = 64, slower at
// K = 256). The log is in docs/decisions.md.
int64_t auto_chunk_size(const OpDesc& op, int64_t head_dim_k) {
  return op.family == Family::kDeltaRule && head_dim_k <= 128 ? 16 : 32;
}

}  // namespace fw

extern "C" {

FW_API int32_t fw_op_count(void) { return fw::kNumOps; }

FW_API fw_status fw_op_get_info(fw_op op, fw_op_info* info) {
  const fw::OpDesc* d = fw::find_op(op);
  if (!d) return FW_ERR_INVALID_ARGUMENT;
  if (!info) return FW_ERR_NULL_POINTER;
  const size_t size = info->struct_size;
  if (size < sizeof(size_t) || size > fw::kMaxStructSize) return FW_ERR_INVALID_STRUCT_SIZE;
  fw_op_info full;
  std::memset(&full, 0, sizeof full);
  full.struct_size = size;
  full.name = d->name;
  full.gate = d->gate;
  full.has_beta = d->beta ? 1 : 0;
  full.flags = d->flags;
  full.flops_per_kv = d->flops_per_kv;
  // An older caller's shorter struct gets its fields; a newer one's extra
  // bytes are left as the caller set them.
  std::memcpy(info, &full, size < sizeof full ? size : sizeof full);
  return FW_OK;
}

FW_API int64_t fw_chunk_size(fw_op op, int64_t head_dim_k) {
  const fw::OpDesc* d = fw::find_op(op);
  if (!d || head_dim_k < 1) return 0;
  return fw::auto_chunk_size(*d, head_dim_k);
}

FW_API fw_status fw_intermediate_state_count(fw_op op, const fw_scan_args* args, int64_t* count) {
  if (!count) return FW_ERR_NULL_POINTER;
  fw::ScanPlan plan;
  const fw_status s = fw::plan_scan(op, args, &plan);
  if (s != FW_OK) return s;
  if (plan.mode == FW_MODE_AUTO) return FW_ERR_INVALID_ARGUMENT;
  *count = plan.intermediate_steps;
  return FW_OK;
}

}  // extern "C"
