// One (sequence, value head) pair of a planned scan: its kernel task, and
// the moves of its state between the caller's tensors (pool slots, K- or
// V-first, intermediate steps) and the K x V block the kernels update.
#pragma once

#include <cstdint>

#include "kernels/kernel_table.hpp"
#include "src/scan_plan.hpp"

namespace fw {

// The pair's task, its state not yet loaded. The kernels update the
// caller's final-state slot in place (in-place serving updates need no
// copy) when it is K-first, or V-first and native_v_first (the recurrent
// kernels take V-first states; the chunked ones and column slices do not);
// otherwise own holds the state (K x V floats, row stride V, transposed
// in and out). own + K * V holds the normaliser when no final_norm is given.
ScanTask pair_task(const ScanPlan& p, int64_t pair, float* own, bool native_v_first);

// The task's state (and z) = the pair's initial slot, or zeros.
void load_pair_state(const ScanPlan& p, const ScanTask& t, int64_t pair);
// The pair's final slot = the task's state, where it is not already there.
void store_pair_state(const ScanPlan& p, const ScanTask& t, int64_t pair);
// A padding entry (state index < 0): zero outputs, and zeros for a final
// state kept by sequence; no slot read or written.
void write_padding(const ScanPlan& p, int64_t pair);

// Intermediate state `step` of the pair, columns [v0, v0 + t.V) = t's state
// (a column slice when v0 > 0). stream: written past the caches, for the
// chunked form's states (kept for a backward or a prefix cache, read much
// later); the recurrent form's per-token states (a draft's verification,
// read at once) go through them.
void store_intermediate(const ScanPlan& p, int64_t pair, int64_t step, int64_t v0,
                        const ScanTask& t, bool stream);

// Where the chunked advance can stream intermediate state `step` itself
// (ScanTask::S_copy: a K-first state with the working state's row stride,
// whole lines), else nullptr (store_intermediate after the advance).
float* intermediate_rows(const ScanPlan& p, int64_t pair, int64_t step, int64_t v0,
                         const ScanTask& t);

// Tokens [s, s + n) of a task.
ScanTask token_range(const ScanTask& t, int64_t s, int64_t n);

// Rows of a K x w block: dst (row stride dld) = src (row stride sld), or
// zeros without a src; nothing to do when they are the same.
void copy_rows(float* dst, int64_t dld, const float* src, int64_t sld, int64_t K, int64_t w);

}  // namespace fw
