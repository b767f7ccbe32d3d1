// The scan entry points: plan (src/scan_plan.cpp), then run the plan's
// (sequence, value head) pairs on the call's backend.
//
// Work is split over pairs on the library's threads (src/thread_pool.hpp);
// when pairs are fewer than threads, over the chunks of a pair and its
// value columns too. Every path performs the same operations on the same
// floats, so the thread count never changes a bit of the result.
#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"
#include "kernels/op_registry.hpp"
#include "src/denormals.hpp"
#include "src/scan_plan.hpp"
#include "src/scan_task.hpp"
#include "src/team.hpp"
#include "src/threads.hpp"
#include "src/workspace.hpp"

namespace fw {
namespace {

// AUTO: the chunked form from the sequence length where it overtakes the
// recurrent one, which the backend measured for the op and key width
// (kernel_table.hpp: AutoSwitch).
int64_t chunked_from(const ScanPlan& p) {
  const int64_t K = p.K;
  return p.kernels->auto_switch.chunked_from[p.op->id][K <= 64 ? 0 : K <= 128 ? 1 : 2];
}

bool use_chunked(int32_t mode, int64_t len, int64_t from) {
  if (mode == FW_MODE_CHUNKED) return true;
  if (mode == FW_MODE_RECURRENT) return false;
  return len >= from;
}

// Value-column slices of one (sequence, value head) pair, for when pairs
// are fewer than threads: every op's state columns evolve independently
// (each state-dependent product is column-separable), so a slice computes
// each of its output and state elements with exactly the operations the
// whole would. Normalisation shares z across columns: never split.
struct Split {
  int64_t parts, width;
};

Split column_split(int64_t threads, int64_t V, bool normalize) {
  if (normalize || threads < 2) return {1, V};
  int64_t width = (V + threads - 1) / threads;
  width = (width + 15) / 16 * 16;  // whole vectors on every ISA
  if (width >= V) return {1, V};
  return {(V + width - 1) / width, width};
}

// Columns [v0, v0 + w) of a pair's task.
ScanTask column_slice(const ScanTask& whole, int64_t v0, int64_t w) {
  ScanTask t = whole;
  t.v = t.v.from(0, v0);
  t.o = t.o.from(0, v0);
  t.S += v0;
  t.V = w;
  return t;
}

// Pairs a thread runs side by side, chunk by chunk (run_pairs). Heads of
// one token are adjacent in [B, T, H, D] tensors, so 16 heads stepped
// together read every input row whole (8 KiB at H = 16, D = 128) instead of
// 512-byte pieces 8 KiB apart: linear attention 66-68 ms instead of
// 77-81 ms, the delta rule 105-107 instead of 114-117 (T = 4096, H = 16,
// K = V = 128, AVX-512, one thread, medians of 3). Eight pairs gave 71-75
// and 111-125, four 73-74 and 111-116: the states of 16 pairs (1 MiB) no
// longer fit L2, but each is read in order and costs less than the
// scattered rows did.
constexpr int64_t kMaxPairsSideBySide = 16;
// A run's own states (for callers that want none back) stay within those of
// 16 pairs of K = V = 256 (4 MiB), so that the workspace of large heads
// does not grow with the run.
constexpr int64_t kMaxRunStateFloats = 16 * (256 * 256 + 256);

// Asks for the q, k and v rows of chunk [c0, c0 + C) of a task, into L2
// (prefetcht1): run_pairs issues it for the next pair of a run before it
// advances the current one, so the rows come in under that pair's
// products. Paired A/B (fastweights_ab_compare, T = 4096, H = 16,
// K = V = 128, one thread), B/A: linear attention 0.963, simple GLA 0.971,
// delta rule 0.963-0.973, gated delta rule 0.975. The empty asm keeps GCC
// from deleting a call made only of prefetches (see rows::prefetch).
void prefetch_chunk_rows(const ScanTask& t, int64_t c0, int64_t C) {
  const int64_t end = t.T - c0 < C ? t.T : c0 + C;
  auto row = [](const InRows& x, int64_t s, int64_t n) {
    const char* p = static_cast<const char*>(x.at(s));
    for (int64_t b = 0; b < n * dtype_bytes(x.dt); b += 64) __builtin_prefetch(p + b, 0, 2);
  };
  for (int64_t s = c0; s < end; ++s) {
    row(t.q, s, t.K);
    row(t.k, s, t.K);
    row(t.v, s, t.V);
  }
  asm volatile("");
}

// A pair's recurrent form over all its tokens: at once, or token by token
// when the state after each is wanted (same arithmetic either way). v0: the
// first of the task's columns within the pair (a column slice).
void run_recurrent(const ScanPlan& p, const ScanTask& t, int64_t pair, int64_t v0) {
  const ScanFn recurrent = p.family().recurrent;
  if (!p.intermediate.data) {
    recurrent(t);
    return;
  }
  for (int64_t s = 0; s < t.T; ++s) {
    ScanTask one = token_range(t, s, 1);
    // Only the first token's state comes from memory: the later ones keep
    // the kernels' in-cache sweeps (ScanTask::ask_state_rows, row_sweeps).
    one.ask_state_rows = t.ask_state_rows && s == 0;
    one.row_sweeps = t.row_sweeps && s == 0;
    recurrent(one);
    store_intermediate(p, pair, s, v0, t, /*stream=*/false);
  }
}

// Many pairs: each item is a run of up to kMaxPairsSideBySide consecutive
// pairs, stepped through their chunks together (a pair's own arithmetic
// does not change, so neither do the results). Runs are sized so that
// every thread gets one when the lengths are equal; with several packed
// sequences, of unequal lengths, four runs per thread keep the threads'
// shares even. The per-thread workspace is the kernel's, then a state per
// pair of the run where the caller's slot cannot serve.
fw_status run_pairs(const ScanPlan& p, int64_t pairs, const Team& team) {
  const int64_t threads = team.threads;
  const int64_t K = p.K, V = p.V, C = p.chunk;
  const int64_t runs_per_thread = p.N > 1 && p.cu_seqlens ? 4 : 1;
  const int64_t per_run = (pairs + threads * runs_per_thread - 1) / (threads * runs_per_thread);
  const int64_t kernel_ws = scan_workspace_floats(K, V, C), own_state = K * V + K;
  int64_t run = per_run < kMaxPairsSideBySide ? per_run : kMaxPairsSideBySide;
  if (run * own_state > kMaxRunStateFloats)
    run = kMaxRunStateFloats / own_state > 1 ? kMaxRunStateFloats / own_state : 1;
  const int64_t runs = (pairs + run - 1) / run;
  int64_t per_thread = 0, total = 0;
  if (__builtin_mul_overflow(own_state, run, &per_thread) ||
      __builtin_add_overflow(per_thread, kernel_ws, &per_thread) ||
      __builtin_mul_overflow(per_thread, threads, &total))
    return FW_ERR_OUT_OF_MEMORY;
  Workspace ws(total);
  if (!ws.get()) return FW_ERR_OUT_OF_MEMORY;
  const FamilyKernels& fk = p.family();
  const int64_t from = chunked_from(p);

  auto run_one = [&](int64_t r, int slot) {
    const FlushDenormals flush;
    float* mine = ws.get() + slot * per_thread;
    // Recurrent pairs run whole at once; chunked ones wait in `chunked`.
    ScanTask chunked[kMaxPairsSideBySide];
    int64_t pair_of[kMaxPairsSideBySide];
    int64_t n = 0, longest = 0;
    const int64_t first = r * run, last = first + run < pairs ? first + run : pairs;
    for (int64_t pair = first; pair < last; ++pair) {
      if (p.is_padding(pair / p.HV)) {
        write_padding(p, pair);
        continue;
      }
      const bool recurrent = !use_chunked(p.mode, p.length(pair / p.HV), from);
      ScanTask t = pair_task(p, pair, mine + kernel_ws + (pair - first) * own_state, recurrent);
      t.ws = mine;
      load_pair_state(p, t, pair);
      if (t.T == 0) {
        store_pair_state(p, t, pair);
        continue;
      }
      if (recurrent) {
        run_recurrent(p, t, pair, 0);
        store_pair_state(p, t, pair);
        continue;
      }
      pair_of[n] = pair;
      chunked[n++] = t;
      if (t.T > longest) longest = t.T;
    }
    // One record serves all: each chunk is prepared and advanced at once.
    float* rec = mine + chunk_scratch_floats(K, V, C);
    for (int64_t c0 = 0; c0 < longest; c0 += C)
      for (int64_t i = 0; i < n; ++i) {
        if (c0 >= chunked[i].T) continue;
        fk.prepare(chunked[i], c0, rec);
        if (i + 1 < n && c0 < chunked[i + 1].T) prefetch_chunk_rows(chunked[i + 1], c0, C);
        chunked[i].S_copy = intermediate_rows(p, pair_of[i], c0 / C, 0, chunked[i]);
        fk.advance(chunked[i], c0, rec);
        if (p.intermediate.data && !chunked[i].S_copy)
          store_intermediate(p, pair_of[i], c0 / C, 0, chunked[i], /*stream=*/true);
      }
    for (int64_t i = 0; i < n; ++i) store_pair_state(p, chunked[i], pair_of[i]);
  };
  team_loop(team, runs, run_one);
  return FW_OK;
}

// Chunks each thread prepares per group: fewer barriers per token, while
// the two buffers stay in L2, since every slice's thread reads every record
// of a group. At chunk 32, K = 128 and two threads they hold 0.45 MiB. With
// 1 MiB of records (chunk 64, four chunks per thread, one buffer) linear
// attention took 11-12 ms instead of about 6 (T = 8192, H = 1,
// K = V = 128, AVX-512, two threads).
constexpr int64_t kGroupChunksPerThread = 2;

// Fewer pairs than threads (B = 1, one head, a long prompt): all threads
// work on one pair at a time. Chunked, each group of chunks is one loop
// whose items prepare the next group's chunks (the state-independent half,
// kernel_table.hpp) and advance a slice of V columns through this group;
// recurrent, one loop runs the slices. A slice's columns and a chunk's
// record come out the same whichever thread runs the item.
fw_status run_pairs_together(const ScanPlan& p, int64_t pairs, const Team& team) {
  const int64_t threads = team.threads;
  const int64_t K = p.K, V = p.V, C = p.chunk;
  const Split split = column_split(threads, V, p.normalize);
  const int64_t group = kGroupChunksPerThread * threads;
  const int64_t record = chunk_record_floats(K, C), scratch = chunk_scratch_floats(K, V, C);
  // Shared: two buffers of a group's records, a state, each slice's own
  // copy of its state columns; then each thread's scratch.
  const int64_t slice_state = K * split.width;
  const int64_t shared = 2 * group * record + K * V + K + split.parts * slice_state;
  int64_t total = 0;
  if (__builtin_mul_overflow(scratch, threads, &total) ||
      __builtin_add_overflow(total, shared, &total))
    return FW_ERR_OUT_OF_MEMORY;
  Workspace ws(total);
  if (!ws.get()) return FW_ERR_OUT_OF_MEMORY;
  float* const records = ws.get();
  const ChunkPrepareFn prepare = p.family().prepare;
  const ChunkAdvanceFn advance = p.family().advance;
  const int64_t from = chunked_from(p);
  auto scratch_of = [&](int slot) { return records + shared + slot * scratch; };

  // A slice's state columns live in a block of their own while it runs: in
  // the caller's rows the slices' boundaries need not fall on cache-line
  // boundaries, and two threads' every state update would then fight over
  // the shared lines. Copied in before, and back after.
  float* const slice_states = records + 2 * group * record + K * V + K;
  auto slice = [&](const ScanTask& whole, int64_t part, int slot) {
    const int64_t v0 = part * split.width;
    ScanTask t = column_slice(whole, v0, V - v0 < split.width ? V - v0 : split.width);
    t.S = slice_states + part * slice_state;
    t.S_ld = t.V;
    t.ws = scratch_of(slot);
    return t;
  };
  auto copy_slice_states = [&](const ScanTask& whole, bool in) {
    for (int64_t part = 0; part < split.parts; ++part) {
      const ScanTask t = slice(whole, part, 0);
      float* caller = whole.S + part * split.width;
      if (in)
        copy_rows(t.S, t.S_ld, caller, whole.S_ld, K, t.V);
      else
        copy_rows(caller, whole.S_ld, t.S, t.S_ld, K, t.V);
    }
  };
  for (int64_t pair = 0; pair < pairs; ++pair) {
    if (p.is_padding(pair / p.HV)) {
      write_padding(p, pair);
      continue;
    }
    const ScanTask whole =
        pair_task(p, pair, records + 2 * group * record, /*native_v_first=*/false);
    load_pair_state(p, whole, pair);
    if (whole.T == 0) {
      store_pair_state(p, whole, pair);
      continue;
    }
    copy_slice_states(whole, true);
    if (!use_chunked(p.mode, whole.T, from)) {
      auto run_slice = [&](int64_t part, int slot) {
        const FlushDenormals flush;
        run_recurrent(p, slice(whole, part, slot), pair, part * split.width);
      };
      team_loop(team, split.parts, run_slice);
    } else {
      // Two record buffers: while the slices advance through group i, the
      // next group is prepared into the other.
      const int64_t chunks = (whole.T + C - 1) / C, groups = (chunks + group - 1) / group;
      auto buffer = [&](int64_t i) { return records + (i % 2) * group * record; };
      auto group_size = [&](int64_t i) {
        return chunks - i * group < group ? chunks - i * group : group;
      };
      auto prepare_chunk = [&](int64_t i, int64_t c, int slot) {
        ScanTask t = whole;
        t.ws = scratch_of(slot);
        prepare(t, (i * group + c) * C, buffer(i) + c * record);
      };
      auto prepare_first = [&](int64_t c, int slot) {
        const FlushDenormals flush;
        prepare_chunk(0, c, slot);
      };
      team_loop(team, group_size(0), prepare_first);
      for (int64_t i = 0; i < groups; ++i) {
        const int64_t next = i + 1 < groups ? group_size(i + 1) : 0;
        auto step = [&](int64_t item, int slot) {
          const FlushDenormals flush;
          if (item < next) {
            prepare_chunk(i + 1, item, slot);
            return;
          }
          const int64_t part = item - next;
          ScanTask t = slice(whole, part, slot);
          for (int64_t c = 0; c < group_size(i); ++c) {
            const int64_t step = i * group + c;
            t.S_copy = intermediate_rows(p, pair, step, part * split.width, t);
            advance(t, step * C, buffer(i) + c * record);
            if (p.intermediate.data && !t.S_copy)
              store_intermediate(p, pair, step, part * split.width, t, /*stream=*/true);
          }
        };
        team_loop(team, next + split.parts, step);
      }
    }
    copy_slice_states(whole, false);
    store_pair_state(p, whole, pair);
  }
  return FW_OK;
}

fw_status run_scan(int64_t op, const fw_scan_args* a) {
  ScanPlan plan;
  const fw_status s = plan_scan(op, a, &plan);
  if (s != FW_OK) return s;
  const int64_t pairs = plan.N * plan.HV;
  const ThreadFloors& floors = plan.kernels->thread_floors;
  const double work = plan.model_flops();
  // num_threads() read once: another thread may set it meanwhile.
  Team team = call_team(num_threads(), work, floors.pairs, floors.wake);
  if (pairs < team.threads) {
    const Team together = call_team(team.threads, work, floors.columns, floors.wake);
    if (together.threads > pairs) return run_pairs_together(plan, pairs, together);
    team = together;  // at most one thread per pair
  }
  return run_pairs(plan, pairs, team);
}

}  // namespace
}  // namespace fw

extern "C" {

FW_API fw_status fw_scan(fw_op op, const fw_scan_args* args) { return fw::run_scan(op, args); }

// The named entry points, one per row of the op registry.
#define FW_OP_ENTRY_POINT(id, fn, name, gate, beta, flags, flops, family) \
  FW_API fw_status fn(const fw_scan_args* args) { return fw::run_scan(id, args); }
FW_OP_REGISTRY(FW_OP_ENTRY_POINT)
#undef FW_OP_ENTRY_POINT

}  // extern "C"
