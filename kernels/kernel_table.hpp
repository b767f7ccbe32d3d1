// The contract between the API layer (src/) and the per-ISA kernels.
//
// Kernels see only these plain structs: never the public C structs, never an
// allocator. One ScanTask is one (sequence, value head) pair; the API layer
// resolves heads, batches and cu_seqlens into base pointers and time strides,
// and hands each thread its own scratch (chunk_scratch_floats() floats).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/op_registry.hpp"

namespace fw {

// An operand's element type: fw_dtype's values (the public enum stays out
// of the kernels). Half types are widened to fp32 as rows are loaded and
// rounded to nearest even once as they are stored (common/convert.hpp).
enum class Dtype : int32_t { f32 = 0, f16 = 1, bf16 = 2 };

constexpr int64_t dtype_bytes(Dtype d) { return d == Dtype::f32 ? 4 : 2; }

// Rows of one operand of a task: element x of row (token) t at element
// t * ts + x from p, each of type dt. Void is const void for inputs.
template <class Void>
struct Rows {
  Void* p;     // nullptr: absent
  int64_t ts;  // elements from one row to the next
  Dtype dt;
  Void* at(int64_t t, int64_t x = 0) const {
    using Byte = typename std::conditional<std::is_const<Void>::value, const char, char>::type;
    return static_cast<Byte*>(p) + (t * ts + x) * dtype_bytes(dt);
  }
  // The same rows from row t and element x on.
  Rows from(int64_t t, int64_t x = 0) const { return {p ? at(t, x) : p, ts, dt}; }
  bool is_f32() const { return dt == Dtype::f32; }
};
using InRows = Rows<const void>;
using OutRows = Rows<void>;

struct ScanTask {
  InRows q, k;  // row t: K elements
  InRows v;     // row t: V elements
  InRows g;     // log-decay at element t * ts, or a row of K with g_channel;
                // p nullptr = ungated
  InRows beta;  // beta at element t * ts; delta rules only
  OutRows o;    // row t: V elements
  int64_t T, K, V;
  int64_t chunk;   // chunked kernels only
  float scale;     // applied to every output row (and to q . z with normalize)
  float eps;       // normalize denominator term
  bool g_channel;  // a log-decay per key channel (GLA, KDA)
  // fla's options, applied as g and beta are loaded (common/gates.hpp):
  // gate_proj: g holds the raw a, and the gate is gate_a * softplus(a +
  // dt_bias) (gate_a = -exp(A_log); dt_bias nullptr = zeros, else one float
  // or a row of K); beta_sigmoid: beta = sigmoid(b); then beta *= beta_scale.
  bool gate_proj;
  float gate_a;
  const float* dt_bias;
  bool beta_sigmoid;
  float beta_scale;
  bool qk_l2norm;
  bool normalize;       // linear attention only: divide by scale q . z + eps
  bool stream_o;        // outputs too large to stay in cache: chunked kernels
                        // may write whole-line rows past the caches
  bool ask_state_rows;  // recurrent kernels: prefetch the state's rows ahead
                        // on the first token (dispatch::CpuFeatures)
  bool row_sweeps;      // recurrent delta rules: K-first states in whole
                        // rows, not column blocks (dispatch::CpuFeatures)
  float* S;             // K x V state, read and updated in place; row i at
  int64_t S_ld;         //   S + i * S_ld (S_ld >= V)
  bool S_v_first;       // recurrent kernels only: S is V x K instead (row j, the
                        // state's column j, at S + j * S_ld, S_ld >= K)
  float* z;             // K normaliser state (normalize only), in place
  float* ws;            // scratch: chunk_scratch_floats(K, V, chunk) floats
  float* S_copy;        // chunked advance: the state after the chunk is also
                        // streamed here as its update finishes each row (rows
                        // S_ld apart, whole lines: an intermediate state), or
                        // nullptr
};

// The chunked kernels come in two halves (docs/design.md, "Chunked form"):
//  - prepare: everything about one chunk that does not depend on the state
//    (loads, decays, Q K^T, and for the delta rule (I + A)^{-1} and W),
//    written to a chunk record of chunk_record_floats() floats;
//  - advance: the state-dependent rest, for the task's V columns, from the
//    record: outputs of the chunk, then the state after it.
// A chunked scan is prepare + advance per chunk (src/scan.cpp runs them, for
// several pairs side by side). With fewer (sequence, head)
// pairs than threads, threads prepare different chunks of a group at once,
// then advance slices of V columns through the group: the same arithmetic
// on the same floats, so results do not depend on the thread count.
inline int64_t chunk_record_floats(int64_t K, int64_t chunk) {
  // Q, K, W; T, A; G (a row of K per token: per-channel gates), beta
  return 3 * chunk * K + 2 * chunk * chunk + chunk * K + chunk;
}

// The recurrent kernels' first floats of scratch: q and k (K each), two
// rows of V, then a per-channel gate's decays exp(g_t) and k_t * exp(g_t)
// (K each), then v_t widened from a half type (V).
inline int64_t recurrent_head_floats(int64_t K, int64_t V) { return 4 * K + 3 * V; }

// Columns of a V-first state the recurrent kernels transpose at a time
// (state_block.hpp), and the most partial sums they split a sum over K into
// (state_sweep.hpp): two vectors of the widest ISA, and its sums' lanes.
constexpr int64_t kMaxStateBlock = 32;
constexpr int64_t kMaxLanes = 16;

// Rows per block of the per-channel scores (chunk_ops.hpp, channel_scores;
// blocks of 8 made GLA take 1.01x the time, T = 4096, H = 16, K = V = 128,
// AVX-512, Zen 4), and the scratch of that function and of its backward
// (backward/chunk_backward.hpp): a row of K, three blocks of kScoreRows x K
// and three of C x K.
constexpr int64_t kScoreRows = 16;
inline int64_t channel_scores_floats(int64_t K, int64_t C) {
  return K + 3 * kScoreRows * K + 3 * C * K;
}

// Scratch a kernel may use besides a record: the recurrent kernels their
// head (recurrent_head_floats), then kMaxLanes rows of V partial sums and a
// K x kMaxStateBlock block of a V-first state; prepare K transposed, beta K
// (C x K), a C x C matrix and channel_scores' scratch; advance three C x V
// blocks (beta V, U, O).
inline int64_t chunk_scratch_floats(int64_t K, int64_t V, int64_t chunk) {
  const int64_t prepare = 2 * chunk * K + chunk * chunk + channel_scores_floats(K, chunk),
                advance = 3 * chunk * V;
  const int64_t block = kMaxLanes * V + kMaxStateBlock * K;
  const int64_t most = prepare > advance ? prepare : advance;
  return recurrent_head_floats(K, V) + (most > block ? most : block);
}

// The recurrent kernels' scratch past their head: the kMaxLanes
// partial-sum rows, then the V-first block; and in the head, the
// per-channel decays.
template <class Vec>
inline float* recurrent_decays(const ScanTask& t) {
  return t.ws + 2 * t.K + 2 * t.V;
}
template <class Vec>
inline float* recurrent_values(const ScanTask& t) {
  return t.ws + 4 * t.K + 2 * t.V;
}
template <class Vec>
inline float* recurrent_lanes(const ScanTask& t) {
  return t.ws + recurrent_head_floats(t.K, t.V);
}
template <class Vec>
inline float* recurrent_block(const ScanTask& t) {
  return recurrent_lanes<Vec>(t) + kMaxLanes * t.V;
}

// Per-thread workspace of a scan run chunk by chunk on one thread: scratch,
// then one chunk record.
inline int64_t scan_workspace_floats(int64_t K, int64_t V, int64_t chunk) {
  return chunk_scratch_floats(K, V, chunk) + chunk_record_floats(K, chunk);
}

struct FeatureMapTask {
  int32_t kind;       // fw_feature_map_kind
  int64_t rows, dim;  // input rows of dim elements
  int64_t out_dim;    // elements of an output row
  InRows x;           // row r at element r * ts
  OutRows out;
  InRows dy;          // backward: out's gradient, row r at element r * ts
  OutRows dx;         // backward: x's gradient
  float* ws;          // forward, half types only: dim + out_dim floats;
                      // backward: feature_map_backward_floats
  int32_t nu;         // DPFP
  int64_t m;          // FAVOR+ features
  const float* proj;  // FAVOR+ projection, m x dim
  float eps;
};

// One (sequence, value head) pair of a scan's backward (docs/design.md,
// "The backward"). The forward's task, whose S and z hold the initial state
// (K-first, read only; nullptr = zeros), and the gradients. dq and dk of a
// q/k head sum over its value heads: each pair adds its q^ and k^ gradients
// (of the normalised rows) into fp32 accumulators, the group's first pair
// assigning, in head order; scan_backward_qk then turns the sums into dq
// and dk rows (through the L2 norm, rounded to their dtype).
struct BackwardTask {
  ScanTask f;
  InRows dO;         // row t: V elements
  const float* dST;  // K x V gradient of the final state (row stride dST_ld), or nullptr
  int64_t dST_ld;
  OutRows dq, dk;         // scan_backward_qk: row t, K elements (absent: p nullptr)
  OutRows dv, dg, dbeta;  // like v, g, beta (absent: p nullptr)
  float* dq_acc;          // T x K each, row stride K
  float* dk_acc;
  bool first_head;  // this pair assigns the accumulators
  bool direct_qk;   // the q/k head's only value head, no L2 norm: dq and
                    // dk rows are written as formed (no accumulators)
  float* dS0;       // K x V gradient of the initial state (row stride dS0_ld), or nullptr
  int64_t dS0_ld;
  int64_t interval;  // tokens between stored states (backward_interval)
  // The chunked forward's states after each chunk (its intermediate
  // states), or nullptr: chunk c's at chunk_states + c * cs_step, rows
  // cs_ld apart, K x V (or V x K when cs_v_first). The chunked backward then
  // reads them instead of recomputing them.
  const float* chunk_states;
  int64_t cs_step, cs_ld;
  bool cs_v_first;
};

// Tokens between the states the backward keeps (the state before every
// interval-th token, recomputed forward once, then every state of one
// interval at a time): about sqrt(T), at least the chunk, so that both
// kinds of state need about sqrt(T) of K x V floats.
inline int64_t backward_interval(int64_t T, int64_t chunk) {
  int64_t i = 1;
  while (i * i < T) ++i;
  return i > chunk ? i : chunk;
}

// The backward's scratch of one pair, in floats, in the order the kernel
// lays it out: checkpoints (one state and z each), the interval's states,
// its per-token rows (q^, k^, decays: K each; u: V; beta), the carried
// gradients dS and dz, and rows of temporaries.
struct BackwardScratch {
  int64_t state;        // K * V + K: a state and its z
  int64_t checkpoints;  // ceil(T / interval)
  int64_t per_token;    // 3 K + V + 1
  int64_t temps;        // 4 K + 5 V
  int64_t total;
};

inline BackwardScratch backward_scratch(int64_t T, int64_t K, int64_t V, int64_t interval) {
  BackwardScratch b;
  b.state = K * V + K;
  b.checkpoints = (T + interval - 1) / interval;
  b.per_token = 3 * K + V + 1;
  b.temps = 4 * K + 5 * V;
  b.total = (b.checkpoints + interval + 1) * b.state + interval * b.per_token + b.temps;
  return b;
}

// The chunked backward's scratch (backward/chunk_backward.hpp, whose block
// lists have these lengths). Each pair's own: the state at every chunk
// boundary (chunks + 1 of K x V), the carried dS (K x V), normalize's z at
// every boundary and its gradient's carry (chunks + 2 of K), a gate per
// channel's dg sums (K), and with keep_values (the delta rules, states
// recomputed) every chunk's U' (chunks of C x V). Shared by the pairs that
// run in lockstep (one chunk of one pair at a time): kRowsK blocks of
// C x K, kRowsV of C x V, kSquares of C x C, kRows1 of C and
// channel_scores' scratch.
struct ChunkBackwardScratch {
  static constexpr int64_t kRowsK = 16, kRowsV = 9, kSquares = 7, kRows1 = 6;
  int64_t chunks;    // ceil(T / C)
  int64_t per_pair;  // floats
  int64_t shared;
  int64_t total(int64_t pairs) const { return pairs * per_pair + shared; }
};

// saved: the forward's states are given (BackwardTask::chunk_states), and
// two K x V blocks (the initial state, a given one repacked) serve instead
// of chunks + 1.
inline ChunkBackwardScratch chunk_backward_scratch(int64_t T, int64_t K, int64_t V, int64_t C,
                                                   bool saved, bool keep_values) {
  using S = ChunkBackwardScratch;
  S s;
  s.chunks = (T + C - 1) / C;
  s.per_pair = ((saved ? 2 : s.chunks + 1) + 1) * K * V + (s.chunks + 3) * K +
               (keep_values ? s.chunks * C * V : 0);
  s.shared = S::kRowsK * C * K + S::kRowsV * C * V + S::kSquares * C * C + S::kRows1 * C +
             channel_scores_floats(K, C);
  return s;
}

// The most pairs the chunked backward runs in lockstep (ScanBackwardGroupFn).
constexpr int64_t kMaxLockstep = 8;

using ScanFn = void (*)(const ScanTask&);
using ScanBackwardFn = void (*)(const BackwardTask&, float* ws);
// The chunked backward of 1 .. kMaxLockstep pairs of one sequence, in
// lockstep: each chunk of every pair before the next chunk. ws:
// chunk_backward_scratch(...).total(pairs) floats.
using ScanBackwardGroupFn = void (*)(const BackwardTask* tasks, int64_t pairs, float* ws);
// Chunk [c0, c0 + chunk) of a task: prepare writes rec, advance reads it.
using ChunkPrepareFn = void (*)(const ScanTask&, int64_t c0, float* rec);
using ChunkAdvanceFn = void (*)(const ScanTask&, int64_t c0, const float* rec);
using FeatureMapFn = void (*)(const FeatureMapTask&);

// Scratch of the feature-map backward, per thread: a row of x, dy and dx
// each in fp32, and two rows of the output's width (FAVOR+'s outputs,
// DPFP's r and its gradient, 2 dim <= out_dim).
inline int64_t feature_map_backward_floats(int64_t dim, int64_t out_dim) {
  return 2 * dim + 3 * out_dim;
}
// dst (n x m, row stride ldd) = src (m x n, row stride lds) transposed; the
// V-first state layout goes through it (exact, so bitwise either way).
using TransposeFn = void (*)(int64_t m, int64_t n, const float* src, int64_t lds, float* dst,
                             int64_t ldd);
// dst rows (m x n, row stride ldd) = src rows (row stride lds), past the
// caches where the rows are whole lines (chunk_ops.hpp, stream_rows).
using StreamRowsFn = TransposeFn;

// FW_MODE_AUTO runs a sequence chunked from chunked_from tokens on, and
// recurrent below, by op (rows in op_registry.hpp's order) and key width
// (K <= 64, K <= 128, K > 128). Each backend measures its own
// (kernels/isa/*.cpp): where the two forms cross depends on the ISA far
// more than on the op's math.
constexpr int64_t kNeverChunked = INT64_MAX;
struct AutoSwitch {
  int64_t chunked_from[kNumOps][3];
};

// One op's row of a backend's AUTO switch.
struct AutoSwitchRow {
  fw_op op;
  int64_t chunked_from[3];
};

// A backend's AUTO switch from its rows, which must name every op of the
// registry once: a new op does not compile until each backend has measured
// its crossover (a missing row would otherwise read as "always chunked").
template <size_t R>
constexpr AutoSwitch auto_switch(const AutoSwitchRow (&rows)[R]) {
  static_assert(R == kNumOps, "one AUTO row per op of the registry");
  AutoSwitch a{};
  bool seen[kNumOps] = {};
  for (const AutoSwitchRow& r : rows) {
    if (r.op < 0 || r.op >= kNumOps || seen[r.op]) throw "AUTO rows: an op twice, or unknown";
    seen[r.op] = true;
    for (int i = 0; i < 3; ++i) a.chunked_from[r.op][i] = r.chunked_from[i];
  }
  return a;
}

// A call takes a second thread (and each further one) only for this many
// model FLOPs of work per thread (src/team.hpp): below it, handing work to
// another thread costs more than it saves. Threads sharing one pair (its
// value columns, src/scan.cpp) meet once per group of chunks and need far
// more. A call wakes workers that have gone to sleep (after a pause
// between calls) only from `wake`: waking one on a VM took as long as a
// small call. Each backend measures its own (kernels/isa/*.cpp), as for
// AUTO.
struct ThreadFloors {
  double pairs;    // per thread, threads on separate (sequence, value head) pairs
  double columns;  // per thread, threads on one pair's value columns
  double wake;     // per call, to wake sleeping workers
};

// The kernels of one family (op_registry.hpp): the recurrent form, and the
// chunked form's two halves.
struct FamilyKernels {
  ScanFn recurrent;
  ChunkPrepareFn prepare;
  ChunkAdvanceFn advance;
};
constexpr int kNumFamilies = 2;

// One backend: every kernel of the library, compiled for one ISA.
struct KernelTable {
  FamilyKernels family[kNumFamilies];         // by Family
  ScanBackwardFn scan_backward;               // every op: one pair's gradients, token by token
  ScanBackwardGroupFn scan_backward_chunked;  // every op
  ScanBackwardFn scan_backward_qk;            // a q/k head's dq and dk from the sums
  FeatureMapFn feature_map;
  FeatureMapFn feature_map_backward;
  TransposeFn transpose;
  StreamRowsFn stream_rows;
  AutoSwitch auto_switch;
  ThreadFloors thread_floors;

  const FamilyKernels& of(Family f) const { return family[static_cast<int>(f)]; }
};

}  // namespace fw
