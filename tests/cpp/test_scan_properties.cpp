// Properties beyond accuracy: thread-count determinism, in-place states,
// optional outputs, and g = 0 reducing to the ungated op.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

#include "backends.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

const auto& kOps = all_ops();

Shape props_shape(fw_op op, int32_t mode) {
  return make_shape(op, mode, 2, 150, 2, 4, 32, 40, true);
}

// Points p's q, k, v and initial state (and beta, with_beta) at src's: two
// calls on the same inputs that differ in the op or its gate.
void share_inputs(Problem& p, Problem& src, bool with_beta) {
  p.args.q.data = src.q.data();
  p.args.k.data = src.k.data();
  p.args.v.data = src.v.data();
  p.args.initial_state.data = src.state_in.data();
  if (with_beta && p.args.beta.data) p.args.beta.data = src.beta.data();
}

TEST(ScanProperties, ThreadCountNeverChangesABit) {
  for (fw_op op : kOps)
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      Problem one(props_shape(op, mode));
      {
        ThreadScope t(1);
        ASSERT_EQ(one.run(), FW_OK);
      }
      for (int threads : {2, 3}) {
        Problem many(props_shape(op, mode));
        ThreadScope t(threads);
        ASSERT_EQ(fw_get_num_threads(), threads);
        ASSERT_EQ(many.run(), FW_OK);
        EXPECT_TRUE(same_bits(one.o, many.o)) << op_name(op) << " threads " << threads;
        EXPECT_TRUE(same_bits(one.state_out, many.state_out)) << op_name(op) << " " << threads;
      }
    }
}

// Fewer (sequence, head) pairs than threads: threads prepare chunks side by
// side and split the value columns (src/scan.cpp), and still no bit may
// change. Chunk 16 over T = 150 gives 10 chunks: several groups of
// 2 x threads chunks, and a short last one.
Shape few_pairs_shape(fw_op op, int32_t mode, int64_t V, bool packed) {
  Shape s = props_shape(op, mode);
  s.B = 1;
  s.cu_seqlens = packed;  // three sequences, one empty: pairs < 5 threads
  s.H = s.HV = 1;
  s.V = V;
  s.chunk = 16;
  return s;
}

void expect_same_for_any_threads(const Shape& s, const char* what) {
  Problem one(s);
  {
    ThreadScope t(1);
    ASSERT_EQ(one.run(), FW_OK);
  }
  for (int threads : {2, 3, 5}) {
    Problem many(s);
    ThreadScope t(threads);
    ASSERT_EQ(many.run(), FW_OK);
    EXPECT_TRUE(same_bits(one.o, many.o)) << what << " threads " << threads;
    EXPECT_TRUE(same_bits(one.state_out, many.state_out)) << what << " threads " << threads;
    EXPECT_TRUE(same_bits(one.norm_out, many.norm_out)) << what << " threads " << threads;
  }
  // Without a final-state buffer the pair's state lives in the workspace.
  Problem nofinal(s);
  nofinal.args.final_state.data = nullptr;
  ThreadScope t(3);
  ASSERT_EQ(nofinal.run(), FW_OK);
  EXPECT_TRUE(same_bits(one.o, nofinal.o)) << what;
}

TEST(ScanProperties, FewPairsNeverChangeABit) {
  for (fw_op op : kOps)
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT})
      for (int64_t V : {17, 64, 100})
        for (bool packed : {false, true}) {
          std::ostringstream what;
          what << op_name(op) << " mode " << mode << " V " << V << (packed ? " packed" : "");
          expect_same_for_any_threads(few_pairs_shape(op, mode, V, packed), what.str().c_str());
        }
  Shape norm = few_pairs_shape(FW_OP_LINEAR_ATTN, FW_MODE_CHUNKED, 64, false);
  norm.flags = FW_FLAG_NORMALIZE;
  expect_same_for_any_threads(norm, "normalize");
}

