// The serving state model: state pools indexed per sequence (padding
// entries included), V-first states, padded strides and intermediate
// states. Each must give exactly the bits of the plain dense, K-first call.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "backends.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

// Three sequences (packed or batched), four value heads: enough pairs for
// the side-by-side path at one thread and too few for it at 13 threads
// (src/scan.cpp: all threads then share each pair).
Shape state_shape(fw_op op, int32_t mode, bool packed, int64_t V = 36) {
  Shape s = make_shape(op, mode, 3, 45, 2, 4, 20, V, true);
  s.chunk = 16;
  if (packed) {
    s.B = 1;
    s.T = 90;
    s.cu_seqlens = true;  // lengths 30, 0, 60
  }
  return s;
}

struct Case {
  fw_op op;
  int32_t mode;
  bool packed;
  int threads;
  std::string name() const {
    std::ostringstream n;
    n << op_name(op) << (mode == FW_MODE_CHUNKED ? " chunked" : " recurrent")
      << (packed ? " packed" : "") << " threads " << threads;
    return n.str();
  }
};

std::vector<Case> cases() {
  std::vector<Case> c;
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT})
      for (bool packed : {false, true})
        for (int threads : {1, 13}) c.push_back({op, mode, packed, threads});
  return c;
}

int64_t state_size(const Shape& s) { return s.HV * s.K * s.V; }

// [K, V] -> [V, K] of every slot-head block.
std::vector<float> to_v_first(const std::vector<float>& x, int64_t K, int64_t V) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size() / (K * V); ++b)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j) y[b * K * V + j * K + i] = x[b * K * V + i * V + j];
  return y;
}

// The dense K-first call every variant is held to.
struct Dense {
  std::vector<float> o, state;
  explicit Dense(const Shape& s) {
    Problem p(s);
    EXPECT_EQ(p.run(), FW_OK);
    o = p.o;
    state = p.state_out;
  }
};

TEST(StateModel, PoolInPlaceMatchesDenseCall) {
  for (const Case& c : cases()) {
    ThreadScope threads(c.threads);
    const Shape s = state_shape(c.op, c.mode, c.packed);
    const Dense dense(s);
    Problem p(s);
    const int64_t N = p.args.cu_seqlens ? p.args.num_seqs : s.B, slot = state_size(s);
    // Seven slots; sequence n lives in slot idx[n]; the rest must not change.
    p.slots = {5, 2, 0};
    std::vector<float> pool(7 * slot, 3.5f);
    for (int64_t n = 0; n < N; ++n)
      std::copy(p.state_in.begin() + n * slot, p.state_in.begin() + (n + 1) * slot,
                pool.begin() + p.slots[n] * slot);
    p.set_state(&p.args.initial_state, pool.data(), 7);
    p.args.final_state = p.args.initial_state;
    p.args.state_indices = p.slots.data();
    p.args.num_state_slots = 7;
    ASSERT_EQ(p.run(), FW_OK) << c.name();
    EXPECT_TRUE(same_bits(p.o, dense.o)) << c.name();
    for (int64_t n = 0; n < N; ++n) {
      const std::vector<float> got(pool.begin() + p.slots[n] * slot,
                                   pool.begin() + (p.slots[n] + 1) * slot);
      const std::vector<float> want(dense.state.begin() + n * slot,
                                    dense.state.begin() + (n + 1) * slot);
      EXPECT_TRUE(same_bits(got, want)) << c.name() << " seq " << n;
    }
    for (int64_t free_slot : {1, 3, 4, 6})
      for (int64_t i = 0; i < slot; ++i) ASSERT_EQ(pool[free_slot * slot + i], 3.5f);
  }
}

