// Peer (a): the chunked algorithms composed from OpenBLAS calls, as a
// competent engineer would write them with BLAS: sgemm for every product,
// strsm for the WY solve, plain loops for masks. One (batch, head) pair per
// OpenMP thread, OpenBLAS itself single-threaded.
#pragma once

#include "bench/scan_problem.hpp"

namespace fwbench {
void blas_chunked_linear_attn(ScanProblem& p, int64_t chunk, int threads);
void blas_chunked_delta_rule(ScanProblem& p, int64_t chunk, int threads);
void blas_set_single_threaded();
}  // namespace fwbench