// Outputs of 16 MiB or more (kStreamOutputBytes in src/scan.cpp) whose rows
// are whole, aligned cache lines are written past the caches: the same bits
// as the ordinary stores the same call makes into a buffer one float off.
TEST(ScanProperties, OutputsWrittenPastTheCachesAreTheSame) {
  for (fw_backend b : {FW_BACKEND_AVX512, FW_BACKEND_AVX2, FW_BACKEND_NEON}) {
    if (!fw_backend_is_supported(b)) continue;
    BackendScope scope(b);
    for (fw_op op : kOps) {
      Problem p(make_shape(op, FW_MODE_CHUNKED, 1, 16384, 16, 16, 16, 16));  // 16 MiB of o
      const size_t n = p.o.size();
      std::vector<float> storage(n + 32);
      float* lined = storage.data();
      while (reinterpret_cast<uintptr_t>(lined) % 64 != 0) ++lined;
      std::vector<float> streamed, stored;
      for (float* out : {lined, lined + 1}) {
        p.args.o.data = out;
        ASSERT_EQ(p.run(), FW_OK) << op_name(op);
        (out == lined ? streamed : stored).assign(out, out + n);
      }
      EXPECT_TRUE(same_bits(streamed, stored)) << fw_backend_name(b) << " " << op_name(op);
    }
  }
}

// Packed sequences of unequal lengths: a thread steps several pairs through
// their chunks side by side (src/scan.cpp), some end early and, under AUTO,
// a short one runs recurrent. Each must still get exactly the bits it gets
// in a call of its own.
TEST(ScanProperties, PackedSequencesMatchSeparateCalls) {
  // Five sequences of four value heads: the runs of pairs (five for one
  // thread) straddle sequences. 3 tokens: recurrent under AUTO on AVX-512
  // and AVX2 for every op at this K (kernels/isa/*.cpp), the others chunked.
  const std::vector<int64_t> cu = {0, 3, 3, 60, 200, 230};
  for (fw_op op : kOps)
    for (int threads : {1, 2}) {
      Shape s = make_shape(op, FW_MODE_AUTO, 1, cu.back(), 2, 4, 72, 24, true);
      s.chunk = 16;
      Problem packed(s);
      packed.cu = cu;
      packed.args.cu_seqlens = packed.cu.data();
      packed.args.num_seqs = int64_t(cu.size()) - 1;
      packed.state_out.assign(packed.args.num_seqs * s.HV * s.K * s.V, Problem::kSentinel);
      packed.set_state(&packed.args.final_state, packed.state_out.data(), packed.args.num_seqs);
      packed.state_in.resize(packed.state_out.size(), 0.25f);
      packed.set_state(&packed.args.initial_state, packed.state_in.data(), packed.args.num_seqs);
      ThreadScope scope(threads);
      ASSERT_EQ(packed.run(), FW_OK);
      const int64_t row = s.HV * s.V, slot = s.HV * s.K * s.V;
      for (size_t n = 0; n + 1 < cu.size(); ++n) {
        const int64_t t0 = cu[n], len = cu[n + 1] - cu[n];
        const std::vector<float> s_packed(packed.state_out.begin() + n * slot,
                                          packed.state_out.begin() + (n + 1) * slot);
        std::vector<float> s_in(packed.state_in.begin() + n * slot,
                                packed.state_in.begin() + (n + 1) * slot);
        if (len == 0) {  // an empty sequence passes its state through
          EXPECT_TRUE(same_bits(s_in, s_packed)) << op_name(op) << " seq " << n;
          continue;
        }
        // The same sequence as a batch of one, its tensors offset to t0.
        fw_scan_args a = packed.args;
        auto at = [t0](fw_tensor* x) {
          if (x->data) x->data = static_cast<float*>(x->data) + t0 * x->stride[1];
        };
        a.cu_seqlens = nullptr;
        a.num_seqs = 0;
        a.seq_len = len;
        for (fw_tensor* x : {&a.q, &a.k, &a.v, &a.g, &a.beta}) at(x);
        std::vector<float> o(len * row, Problem::kSentinel), state(slot, Problem::kSentinel);
        a.o.data = o.data();
        packed.set_state(&a.initial_state, s_in.data(), 1);
        packed.set_state(&a.final_state, state.data(), 1);
        ASSERT_EQ(call_op(op, &a), FW_OK) << op_name(op) << " seq " << n;
        const std::vector<float> o_packed(packed.o.begin() + t0 * row,
                                          packed.o.begin() + (t0 + len) * row);
        EXPECT_TRUE(same_bits(o, o_packed))
            << op_name(op) << " seq " << n << " threads " << threads;
        EXPECT_TRUE(same_bits(state, s_packed)) << op_name(op) << " seq " << n;
      }
    }
}

