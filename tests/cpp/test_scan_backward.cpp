// The scans' backward (fw_scan_backward) against the double reference
// (reference_backward.hpp, itself checked by central differences) on every
// backend, op, option and form; bitwise the same for any thread count; the
// forward's states; non-finite inputs; half operands; bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends.hpp"
#include "backward_problem.hpp"
#include "half.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

// Every gradient of the problem's run against the reference: relative max
// error (max |x - ref| / max |ref|) below tol.
void expect_close(BackwardProblem& bp, double tol) {
  const Grads want = bp.reference();
  ASSERT_EQ(bp.run(), FW_OK);
  EXPECT_LT(rel_max_error(want.dq, bp.dq), tol) << "dq";
  EXPECT_LT(rel_max_error(want.dk, bp.dk), tol) << "dk";
  EXPECT_LT(rel_max_error(want.dv, bp.dv), tol) << "dv";
  if (!bp.g.empty()) {
    EXPECT_LT(rel_max_error(want.dg, bp.dg), tol) << "dg";
  }
  if (!bp.beta.empty()) {
    EXPECT_LT(rel_max_error(want.dbeta, bp.dbeta), tol) << "dbeta";
  }
  if (!bp.S0.empty()) {
    EXPECT_LT(rel_max_error(want.dh0, bp.dh0_k_first()), tol) << "dh0";
  }
}

// The bound for T <= 1000.
constexpr double kTol = 1e-4;

class ScanBackward : public ::testing::TestWithParam<fw_backend> {};

// Both forms: chunked (AUTO) and token by token (FW_MODE_RECURRENT).
TEST_P(ScanBackward, MatchesReferenceEveryOp) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_AUTO, FW_MODE_RECURRENT})
      for (int64_t T : {1, 7, 70}) {
        SCOPED_TRACE(std::string(op_name(op)) + " T=" + std::to_string(T) +
                     (mode == FW_MODE_RECURRENT ? " recurrent" : ""));
        BackwardOptions o;
        BackwardProblem bp(op, 2, T, 2, 4, 16, 8, o, 5);
        bp.args.mode = mode;
        expect_close(bp, kTol);
      }
  BackwardOptions n;  // normalize token by token
  n.normalize = true;
  BackwardProblem bp(FW_OP_LINEAR_ATTN, 2, 23, 1, 2, 12, 20, n, 8);
  bp.args.mode = FW_MODE_RECURRENT;
  SCOPED_TRACE("normalize recurrent");
  expect_close(bp, kTol);
}

TEST_P(ScanBackward, MatchesReferenceWithOptions) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  struct Case {
    const char* name;
    BackwardOptions o;
  };
  std::vector<Case> cases;
  BackwardOptions o;
  o.l2 = true;
  cases.push_back({"l2", o});
  o = {};
  o.v_first = true;
  cases.push_back({"v_first", o});
  o = {};
  o.packed = true;
  cases.push_back({"cu_seqlens", o});
  o = {};
  o.scale = 0.37f;
  o.initial_state = false;
  o.final_grad = false;
  cases.push_back({"scale, no states", o});
  o = {};
  o.chunk = 5;
  cases.push_back({"chunk 5", o});
  for (fw_op op : all_ops())
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + c.name);
      BackwardProblem bp(op, 2, 23, 1, 2, 12, 20, c.o, 7);
      expect_close(bp, kTol);
    }
  BackwardOptions n;
  n.normalize = true;
  BackwardProblem bp(FW_OP_LINEAR_ATTN, 2, 23, 1, 2, 12, 20, n, 8);
  SCOPED_TRACE("normalize");
  expect_close(bp, kTol);
}

// Kimi's gates reach -5 per token and channel, Qwen3-Next's -11 per token;
// anywhere in [-20, 0] the gradients hold the bound. K = 64 and 128 also
// take AVX-512's per-channel walks with their rows held in registers
// (chunk_backward.hpp); at K = 128 a scalar gate's dg, from the whole
// sequence's identity, had reached 3.8e-4 (docs/decisions.md).
TEST_P(ScanBackward, StrongGates) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  for (fw_op op : all_ops())
    for (int64_t K : {16, 64, 128}) {
      if (!is_gated(op)) continue;
      SCOPED_TRACE(std::string(op_name(op)) + " K=" + std::to_string(K));
      BackwardOptions o;
      o.gate_lo = -20;
      BackwardProblem bp(op, 1, 40, 1, 1, K, 16, o, 9);
      expect_close(bp, kTol);
    }
}