TEST(StateModel, PaddingEntriesWriteZerosAndTouchNoSlot) {
  for (const Case& c : cases()) {
    ThreadScope threads(c.threads);
    const Shape s = state_shape(c.op, c.mode, c.packed);
    const Dense dense(s);
    Problem p(s);
    const int64_t slot = state_size(s);
    p.slots = {1, -1, 0};  // the middle sequence is padding
    std::vector<float> pool(2 * slot);
    std::copy(p.state_in.begin(), p.state_in.begin() + slot, pool.begin() + slot);
    std::copy(p.state_in.begin() + 2 * slot, p.state_in.begin() + 3 * slot, pool.begin());
    p.set_state(&p.args.initial_state, pool.data(), 2);
    p.args.final_state = p.args.initial_state;
    p.args.state_indices = p.slots.data();
    p.args.num_state_slots = 2;
    ASSERT_EQ(p.run(), FW_OK) << c.name();
    // Outputs: sequences 0 and 2 as in the dense call, sequence 1 zeros.
    const int64_t row = s.HV * s.V;
    for (int64_t n = 0; n < 3; ++n) {
      const int64_t t0 = c.packed ? p.cu[n] : 0, t1 = c.packed ? p.cu[n + 1] : s.T;
      const int64_t b = c.packed ? 0 : n;
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t j = 0; j < row; ++j) {
          const size_t i = (b * s.T + t) * row + j;
          if (n == 1)
            ASSERT_EQ(p.o[i], 0.0f) << c.name();
          else
            ASSERT_EQ(p.o[i], dense.o[i]) << c.name() << " seq " << n;
        }
    }
    const std::vector<float> s0(pool.begin() + slot, pool.end()),
        s2(pool.begin(), pool.begin() + slot);
    EXPECT_TRUE(same_bits(s0, std::vector<float>(dense.state.begin(), dense.state.begin() + slot)))
        << c.name();
    EXPECT_TRUE(
        same_bits(s2, std::vector<float>(dense.state.begin() + 2 * slot, dense.state.end())))
        << c.name();
  }
}

// fla's inplace_final_state=False: the pool is read, the final state goes
// to a [N, ...] tensor by sequence (zeros for padding).
TEST(StateModel, FinalStateBySequence) {
  for (const Case& c : cases()) {
    ThreadScope threads(c.threads);
    const Shape s = state_shape(c.op, c.mode, c.packed);
    const Dense dense(s);
    Problem p(s);
    const int64_t slot = state_size(s);
    std::vector<float> pool(4 * slot, 0.0f);
    p.slots = {3, 1, -1};
    std::copy(p.state_in.begin(), p.state_in.begin() + slot, pool.begin() + 3 * slot);
    std::copy(p.state_in.begin() + slot, p.state_in.begin() + 2 * slot, pool.begin() + slot);
    const std::vector<float> pool_before = pool;
    p.set_state(&p.args.initial_state, pool.data(), 4);
    p.args.state_indices = p.slots.data();
    p.args.num_state_slots = 4;
    p.args.flags |= FW_FLAG_FINAL_STATE_BY_SEQUENCE;
    ASSERT_EQ(p.run(), FW_OK) << c.name();
    EXPECT_TRUE(same_bits(pool, pool_before)) << c.name();
    const std::vector<float> want01(dense.state.begin(), dense.state.begin() + 2 * slot);
    EXPECT_TRUE(
        same_bits(std::vector<float>(p.state_out.begin(), p.state_out.begin() + 2 * slot), want01))
        << c.name();
    for (int64_t i = 2 * slot; i < 3 * slot; ++i) ASSERT_EQ(p.state_out[i], 0.0f) << c.name();
  }
}

// The V-first call of shape s (pooled: in place, identity slots) against
// the dense K-first call, bit for bit.
void expect_v_first_is_transposed(const Shape& s, bool pooled, const std::string& name) {
  const Dense dense(s);
  Problem p(s);
  std::vector<float> in = to_v_first(p.state_in, s.K, s.V);
  const int64_t N = static_cast<int64_t>(in.size()) / state_size(s);
  p.set_state(&p.args.initial_state, in.data(), N, /*v_first=*/true);
  p.set_state(&p.args.final_state, p.state_out.data(), N, /*v_first=*/true);
  p.args.flags |= FW_FLAG_STATE_V_FIRST;
  if (pooled) {  // in place, identity slots
    p.slots.resize(N);
    for (int64_t n = 0; n < N; ++n) p.slots[n] = static_cast<int32_t>(n);
    p.args.final_state = p.args.initial_state;
    p.args.state_indices = p.slots.data();
    p.args.num_state_slots = N;
  }
  ASSERT_EQ(p.run(), FW_OK) << name;
  EXPECT_TRUE(same_bits(p.o, dense.o)) << name;
  EXPECT_TRUE(same_bits(pooled ? in : p.state_out, to_v_first(dense.state, s.K, s.V)))
      << name << (pooled ? " pooled" : "");
}