// chunk_size 0 runs at fw_chunk_size: 16 for the delta rules up to
// K = 128, else 32 (src/ops.cpp).
TEST(ScanProperties, AutoChunkSizeIsTheLibrarysPick) {
  EXPECT_EQ(fw_chunk_size(FW_OP_DELTA_RULE, 128), 16);
  EXPECT_EQ(fw_chunk_size(FW_OP_GATED_DELTA_RULE, 129), 32);
  EXPECT_EQ(fw_chunk_size(FW_OP_LINEAR_ATTN, 64), 32);
  EXPECT_EQ(fw_chunk_size(FW_OP_SIMPLE_GLA, 0), 0);
  EXPECT_EQ(fw_chunk_size(static_cast<fw_op>(fw_op_count()), 64), 0);
  fw_scan_args init;
  fw_scan_args_init(&init);
  EXPECT_EQ(init.chunk_size, FW_CHUNK_SIZE_AUTO);
  for (fw_op op : kOps)
    for (int64_t K : {32, 130}) {
      Shape s = make_shape(op, FW_MODE_CHUNKED, 1, 70, 1, 2, K, 24);
      s.chunk = FW_CHUNK_SIZE_AUTO;
      Problem picked(s);
      ASSERT_EQ(picked.run(), FW_OK);
      s.chunk = fw_chunk_size(op, K);
      Problem given(s);
      ASSERT_EQ(given.run(), FW_OK);
      EXPECT_TRUE(same_bits(picked.o, given.o)) << op_name(op) << " K " << K;
      s.chunk = s.chunk == 16 ? 32 : 16;  // and the pick matters
      Problem other(s);
      ASSERT_EQ(other.run(), FW_OK);
      EXPECT_FALSE(same_bits(picked.o, other.o)) << op_name(op) << " K " << K;
    }
}

TEST(ScanProperties, InPlaceStateUpdateMatchesSeparateBuffers) {
  for (fw_op op : kOps) {
    Problem separate(props_shape(op, FW_MODE_AUTO));
    ASSERT_EQ(separate.run(), FW_OK);
    Problem in_place(props_shape(op, FW_MODE_AUTO));
    in_place.args.final_state = in_place.args.initial_state;
    ASSERT_EQ(in_place.run(), FW_OK);
    EXPECT_TRUE(same_bits(separate.o, in_place.o)) << op_name(op);
    EXPECT_TRUE(same_bits(separate.state_out, in_place.state_in)) << op_name(op);
  }
}

TEST(ScanProperties, FinalStateIsOptional) {
  for (fw_op op : kOps) {
    Problem with(props_shape(op, FW_MODE_CHUNKED));
    ASSERT_EQ(with.run(), FW_OK);
    Problem without(props_shape(op, FW_MODE_CHUNKED));
    without.args.final_state.data = nullptr;
    ASSERT_EQ(without.run(), FW_OK);
    EXPECT_TRUE(same_bits(with.o, without.o)) << op_name(op);
  }
}

TEST(ScanProperties, DefaultScaleIsInverseSqrtK) {
  Problem def(props_shape(FW_OP_DELTA_RULE, FW_MODE_CHUNKED));
  ASSERT_EQ(def.run(), FW_OK);
  Problem expl(props_shape(FW_OP_DELTA_RULE, FW_MODE_CHUNKED));
  expl.args.scale = 1.0f / std::sqrt(32.0f);
  ASSERT_EQ(expl.run(), FW_OK);
  EXPECT_TRUE(same_bits(def.o, expl.o));
}

// With g = 0 the gated ops are the ungated ones (the instability fla users
// hit there must not exist here).
TEST(ScanProperties, ZeroGateMatchesUngatedOp) {
  const fw_op pairs[][2] = {{FW_OP_SIMPLE_GLA, FW_OP_LINEAR_ATTN},
                            {FW_OP_GATED_DELTA_RULE, FW_OP_DELTA_RULE},
                            {FW_OP_GLA, FW_OP_LINEAR_ATTN},
                            {FW_OP_KDA, FW_OP_DELTA_RULE}};
  for (const auto& pr : pairs)
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      Problem gated(props_shape(pr[0], mode));
      std::fill(gated.g.begin(), gated.g.end(), 0.0f);
      ASSERT_EQ(gated.run(), FW_OK);
      Problem plain(props_shape(pr[1], mode));
      share_inputs(plain, gated, /*with_beta=*/true);
      ASSERT_EQ(plain.run(), FW_OK);
      EXPECT_LT(rel_max_error(plain.o, gated.o), 1e-6) << op_name(pr[0]);
    }
}