// T = 1000 tokens, gates from mild to strong (the emulated AVX-512 suite
// leaves *_T1000_* out: minutes under Bochs).
TEST_P(ScanBackward, Gates_T1000_) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  for (fw_op op : all_ops())
    for (double lo : {-1.0, -5.0, -20.0}) {
      if (!is_gated(op) && lo != -1.0) continue;
      SCOPED_TRACE(std::string(op_name(op)) + " T=1000 g in [" + std::to_string(lo) + ", 0]");
      BackwardOptions o;
      o.l2 = true;
      o.gate_lo = lo;
      BackwardProblem bp(op, 1, 1000, 1, 1, 32, 32, o, 10);
      expect_close(bp, kTol);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, ScanBackward, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

// All gradients of one run, concatenated.
std::vector<float> all_grads(const BackwardProblem& bp) {
  std::vector<float> x;
  for (const std::vector<float>* y : {&bp.dq, &bp.dk, &bp.dv, &bp.dg, &bp.dbeta, &bp.dh0})
    x.insert(x.end(), y->begin(), y->end());
  return x;
}

// The thread count changes no bit, in either form (the chunk size and the
// mode choose the arithmetic, as in the forward). Token by token, the
// interval between kept states changes none either.
TEST(ScanBackwardDeterminism, ThreadsChangeNoBit) {
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      SCOPED_TRACE(std::string(op_name(op)) +
                   (mode == FW_MODE_CHUNKED ? " chunked" : " recurrent"));
      BackwardOptions o;
      o.chunk = 8;
      BackwardProblem one(op, 3, 50, 2, 4, 16, 16, o, 11);
      one.args.mode = mode;
      {
        ThreadScope threads(1);
        ASSERT_EQ(one.run(), FW_OK);
      }
      for (int threads : {2, 3, 8}) {
        BackwardProblem many(op, 3, 50, 2, 4, 16, 16, o, 11);
        many.args.mode = mode;
        if (mode == FW_MODE_RECURRENT) many.args.chunk_size = threads * 8;
        ThreadScope scope(threads);
        ASSERT_EQ(many.run(), FW_OK);
        EXPECT_TRUE(same_bits(all_grads(one), all_grads(many))) << threads << " threads";
      }
    }
}

// The chunked form runs several q/k heads in lockstep, as many as the
// thread count allows (src/scan_backward.cpp, lockstep_heads): with 5 q/k
// heads of 2 value heads each, 1 thread takes all 5 at once, 3 threads
// sets of 2, 2 and 1, 5 threads one at a time. Every option that gives a
// pair state of its own (normalize's z, per-channel dg sums, V-first states
// transposed in and out) keeps its bits, and so do sequences packed along
// T (cu_seqlens).
TEST(ScanBackwardDeterminism, HeadsInLockstepChangeNoBit) {
  for (fw_op op : all_ops())
    for (bool variant : {false, true}) {
      SCOPED_TRACE(std::string(op_name(op)) + (variant ? " variant" : ""));
      BackwardOptions o;
      o.chunk = 8;
      o.v_first = variant;
      o.normalize = variant && op == FW_OP_LINEAR_ATTN;
      o.l2 = variant && is_delta(op);
      o.packed = variant;
      std::vector<float> first;
      for (int threads : {1, 3, 5}) {
        BackwardProblem bp(op, 2, 37, 5, 10, 16, 16, o, 21);
        bp.args.mode = FW_MODE_CHUNKED;
        ThreadScope scope(threads);
        ASSERT_EQ(bp.run(), FW_OK);
        if (threads == 1)
          first = all_grads(bp);
        else
          EXPECT_TRUE(same_bits(first, all_grads(bp))) << threads << " threads";
      }
    }
}

