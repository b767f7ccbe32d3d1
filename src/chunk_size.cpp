// The chunk size a scan runs at when the caller leaves it to the library
// (FW_CHUNK_SIZE_AUTO). Measured with bench/ (FW_BENCH_FULL=1
// FW_BENCH_CHUNK=16|32|64, B = 1, T = 2048, H = HV = 16, AVX-512, one
// thread, three runs of medians of 3, ms):
//  - delta rule: K = 64 16.7-19.6 at chunk 16 vs 22.4-24.0 at 32;
//    K = 128 49.8-59.5 vs 54.1-63.0; K = 256 180-227 vs 183-200.
//    The gated delta rule alike (K = 64 18.8-22.7 vs 21.8-27.0).
//    Smaller chunks halve the in-chunk products (K K^T, the solve, T K) that
//    the delta rule has on top of linear attention.
//  - linear attention: K = 64 11.3-12.5 at 16, 11.9-12.2 at 32, 12.1-14.5
//    at 64; K = 256 130-148 at 32 and 64, 151-170 at 16. It keeps 32.
#include "fastweights/fastweights.h"
#include "src/scan_check.hpp"

namespace fw {

int64_t auto_chunk_size(bool delta_rule, int64_t head_dim_k) {
  return delta_rule && head_dim_k <= 128 ? 16 : FW_DEFAULT_CHUNK_SIZE;
}

}  // namespace fw

extern "C" FW_API int64_t fw_auto_chunk_size(int delta_rule, int64_t head_dim_k) {
  return fw::auto_chunk_size(delta_rule != 0, head_dim_k);
}
