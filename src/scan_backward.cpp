// The scans' backward entry points: plan (src/scan_plan.cpp, the backward's
// checks), then run sets of q/k heads on the threads (the chunked form runs
// a set's heads in lockstep), each q/k head's value heads one after another
// (docs/design.md, "The backward"). dq and dk of a q/k head are sums over
// its value heads, added in head order within one task, so the thread count
// never changes a bit.
#include <unistd.h>

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

// A thread's workspace besides the kernel's scratch: dq and dk sums (T x K
// each), and three K x V blocks for V-first states (the initial state, the
// final state's gradient, the initial state's gradient, transposed in or
// out: the kernel works K-first).
struct OwnBuffers {
  float *dq_acc, *dk_acc, *S0, *dST, *dS0;
};

OwnBuffers own_buffers(float* base, int64_t T, int64_t K, int64_t V) {
  return {base, base + T * K, base + 2 * T * K, base + 2 * T * K + K * V,
          base + 2 * T * K + 2 * K * V};
}

int64_t own_floats(int64_t T, int64_t K, int64_t V) { return 2 * T * K + 3 * K * V; }

// Pair `pair`'s task: its forward operands with the initial state K-first
// (the caller's slot, or transposed into own.S0), its gradients' rows.
BackwardTask backward_task(const ScanPlan& p, int64_t pair, const OwnBuffers& own, bool first,
                           int64_t interval) {
  const int64_t n = pair / p.HV, hv = pair % p.HV, h = hv / (p.HV / p.H);
  const int64_t b = p.batch_of(n), t0 = p.first_token(n), K = p.K, V = p.V;
  BackwardTask t;
  t.f = pair_task(p, pair, own.S0, /*native_v_first=*/false);
  t.f.S = nullptr;
  t.f.z = p.initial_norm.data ? p.initial_norm.at(n, hv) : nullptr;
  if (p.initial_state.data) {
    float* S0 = p.initial_state.at(n, hv);
    if (p.v_first) {
      p.kernels->transpose(V, K, S0, p.initial_state.row, own.S0, V);
      t.f.S = own.S0;
      t.f.S_ld = V;
    } else {
      t.f.S = S0;
      t.f.S_ld = p.initial_state.row;
    }
  }
  t.dO = p.grad.o.rows(b, t0, hv);
  t.dST = nullptr;
  t.dST_ld = V;
  if (p.grad.final_state.data) {
    const float* dST = p.grad.final_state.at(n, hv);
    if (p.v_first) {
      p.kernels->transpose(V, K, dST, p.grad.final_state.row, own.dST, V);
      t.dST = own.dST;
    } else {
      t.dST = dST;
      t.dST_ld = p.grad.final_state.row;
    }
  }
  t.dq = p.grad.q.rows(b, t0, h);
  t.dk = p.grad.k.rows(b, t0, h);
  t.dv = p.grad.v.rows(b, t0, hv);
  t.dg = p.grad.g.rows(b, t0, hv);
  t.dbeta = p.grad.beta.rows(b, t0, hv);
  t.dq_acc = own.dq_acc;
  t.dk_acc = own.dk_acc;
  t.first_head = first;
  t.direct_qk = p.HV == p.H && !p.qk_l2norm;
  t.dS0 = nullptr;
  t.dS0_ld = V;
  if (p.grad.initial_state.data) {
    if (p.v_first) {
      t.dS0 = own.dS0;
    } else {
      t.dS0 = p.grad.initial_state.at(n, hv);
      t.dS0_ld = p.grad.initial_state.row;
    }
  }
  t.interval = interval;
  t.chunk_states = nullptr;
  if (p.intermediate.data && p.intermediate_steps > 0) {
    t.chunk_states = p.intermediate.at(n, hv);
    t.cs_step = p.intermediate.step;
    t.cs_ld = p.intermediate.row;
    t.cs_v_first = p.v_first;
  }
  return t;
}

// The q/k heads the chunked backward runs in lockstep
// (scan_backward_chunked: each token's rows of several heads share a page):
// the most, up to kMaxLockstep, that leaves no thread more heads than one
// at a time would (16 heads on 2 threads: 8; on 3: 2), keeps their own
// scratch (per_pair floats each) within kLockstepFloats, and their dS
// blocks (K V floats each) within half of a core's L2. The bits of every
// head are the same either way. Backward B/A at B = 1, T = 4096, H = 16,
// K = V = 128, one thread, Zen 4 (1 MiB L2), reading the forward's states:
// 4 heads against 1 linear attention 0.93, delta rule 0.95, KDA 0.97; 8
// against 4 0.95-0.98; 2 against 1 0.94-1.04. Smaller L2s (Zen 3's 512
// KiB) are capped in proportion, unmeasured.
constexpr int64_t kLockstepFloats = int64_t{32} << 20;  // 128 MiB

int64_t l2_bytes() {
  static const int64_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long b = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (b > 0) return static_cast<int64_t>(b);
#endif
    return int64_t{1} << 20;  // unknown: as Zen 4
  }();
  return bytes;
}