// The chunked forward's intermediate states (its chunk boundaries) given to
// the backward replace its own first pass: the same gradients, bit for bit
// (the same products of the same floats), K- or V-first.
TEST(ScanBackwardSavedStates, ForwardStatesGiveTheSameBits) {
  for (fw_op op : all_ops())
    for (bool v_first : {false, true}) {
      SCOPED_TRACE(std::string(op_name(op)) + (v_first ? " v_first" : ""));
      BackwardOptions o;
      o.chunk = 8;
      o.v_first = v_first;
      BackwardProblem plain(op, 2, 37, 3, 6, 16, 12, o, 15), saved(op, 2, 37, 3, 6, 16, 12, o, 15);
      plain.args.mode = saved.args.mode = FW_MODE_CHUNKED;
      // The forward with its intermediate states [N, S, HV, rows, cols].
      fw_scan_args f = saved.args;
      std::vector<float> o_buf(saved.v.size());
      const int64_t osz[4] = {2, 37, 6, 12};
      fw_tensor_contiguous(&f.o, o_buf.data(), 4, osz);
      int64_t steps = 0;
      ASSERT_EQ(fw_intermediate_state_count(op, &f, &steps), FW_OK);
      ASSERT_EQ(steps, 5);
      std::vector<float> inter(2 * steps * 6 * 16 * 12);
      const int64_t isz[5] = {2, steps, 6, v_first ? 12 : 16, v_first ? 16 : 12};
      fw_tensor_contiguous(&f.intermediate_states, inter.data(), 5, isz);
      ASSERT_EQ(fw_scan(op, &f), FW_OK);
      saved.args.intermediate_states = f.intermediate_states;
      ASSERT_EQ(plain.run(), FW_OK);
      ASSERT_EQ(saved.run(), FW_OK);
      EXPECT_TRUE(same_bits(all_grads(plain), all_grads(saved)));
      // Only with FW_MODE_CHUNKED, whose chunks they are.
      saved.args.mode = FW_MODE_AUTO;
      EXPECT_EQ(saved.run(), FW_ERR_INVALID_ARGUMENT);
    }
}

// A NaN in one (sequence, value head)'s input reaches only that pair's
// gradients (and its q/k head's dq and dk): every other pair's gradients are
// those of the clean call, bit for bit, in either form.
TEST(ScanBackwardNonFinite, NaNStaysInItsPair) {
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      SCOPED_TRACE(std::string(op_name(op)) +
                   (mode == FW_MODE_CHUNKED ? " chunked" : " recurrent"));
      BackwardOptions o;
      o.chunk = 8;
      const int64_t B = 2, T = 21, H = 2, K = 8, V = 8;
      BackwardProblem clean(op, B, T, H, H, K, V, o, 16), dirty(op, B, T, H, H, K, V, o, 16);
      clean.args.mode = dirty.args.mode = mode;
      dirty.v[((0 * T + 9) * H + 0) * V + 3] = std::nanf("");  // sequence 0, head 0, token 9
      ASSERT_EQ(clean.run(), FW_OK);
      ASSERT_EQ(dirty.run(), FW_OK);
      auto other_pairs_equal = [&](const std::vector<float>& a, const std::vector<float>& b,
                                   int64_t per_token) {  // rows [B, T, H, per_token]
        for (int64_t n = 0; n < B; ++n)
          for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < H; ++h) {
              if (n == 0 && h == 0) continue;
              const int64_t at = ((n * T + t) * H + h) * per_token;
              if (std::memcmp(&a[at], &b[at], per_token * sizeof(float)) != 0) return false;
            }
        return true;
      };
      EXPECT_TRUE(other_pairs_equal(clean.dq, dirty.dq, K));
      EXPECT_TRUE(other_pairs_equal(clean.dk, dirty.dk, K));
      EXPECT_TRUE(other_pairs_equal(clean.dv, dirty.dv, V));
      if (!clean.g.empty()) {
        EXPECT_TRUE(other_pairs_equal(clean.dg, dirty.dg, is_channel_gated(op) ? K : 1));
      }
      if (!clean.beta.empty()) {
        EXPECT_TRUE(other_pairs_equal(clean.dbeta, dirty.dbeta, 1));
      }
      for (int64_t n = 0; n < B; ++n)  // dh0 [B, H, K, V]
        for (int64_t h = 0; h < H; ++h) {
          if (n == 0 && h == 0) continue;
          const int64_t at = (n * H + h) * K * V;
          EXPECT_EQ(std::memcmp(&clean.dh0[at], &dirty.dh0[at], K * V * sizeof(float)), 0);
        }
      // And the pair itself got its NaN (the gradient of o's tokens from 9 on).
      bool any_nan = false;
      for (float x : dirty.dq) any_nan = any_nan || std::isnan(x);
      EXPECT_TRUE(any_nan);
    }
}