TEST(StateModel, VFirstIsTheTransposedKFirst) {
  for (const Case& c : cases())
    for (bool pooled : {false, true}) {
      ThreadScope threads(c.threads);
      expect_v_first_is_transposed(state_shape(c.op, c.mode, c.packed), pooled, c.name());
    }
}

// Rows wider than the recurrent sweeps' register block (128 floats on
// AVX-512), on every backend: the first token's K-first sweep then goes row
// by row, and the later tokens' in runs of rows over a register block, a
// vector and single columns. K = 32 takes the V-first kernels' own path (K
// a multiple of the vector width; rows two at a time after the first
// token, an odd V leaving one), K = 20 a transposed block.
class RecurrentWidths : public ::testing::TestWithParam<fw_backend> {};

TEST_P(RecurrentWidths, VFirstIsTheTransposedKFirstWhenWide) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  for (fw_op op : all_ops())
    for (int64_t K : {20, 32}) {
      const Shape s = make_shape(op, FW_MODE_RECURRENT, 2, 5, 1, 2, K, 151, true);
      expect_v_first_is_transposed(s, false, std::string(op_name(op)) + " K=" + std::to_string(K));
    }
}

// Narrow states too: fewer rows than partial sums, rows narrower than a
// vector, widths between the register blocks, and one whole block (128
// floats: the first token's rows on AVX-512 and AVX2).
TEST_P(RecurrentWidths, VFirstIsTheTransposedKFirstWhenNarrow) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t shapes[][2] = {{1, 3}, {5, 9}, {8, 16}, {17, 40}, {16, 100}, {16, 128}};
  for (fw_op op : all_ops())
    for (const auto& kv : shapes) {
      const Shape s = make_shape(op, FW_MODE_RECURRENT, 2, 5, 1, 2, kv[0], kv[1], true);
      expect_v_first_is_transposed(
          s, false,
          std::string(op_name(op)) + " K=" + std::to_string(kv[0]) + " V=" + std::to_string(kv[1]));
    }
}

INSTANTIATE_TEST_SUITE_P(All, RecurrentWidths, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

// Slots and rows padded past their contents (vLLM pads the slot stride).
TEST(StateModel, PaddedStateStrides) {
  for (const Case& c : cases()) {
    ThreadScope threads(c.threads);
    const Shape s = state_shape(c.op, c.mode, c.packed);
    const Dense dense(s);
    Problem p(s);
    const int64_t N = static_cast<int64_t>(p.state_in.size()) / state_size(s);
    const int64_t ld = s.V + 5, head = s.K * ld + 3, slot_stride = s.HV * head + 64;
    std::vector<float> padded(N * slot_stride, 9.0f);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < s.HV; ++h)
        for (int64_t i = 0; i < s.K; ++i)
          for (int64_t j = 0; j < s.V; ++j)
            padded[n * slot_stride + h * head + i * ld + j] =
                p.state_in[((n * s.HV + h) * s.K + i) * s.V + j];
    fw_tensor t{padded.data(), FW_DTYPE_F32, 0, {slot_stride, head, ld, 1, 0}};
    p.args.initial_state = p.args.final_state = t;
    ASSERT_EQ(p.run(), FW_OK) << c.name();
    EXPECT_TRUE(same_bits(p.o, dense.o)) << c.name();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < s.HV; ++h)
        for (int64_t i = 0; i < s.K; ++i) {
          for (int64_t j = 0; j < s.V; ++j)
            ASSERT_EQ(padded[n * slot_stride + h * head + i * ld + j],
                      dense.state[((n * s.HV + h) * s.K + i) * s.V + j])
                << c.name();
          for (int64_t j = s.V; j < ld; ++j)  // the rows' padding is never written
            ASSERT_EQ(padded[n * slot_stride + h * head + i * ld + j], 9.0f) << c.name();
        }
  }
}