int64_t lockstep_heads(int64_t H, int64_t N, int64_t threads, int64_t per_pair, int64_t KV) {
  auto most_per_thread = [&](int64_t m) {
    const int64_t sets = N * ((H + m - 1) / m);
    return (sets + threads - 1) / threads * (m < H ? m : H);
  };
  const int64_t l2_floats = l2_bytes() / static_cast<int64_t>(sizeof(float));
  int64_t m = kMaxLockstep;
  while (m > 1 && (most_per_thread(m) > most_per_thread(1) || m * per_pair > kLockstepFloats ||
                   m * KV > l2_floats / 2))
    m /= 2;
  return m < H ? m : H;  // a set's heads, and no scratch for more
}

fw_status run_scan_backward(int64_t op, const fw_scan_args* a) {
  ScanPlan p;
  const fw_status s = plan_scan(op, a, &p, Direction::kBackward);
  if (s != FW_OK) return s;
  const int64_t K = p.K, V = p.V, heads_per_group = p.HV / p.H;
  int64_t longest = 0;
  for (int64_t n = 0; n < p.N; ++n)
    if (p.length(n) > longest) longest = p.length(n);
  // The chunked backward takes every op; FW_MODE_RECURRENT goes token by
  // token.
  const bool chunked = p.mode != FW_MODE_RECURRENT;
  const int64_t interval = backward_interval(longest, p.chunk);
  const bool saved = p.intermediate.data != nullptr;  // the forward's chunk states
  const int64_t groups = p.N * p.H;
  // The backward's work, as the forward's, counted three times (its
  // products against the forward's: docs/design.md, "The backward").
  const double work = 3.0 * p.model_flops();
  const ThreadFloors& floors = p.kernels->thread_floors;
  Team team = call_team(num_threads(), work, floors.pairs, floors.wake);
  if (team.threads > groups) team.threads = static_cast<int>(groups);
  const int64_t threads = team.threads;
  // The chunked form runs `lockstep` q/k heads of a sequence at a time,
  // where that leaves no thread with more heads than one at a time would.
  const ChunkBackwardScratch chunk_ws =
      chunk_backward_scratch(longest, K, V, p.chunk, saved, p.op->beta && !saved);
  const int64_t lockstep =
      chunked ? lockstep_heads(p.H, p.N, threads, chunk_ws.per_pair, K * V) : 1;
  const int64_t sets_per_sequence = (p.H + lockstep - 1) / lockstep;
  const int64_t kernel_ws =
      chunked ? chunk_ws.total(lockstep) : backward_scratch(longest, K, V, interval).total;
  int64_t per_thread = 0, total = 0;
  // dq and dk sums only where value heads share a q/k head or an L2 norm
  // follows (BackwardTask::direct_qk).
  const int64_t summed = p.HV == p.H && !p.qk_l2norm ? 0 : longest;
  if (__builtin_add_overflow(kernel_ws, lockstep * own_floats(summed, K, V), &per_thread) ||
      __builtin_mul_overflow(per_thread, threads, &total))
    return FW_ERR_OUT_OF_MEMORY;
  Workspace ws(total);
  if (!ws.get()) return FW_ERR_OUT_OF_MEMORY;

  // q/k heads h0 .. h0 + m - 1 of sequence n, each value head of a q/k head
  // in turn (their dq and dk sums in head order).
  auto run_set = [&](int64_t set, int slot) {
    const FlushDenormals flush;
    float* mine = ws.get() + slot * per_thread;
    const int64_t n = set / sets_per_sequence, h0 = set % sets_per_sequence * lockstep;
    const int64_t m = p.H - h0 < lockstep ? p.H - h0 : lockstep;
    OwnBuffers own[kMaxLockstep];
    BackwardTask tasks[kMaxLockstep];
    for (int64_t g = 0; g < m; ++g)
      own[g] = own_buffers(mine + kernel_ws + g * own_floats(summed, K, V), summed, K, V);
    for (int64_t j = 0; j < heads_per_group; ++j) {
      for (int64_t g = 0; g < m; ++g)
        tasks[g] =
            backward_task(p, n * p.HV + (h0 + g) * heads_per_group + j, own[g], j == 0, interval);
      if (chunked)
        p.kernels->scan_backward_chunked(tasks, m, mine);
      else
        p.kernels->scan_backward(tasks[0], mine);
      for (int64_t g = 0; g < m; ++g)
        if (p.v_first && tasks[g].dS0)
          p.kernels->transpose(K, V, tasks[g].dS0, V,
                               p.grad.initial_state.at(n, (h0 + g) * heads_per_group + j),
                               p.grad.initial_state.row);
    }
    for (int64_t g = 0; g < m; ++g) p.kernels->scan_backward_qk(tasks[g], mine);
  };
  team_loop(team, p.N * sets_per_sequence, run_set);
  return FW_OK;
}

}  // namespace
}  // namespace fw

extern "C" {

FW_API fw_status fw_scan_backward(fw_op op, const fw_scan_args* args) {
  return fw::run_scan_backward(op, args);
}

// fw_<op>_backward, one per row of the op registry.
#define FW_OP_BACKWARD_ENTRY_POINT(id, fn, name, gate, beta, flags, flops, family) \
  FW_API fw_status fn##_backward(const fw_scan_args* args) {                       \
    return fw::run_scan_backward(id, args);                                        \
  }
FW_OP_REGISTRY(FW_OP_BACKWARD_ENTRY_POINT)
#undef FW_OP_BACKWARD_ENTRY_POINT

}  // extern "C"