// A NaN in the output's gradient at token j reaches only the gradients of
// tokens up to j (their inputs are what o_j read): every later token's
// gradients stay finite, also later tokens of j's own chunk, whose products
// against transposed triangular factors skip the zeros above the diagonal
// (gemm's kUpperK) instead of multiplying NaN by them. Every op, backend
// and form.
TEST(ScanBackwardNonFinite, LaterTokensKeepFiniteGradients) {
  for (fw_backend be : all_backends())
    for (fw_op op : all_ops())
      for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
        if (!fw_backend_is_supported(be)) continue;
        SCOPED_TRACE(std::string(fw_backend_name(be)) + " " + op_name(op) +
                     (mode == FW_MODE_CHUNKED ? " chunked" : " recurrent"));
        BackwardOptions o;
        o.chunk = 8;
        const int64_t T = 21, H = 2, K = 16, V = 16, j = 10;  // mid chunk 1 (tokens 8-15)
        BackwardProblem bp(op, 1, T, H, H, K, V, o, 17);
        bp.args.backend = be;
        bp.args.mode = mode;
        bp.dout[(j * H + 0) * V + 5] = std::nanf("");  // head 0, token j
        ASSERT_EQ(bp.run(), FW_OK);
        auto later_finite = [&](const std::vector<float>& x, int64_t per_token) {
          for (int64_t t = j + 1; t < T; ++t)
            for (int64_t e = 0; e < per_token; ++e)
              if (!std::isfinite(x[(t * H + 0) * per_token + e])) return false;
          return true;
        };
        EXPECT_TRUE(later_finite(bp.dq, K));
        EXPECT_TRUE(later_finite(bp.dk, K));
        EXPECT_TRUE(later_finite(bp.dv, V));
        if (!bp.g.empty()) {
          EXPECT_TRUE(later_finite(bp.dg, is_channel_gated(op) ? K : 1));
        }
        if (!bp.beta.empty()) {
          EXPECT_TRUE(later_finite(bp.dbeta, 1));
        }
        EXPECT_TRUE(std::isnan(bp.dv[(j * H + 0) * V + 5]) || std::isnan(bp.dq[(j * H + 0) * K]));
      }
}

// Half operands: each gradient output in a half type is its fp32 value
// rounded once; half inputs give the reference's gradients of the rounded
// inputs.
TEST(ScanBackwardHalf, OutputsRoundOnceInputsWiden) {
  for (int32_t dt : {FW_DTYPE_F16, FW_DTYPE_BF16})
    for (fw_op op : {FW_OP_SIMPLE_GLA, FW_OP_KDA}) {
      SCOPED_TRACE(std::string(op_name(op)) + (dt == FW_DTYPE_F16 ? " f16" : " bf16"));
      BackwardOptions o;
      BackwardProblem f32(op, 1, 19, 1, 2, 16, 8, o, 12);
      BackwardProblem half(op, 1, 19, 1, 2, 16, 8, o, 12);
      // Inputs rounded to the half type, in both problems.
      std::vector<TypedBuffer> typed;
      typed.reserve(16);
      for (auto [x, y, t, gt] :
           {std::make_tuple(&f32.q, &half.q, &half.args.q, &half.args.grad_q),
            std::make_tuple(&f32.k, &half.k, &half.args.k, &half.args.grad_k),
            std::make_tuple(&f32.v, &half.v, &half.args.v, &half.args.grad_v),
            std::make_tuple(&f32.g, &half.g, &half.args.g, &half.args.grad_g),
            std::make_tuple(&f32.beta, &half.beta, &half.args.beta, &half.args.grad_beta),
            std::make_tuple(&f32.dout, &half.dout, &half.args.grad_o,
                            static_cast<fw_tensor*>(nullptr))}) {
        if (x->empty()) continue;
        round_into(x, dt);
        typed.push_back(round_into(y, dt));
        t->data = typed.back().data();
        t->dtype = dt;
        if (gt) {  // the gradient output in the half type too
          typed.push_back(round_into(y, dt));
          gt->data = typed.back().data();
          gt->dtype = dt;
        }
      }
      f32.sync_double();
      expect_close(f32, kTol);
      ASSERT_EQ(half.run(), FW_OK);
      // typed: pairs of (input, its gradient output), dout last alone.
      const std::vector<float>* want[] = {&f32.dq, &f32.dk, &f32.dv, &f32.dg, &f32.dbeta};
      size_t w = 0;
      for (size_t i = 0; i + 1 < typed.size(); i += 2, ++w) {
        while (want[w]->empty()) ++w;
        const TypedBuffer& got = typed[i + 1];
        for (size_t e = 0; e < got.size(); ++e)
          ASSERT_TRUE(is_rounding_of(got.at(e), (*want[w])[e], dt)) << w << " element " << e;
      }
      EXPECT_TRUE(same_bits(f32.dh0, half.dh0));
    }
}