// The state after each token (recurrent) or chunk (chunked) is the final
// state of the same call cut short there; rows past a sequence's end stay.
// V = 32 into a buffer on a cache line: whole-line rows, which the chunked
// kernels stream out as the state's update finishes them (ScanTask::S_copy);
// V = 36 goes through store_intermediate.
TEST(StateModel, IntermediateStatesAreTheStatesAfterEachStep) {
  for (const Case& c : cases())
    for (bool v_first : {false, true})
      for (int64_t V : {36, 32}) {
        ThreadScope threads(c.threads);
        const Shape s = state_shape(c.op, c.mode, c.packed, V);
        Problem p(s);
        const int64_t N = static_cast<int64_t>(p.state_in.size()) / state_size(s);
        if (v_first) p.args.flags |= FW_FLAG_STATE_V_FIRST;
        std::vector<float> in = v_first ? to_v_first(p.state_in, s.K, s.V) : p.state_in;
        p.set_state(&p.args.initial_state, in.data(), N, v_first);
        p.set_state(&p.args.final_state, p.state_out.data(), N, v_first);
        int64_t steps = 0;
        ASSERT_EQ(fw_intermediate_state_count(s.op, &p.args, &steps), FW_OK);
        const int64_t longest = c.packed ? 60 : s.T;
        ASSERT_EQ(steps, c.mode == FW_MODE_RECURRENT ? longest : (longest + s.chunk - 1) / s.chunk);
        const int64_t slot = state_size(s);
        p.inter.assign(N * steps * slot + 16, Problem::kSentinel);
        float* inter = p.inter.data();
        while (reinterpret_cast<uintptr_t>(inter) % 64 != 0) ++inter;
        const int64_t sizes[5] = {N, steps, s.HV, v_first ? s.V : s.K, v_first ? s.K : s.V};
        fw_tensor_contiguous(&p.args.intermediate_states, inter, 5, sizes);
        ASSERT_EQ(p.run(), FW_OK) << c.name();
        for (int64_t n = 0; n < N; ++n) {
          const int64_t len = c.packed ? p.cu[n + 1] - p.cu[n] : s.T;
          const int64_t used = c.mode == FW_MODE_RECURRENT ? len : (len + s.chunk - 1) / s.chunk;
          for (int64_t st = 0; st < steps; ++st) {
            const std::vector<float> got(inter + (n * steps + st) * slot,
                                         inter + (n * steps + st + 1) * slot);
            if (st >= used) {
              for (float e : got) ASSERT_EQ(e, Problem::kSentinel) << c.name() << " past end";
              continue;
            }
            // Sequence n alone, cut after this step: its final state.
            Shape cut = s;
            cut.B = 1;
            cut.cu_seqlens = false;
            cut.T = c.mode == FW_MODE_RECURRENT ? st + 1 : std::min(len, (st + 1) * s.chunk);
            Problem q(cut);
            const int64_t t0 = c.packed ? p.cu[n] : 0, b = c.packed ? 0 : n;
            auto copy_rows = [&](std::vector<float>& dst, const std::vector<float>& src,
                                 int64_t heads, int64_t d, int64_t T_src) {
              for (int64_t t = 0; t < cut.T; ++t)
                for (int64_t x = 0; x < heads * d; ++x)
                  dst[t * heads * d + x] = src[((b * T_src) + t0 + t) * heads * d + x];
            };
            copy_rows(q.q, p.q, s.H, s.K, s.T);
            copy_rows(q.k, p.k, s.H, s.K, s.T);
            copy_rows(q.v, p.v, s.HV, s.V, s.T);
            if (!q.g.empty()) copy_rows(q.g, p.g, s.HV, is_channel_gated(s.op) ? s.K : 1, s.T);
            if (!q.beta.empty()) copy_rows(q.beta, p.beta, s.HV, 1, s.T);
            std::copy(p.state_in.begin() + n * slot, p.state_in.begin() + (n + 1) * slot,
                      q.state_in.begin());
            ASSERT_EQ(q.run(), FW_OK);
            const std::vector<float> want =
                v_first ? to_v_first(q.state_out, s.K, s.V) : q.state_out;
            EXPECT_TRUE(same_bits(got, want))
                << c.name() << (v_first ? " v_first" : "") << " seq " << n << " step " << st;
          }
        }
      }
}

}  // namespace
}  // namespace fwtest