// With every key channel's gate equal, GLA is simple GLA and KDA the gated
// delta rule (to rounding: the per-channel forms take the decays inside
// their sums).
TEST(ScanProperties, EqualChannelGatesMatchScalarGate) {
  const fw_op pairs[][2] = {{FW_OP_GLA, FW_OP_SIMPLE_GLA}, {FW_OP_KDA, FW_OP_GATED_DELTA_RULE}};
  for (const auto& pr : pairs)
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      Problem channel(props_shape(pr[0], mode));
      Problem scalar(props_shape(pr[1], mode));
      const int64_t K = channel.args.head_dim_k;
      for (size_t i = 0; i < channel.g.size(); ++i) channel.g[i] = scalar.g[i / K];
      share_inputs(channel, scalar, /*with_beta=*/true);
      ASSERT_EQ(scalar.run(), FW_OK);
      ASSERT_EQ(channel.run(), FW_OK);
      EXPECT_LT(rel_max_error(scalar.o, channel.o), 1e-6) << op_name(pr[0]) << " mode " << mode;
      EXPECT_LT(rel_max_error(scalar.state_out, channel.state_out), 1e-6)
          << op_name(pr[0]) << " state";
    }
}

// fla's gate and beta options (use_gate_in_kernel with A_log and dt_bias,
// use_beta_sigmoid_in_kernel, allow_neg_eigval) give what the same formulas
// applied beforehand give, to rounding.
TEST(ScanProperties, GateAndBetaOptionsMatchUnfused) {
  auto softplus = [](float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); };
  for (fw_op op : kOps)
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      if (!is_gated(op) && !is_delta(op)) continue;
      Problem fused(props_shape(op, mode)), plain(props_shape(op, mode));
      const Shape s = props_shape(op, mode);
      const int64_t per_head = is_channel_gated(op) ? s.K : 1;
      std::mt19937 rng(3);
      std::uniform_real_distribution<float> u(-3.0f, 3.0f);
      std::vector<float> A_log(s.HV), dt_bias(s.HV * per_head);
      for (float& x : A_log) x = u(rng) / 3.0f;
      for (float& x : dt_bias) x = u(rng) / 3.0f;
      for (size_t i = 0; i < fused.g.size(); ++i) {  // the raw gate a, and its value
        fused.g[i] = u(rng);
        const int64_t h = int64_t(i) / per_head % s.HV, c = int64_t(i) % per_head;
        plain.g[i] = -std::exp(A_log[h]) * softplus(fused.g[i] + dt_bias[h * per_head + c]);
      }
      for (size_t i = 0; i < fused.beta.size(); ++i) {  // the raw b, and 2 sigmoid(b)
        fused.beta[i] = u(rng);
        plain.beta[i] = 1.0f / (1.0f + std::exp(-fused.beta[i])) * 2.0f;
      }
      if (is_gated(op)) {
        const int64_t one[1] = {s.HV}, two[2] = {s.HV, s.K};
        fw_tensor_contiguous(&fused.args.A_log, A_log.data(), 1, one);
        fw_tensor_contiguous(&fused.args.dt_bias, dt_bias.data(), per_head > 1 ? 2 : 1,
                             per_head > 1 ? two : one);
      }
      if (is_delta(op)) fused.args.flags |= FW_FLAG_BETA_SIGMOID | FW_FLAG_NEG_EIGVAL;
      share_inputs(plain, fused, /*with_beta=*/false);  // plain's beta is the sigmoid's
      ASSERT_EQ(fused.run(), FW_OK) << op_name(op);
      ASSERT_EQ(plain.run(), FW_OK) << op_name(op);
      EXPECT_LT(rel_max_error(plain.o, fused.o), 1e-6) << op_name(op) << " mode " << mode;
      EXPECT_LT(rel_max_error(plain.state_out, fused.state_out), 1e-6) << op_name(op) << " state";
    }
}

TEST(ScanProperties, ChunkedAndRecurrentAgree) {
  for (fw_op op : kOps) {
    Problem c(props_shape(op, FW_MODE_CHUNKED));
    Problem r(props_shape(op, FW_MODE_RECURRENT));
    ASSERT_EQ(c.run(), FW_OK);
    ASSERT_EQ(r.run(), FW_OK);
    EXPECT_LT(rel_max_error(r.o, c.o), 1e-5) << op_name(op);
  }
}

}  // namespace
}  // namespace fwtest