// Bad input: a status, and nothing written.
TEST(ScanBackwardArgs, BadInputWritesNothing) {
  BackwardOptions o;
  auto fresh = [&] { return BackwardProblem(FW_OP_GATED_DELTA_RULE, 1, 9, 1, 1, 8, 8, o, 13); };
  auto untouched = [](const BackwardProblem& bp) {
    for (const std::vector<float>* y : {&bp.dq, &bp.dk, &bp.dv, &bp.dg, &bp.dbeta, &bp.dh0})
      for (float x : *y)
        if (x != BackwardProblem::kSentinel) return false;
    return true;
  };
  struct Case {
    const char* name;
    fw_status want;
    void (*spoil)(BackwardProblem*);
  };
  const Case cases[] = {
      {"no grad_o", FW_ERR_NULL_POINTER, [](BackwardProblem* b) { b->args.grad_o.data = nullptr; }},
      {"no g", FW_ERR_NULL_POINTER, [](BackwardProblem* b) { b->args.g.data = nullptr; }},
      {"grad_initial_state without initial_state", FW_ERR_INVALID_ARGUMENT,
       [](BackwardProblem* b) { b->args.initial_state.data = nullptr; }},
      {"state_indices", FW_ERR_UNSUPPORTED,
       [](BackwardProblem* b) {
         static const int32_t idx[1] = {0};
         b->args.state_indices = idx;
         b->args.num_state_slots = 1;
       }},
      {"A_log", FW_ERR_UNSUPPORTED,
       [](BackwardProblem* b) {
         static float a_log[1] = {0};
         b->args.A_log.data = a_log;
       }},
      {"grad_q over q", FW_ERR_ALIASING,
       [](BackwardProblem* b) { b->args.grad_q.data = b->args.q.data; }},
      {"grad_v over grad_o", FW_ERR_ALIASING,
       [](BackwardProblem* b) { b->args.grad_v.data = b->args.grad_o.data; }},
      {"grad_k over grad_q", FW_ERR_ALIASING,
       [](BackwardProblem* b) { b->args.grad_k.data = b->args.grad_q.data; }},
      {"grad_initial_state over initial_state", FW_ERR_ALIASING,
       [](BackwardProblem* b) { b->args.grad_initial_state.data = b->args.initial_state.data; }},
      {"grad_beta fp64", FW_ERR_UNSUPPORTED,
       [](BackwardProblem* b) { b->args.grad_beta.dtype = 7; }},
      {"grad_initial_state bf16", FW_ERR_UNSUPPORTED,
       [](BackwardProblem* b) { b->args.grad_initial_state.dtype = FW_DTYPE_BF16; }},
      {"grad_q negative stride", FW_ERR_INVALID_STRIDE,
       [](BackwardProblem* b) { b->args.grad_q.stride[1] = -8; }},
      {"grad_v overlapping itself", FW_ERR_INVALID_STRIDE,
       [](BackwardProblem* b) { b->args.grad_v.stride[1] = 0; }},
      {"unknown flag", FW_ERR_INVALID_FLAGS, [](BackwardProblem* b) { b->args.flags = 0x8000; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BackwardProblem bp = fresh();
    c.spoil(&bp);
    EXPECT_EQ(bp.run(), c.want);
    EXPECT_TRUE(untouched(bp));
  }
  // An ungated op given a g gradient.
  BackwardProblem la(FW_OP_DELTA_RULE, 1, 9, 1, 1, 8, 8, o, 14);
  std::vector<float> dg(9, BackwardProblem::kSentinel);
  const int64_t sizes[3] = {1, 9, 1};
  fw_tensor_contiguous(&la.args.grad_g, dg.data(), 3, sizes);
  EXPECT_EQ(la.run(), FW_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(untouched(la));
  // The forward's outputs are neither read nor written by the backward.
  BackwardProblem ok = fresh();
  std::vector<float> o_buf(9 * 8, 3.0f);
  const int64_t osz[4] = {1, 9, 1, 8};
  fw_tensor_contiguous(&ok.args.o, o_buf.data(), 4, osz);
  ok.args.final_state = ok.args.initial_state;
  EXPECT_EQ(ok.run(), FW_OK);
  for (float x : o_buf) EXPECT_EQ(x, 3.0f);
  // Every named entry point is fw_scan_backward of its op.
  EXPECT_EQ(fw_gated_delta_rule_backward(&ok.args), FW_OK);
  EXPECT_EQ(fw_linear_attn_backward(&ok.args), FW_ERR_INVALID_ARGUMENT);  // g on an ungated op
}

}  // namespace
}  // namespace fwtest
