// Bad input gets a specific status and leaves every output untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "problem.hpp"

namespace fwtest {
namespace {

struct BadCase {
  std::string name;
  fw_op op;
  fw_status expected;
  std::function<void(Problem&)> mutate;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

Shape base_shape(fw_op op) { return make_shape(op, FW_MODE_AUTO, 2, 5, 2, 4, 3, 4, true); }

// Packs the problem as cu_seqlens offsets (N = offsets - 1) with this batch.
void use_cu_seqlens(Problem& p, std::vector<int64_t> offsets, int64_t batch = 1) {
  p.args.batch = batch;
  p.cu = std::move(offsets);
  p.args.cu_seqlens = p.cu.data();
  p.args.num_seqs = static_cast<int64_t>(p.cu.size()) - 1;
}

// Initial and final state become one pool of `slots` slots updated in
// place, indexed per sequence.
void use_pool(Problem& p, std::vector<int32_t> indices, int64_t slots) {
  p.slots = std::move(indices);
  p.state_out.assign(
      std::max<int64_t>(slots, 1) * p.args.num_value_heads * p.args.head_dim_k * p.args.head_dim_v,
      Problem::kSentinel);
  p.set_state(&p.args.initial_state, p.state_out.data(), slots);
  p.args.final_state = p.args.initial_state;
  p.args.state_indices = p.slots.data();
  p.args.num_state_slots = slots;
}

void use_intermediate(Problem& p, int32_t mode) {
  p.args.mode = mode;
  const int64_t steps = p.args.seq_len, HV = p.args.num_value_heads;
  p.inter.assign(p.args.batch * steps * HV * p.args.head_dim_k * p.args.head_dim_v,
                 Problem::kSentinel);
  const int64_t sizes[5] = {p.args.batch, steps, HV, p.args.head_dim_k, p.args.head_dim_v};
  fw_tensor_contiguous(&p.args.intermediate_states, p.inter.data(), 5, sizes);
}

bool untouched(const std::vector<float>& x) {
  for (float e : x)
    if (e != Problem::kSentinel) return false;
  return true;
}

std::vector<BadCase> bad_cases() {
  const fw_op L = FW_OP_LINEAR_ATTN, G = FW_OP_SIMPLE_GLA, D = FW_OP_DELTA_RULE,
              GD = FW_OP_GATED_DELTA_RULE;
  std::vector<BadCase> c = {
      {"null_q", L, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.q.data = nullptr; }},
      {"null_k", D, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.k.data = nullptr; }},
      {"null_v", G, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.v.data = nullptr; }},
      {"null_o", GD, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.o.data = nullptr; }},
      {"null_g", G, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.g.data = nullptr; }},
      {"null_beta", D, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.beta.data = nullptr; }},
      {"zero_batch", L, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.batch = 0; }},
      {"zero_T", D, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.seq_len = 0; }},
      {"negative_H", L, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.num_heads = -2; }},
      {"zero_HV", G, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.num_value_heads = 0; }},
      {"zero_K", GD, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.head_dim_k = 0; }},
      {"zero_V", L, FW_ERR_INVALID_DIMENSION, [](Problem& p) { p.args.head_dim_v = 0; }},
      {"huge_K", L, FW_ERR_INVALID_DIMENSION,
       [](Problem& p) { p.args.head_dim_k = FW_MAX_HEAD_DIM + 1; }},
      {"overflowing_T", D, FW_ERR_INVALID_DIMENSION,
       [](Problem& p) { p.args.seq_len = int64_t{1} << 60; }},
      {"overflowing_state", L, FW_ERR_INVALID_DIMENSION,
       [](Problem& p) {  // inputs broadcast over the batch, o fit; the state's span does not
         p.args.batch = int64_t{1} << 52;
         p.args.final_state.stride[0] = int64_t{1} << 20;
         for (fw_tensor* t : {&p.args.q, &p.args.k, &p.args.v}) t->stride[0] = 0;
       }},
      {"heads_not_multiple", L, FW_ERR_HEAD_MISMATCH, [](Problem& p) { p.args.num_heads = 3; }},
      {"last_dim_strided", L, FW_ERR_INVALID_STRIDE, [](Problem& p) { p.args.k.stride[3] = 2; }},
      {"output_last_dim_strided", G, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.o.stride[3] = 0; }},
      {"negative_stride", D, FW_ERR_INVALID_STRIDE, [](Problem& p) { p.args.v.stride[1] = -1; }},
      {"negative_gate_stride", GD, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.g.stride[2] = -1; }},
      {"channel_gate_strided", FW_OP_GLA, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.g.stride[3] = 2; }},
      {"null_channel_gate", FW_OP_KDA, FW_ERR_NULL_POINTER,
       [](Problem& p) { p.args.g.data = nullptr; }},
      {"channel_gate_unknown_dtype", FW_OP_KDA, FW_ERR_UNSUPPORTED,
       [](Problem& p) { p.args.g.dtype = 3; }},
      {"A_log_on_ungated", D, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { p.args.A_log = p.args.beta; }},
      {"dt_bias_without_A_log", GD, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { p.args.dt_bias = p.args.beta; }},
      {"channel_dt_bias_strided", FW_OP_KDA, FW_ERR_INVALID_STRIDE,
       [](Problem& p) {
         p.args.A_log = p.args.beta;  // [HV] of what it reads
         p.args.dt_bias = p.args.g;   // [HV, K] rows of g, the last one strided
         p.args.dt_bias.stride[0] = p.args.g.stride[2];
         p.args.dt_bias.stride[1] = 2;
       }},
      {"A_log_unsupported_dtype", GD, FW_ERR_UNSUPPORTED,
       [](Problem& p) {
         p.args.A_log = p.args.beta;
         p.args.A_log.dtype = FW_DTYPE_F16;
       }},
      {"beta_sigmoid_on_linear_attn", L, FW_ERR_INVALID_FLAGS,
       [](Problem& p) { p.args.flags |= FW_FLAG_BETA_SIGMOID; }},
      {"neg_eigval_on_gla", FW_OP_GLA, FW_ERR_INVALID_FLAGS,
       [](Problem& p) { p.args.flags |= FW_FLAG_NEG_EIGVAL; }},
      {"overlapping_output_rows", L, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.o.stride[2] = 1; }},
      {"state_last_dim_strided", D, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.initial_state.stride[3] = 2; }},
      {"final_state_rows_overlap", GD, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.final_state.stride[2] = 1; }},
      {"cu_not_batch_1", L, FW_ERR_INVALID_CU_SEQLENS,
       [](Problem& p) {
         use_cu_seqlens(p, {0, 2, 5}, /*batch=*/2);
       }},
      {"cu_not_from_0", D, FW_ERR_INVALID_CU_SEQLENS,
       [](Problem& p) {
         use_cu_seqlens(p, {1, 2, 5});
       }},
      {"cu_decreasing", G, FW_ERR_INVALID_CU_SEQLENS,
       [](Problem& p) {
         use_cu_seqlens(p, {0, 3, 2, 5});
       }},
      {"cu_not_to_T", GD, FW_ERR_INVALID_CU_SEQLENS,
       [](Problem& p) {
         use_cu_seqlens(p, {0, 2, 4});
       }},
      {"cu_no_sequences", L, FW_ERR_INVALID_CU_SEQLENS, [](Problem& p) { use_cu_seqlens(p, {0}); }},
      {"unknown_flag", D, FW_ERR_INVALID_FLAGS, [](Problem& p) { p.args.flags |= 0x100u; }},
      {"normalize_on_delta", D, FW_ERR_INVALID_FLAGS,
       [](Problem& p) { p.args.flags |= FW_FLAG_NORMALIZE; }},
      {"chunk_negative", D, FW_ERR_INVALID_CHUNK_SIZE, [](Problem& p) { p.args.chunk_size = -64; }},
      {"chunk_absurd", G, FW_ERR_INVALID_CHUNK_SIZE,
       [](Problem& p) { p.args.chunk_size = FW_MAX_CHUNK_SIZE + 1; }},
      {"struct_size_zero", GD, FW_ERR_INVALID_STRUCT_SIZE,
       [](Problem& p) { p.args.struct_size = 0; }},
      {"struct_size_huge", L, FW_ERR_INVALID_STRUCT_SIZE,
       [](Problem& p) { p.args.struct_size = size_t{1} << 20; }},
      {"struct_size_short", D, FW_ERR_NULL_POINTER,  // the tail reads as zeros: no o
       [](Problem& p) { p.args.struct_size = offsetof(fw_scan_args, o); }},
      // q, k, v, g, beta and o may be half types; states stay fp32.
      {"q_dtype_unknown", L, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.q.dtype = -1; }},
      {"o_dtype_unknown", D, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.o.dtype = 3; }},
      {"state_f16", GD, FW_ERR_UNSUPPORTED,
       [](Problem& p) { p.args.final_state.dtype = FW_DTYPE_F16; }},
      {"initial_state_bf16", GD, FW_ERR_UNSUPPORTED,
       [](Problem& p) { p.args.initial_state.dtype = FW_DTYPE_BF16; }},
      {"intermediate_states_bf16", L, FW_ERR_UNSUPPORTED,
       [](Problem& p) {
         use_intermediate(p, FW_MODE_RECURRENT);
         p.args.intermediate_states.dtype = FW_DTYPE_BF16;
       }},
      // A half o's span is counted in its own element size, and still
      // checked against every input.
      {"o_bf16_overlaps_v", D, FW_ERR_ALIASING,
       [](Problem& p) {
         p.args.o.dtype = FW_DTYPE_BF16;
         p.args.o.data = p.args.v.data;
       }},
      {"dtype_unknown", G, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.g.dtype = 99; }},
      {"tensor_reserved", G, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.v.reserved = 1; }},
      {"args_reserved", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.reserved = 1; }},
      {"mode_unknown", GD, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.mode = 3; }},
      {"scale_nan", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.scale = NAN; }},
      {"eps_negative", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.eps = -1.0f; }},
      {"backend_unknown", D, FW_ERR_BACKEND_UNAVAILABLE, [](Problem& p) { p.args.backend = 99; }},
      {"g_on_ungated", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.g = p.args.v; }},
      {"beta_on_linear", G, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.beta = p.args.v; }},
      {"norm_state_without_normalize", L, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { p.set_norm(&p.args.initial_norm, p.state_in.data(), 2); }},
      {"o_is_q", L, FW_ERR_ALIASING,
       [](Problem& p) {
         p.o.resize(p.q.size() + p.o.size(), Problem::kSentinel);
         p.args.o.data = p.o.data();
         p.args.q.data = p.o.data() + 1;
       }},
      {"final_state_overlaps_initial", D, FW_ERR_ALIASING,
       [](Problem& p) {
         p.state_out.resize(p.state_out.size() + 1, Problem::kSentinel);
         p.args.final_state.data = p.state_out.data() + 1;
         p.args.initial_state.data = p.state_out.data();
       }},
      {"final_state_in_place_other_strides", D, FW_ERR_ALIASING,
       [](Problem& p) {  // the same buffer, slots and heads interleaved otherwise
         p.args.final_state = p.args.initial_state;
         p.args.final_state.stride[0] = 12;
         p.args.final_state.stride[1] = 24;
       }},
      {"final_state_overlaps_o", GD, FW_ERR_ALIASING,
       [](Problem& p) { p.args.final_state.data = p.o.data(); }},
      // State pools (base shape: N = 2 sequences).
      {"pool_index_too_large", GD, FW_ERR_INVALID_STATE_INDEX,
       [](Problem& p) {
         use_pool(p, {0, 4}, 4);
       }},
      {"pool_index_repeated", D, FW_ERR_INVALID_STATE_INDEX,
       [](Problem& p) {
         use_pool(p, {3, 3}, 4);
       }},
      {"pool_no_slots", L, FW_ERR_INVALID_DIMENSION,
       [](Problem& p) {
         use_pool(p, {0, 1}, 0);
       }},
      {"slots_without_indices", G, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { p.args.num_state_slots = 2; }},
      {"pool_smaller_than_slots", G, FW_ERR_INVALID_STRIDE,
       [](Problem& p) {  // slot stride 0 over 4 slots: the slots' elements coincide
         use_pool(p, {0, 1}, 4);
         p.args.final_state.stride[0] = 0;
       }},
      {"pool_in_place_by_sequence", D, FW_ERR_ALIASING,
       [](Problem& p) {
         use_pool(p, {1, 0}, 2);
         p.args.flags |= FW_FLAG_FINAL_STATE_BY_SEQUENCE;
       }},
      {"indices_overlap_o", L, FW_ERR_ALIASING,
       [](Problem& p) {
         use_pool(p, {0, 1}, 2);
         p.args.state_indices = reinterpret_cast<const int32_t*>(p.o.data());
       }},
      // Intermediate states.
      {"intermediate_in_auto_mode", D, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { use_intermediate(p, FW_MODE_AUTO); }},
      {"intermediate_overlaps_o", GD, FW_ERR_ALIASING,
       [](Problem& p) {
         use_intermediate(p, FW_MODE_RECURRENT);
         p.args.intermediate_states.data = p.o.data();
       }},
      {"intermediate_rows_overlap", G, FW_ERR_INVALID_STRIDE,
       [](Problem& p) {
         use_intermediate(p, FW_MODE_RECURRENT);  // a step per token
         p.args.intermediate_states.stride[1] = 0;
       }},
  };
  return c;
}

class ScanArgs : public ::testing::TestWithParam<BadCase> {};

TEST_P(ScanArgs, RejectedWithOutputsUntouched) {
  const BadCase& c = GetParam();
  Problem p(base_shape(c.op));
  c.mutate(p);
  EXPECT_EQ(call_op(c.op, &p.args), c.expected) << fw_status_string(c.expected);
  EXPECT_TRUE(untouched(p.o)) << "output written";
  EXPECT_TRUE(untouched(p.state_out)) << "final state written";
  EXPECT_TRUE(untouched(p.inter)) << "intermediate states written";
}

INSTANTIATE_TEST_SUITE_P(All, ScanArgs, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& i) { return i.param.name; });

TEST(ScanArgs, NullArgsStruct) {
  EXPECT_EQ(fw_linear_attn(nullptr), FW_ERR_NULL_POINTER);
  EXPECT_EQ(fw_simple_gla(nullptr), FW_ERR_NULL_POINTER);
  EXPECT_EQ(fw_delta_rule(nullptr), FW_ERR_NULL_POINTER);
  EXPECT_EQ(fw_gated_delta_rule(nullptr), FW_ERR_NULL_POINTER);
}

TEST(ScanArgs, BaseCaseIsValid) {
  for (fw_op op : all_ops()) {
    Problem p(base_shape(op));
    EXPECT_EQ(p.run(), FW_OK) << op_name(op);
  }
}

TEST(ScanArgs, UnknownOpIsUnsupported) {
  Problem p(base_shape(FW_OP_LINEAR_ATTN));
  EXPECT_EQ(fw_scan(static_cast<fw_op>(fw_op_count()), &p.args), FW_ERR_UNSUPPORTED);
  EXPECT_EQ(fw_scan(static_cast<fw_op>(-1), &p.args), FW_ERR_UNSUPPORTED);
  EXPECT_TRUE(untouched(p.o));
}

// An older caller's shorter struct: the fields it lacks read as zeros. A
// newer caller's longer struct: accepted while its extra bytes are zero.
TEST(ScanArgs, StructGrowsBothWays) {
  for (fw_op op : all_ops()) {
    Problem full(base_shape(op));
    ASSERT_EQ(full.run(), FW_OK);
    Problem shorter(base_shape(op));  // ends before the pool and intermediate fields
    shorter.args.struct_size = offsetof(fw_scan_args, state_indices);
    shorter.args.num_state_slots = 99;  // past its end: never read
    ASSERT_EQ(shorter.run(), FW_OK) << op_name(op);
    EXPECT_TRUE(same_bits(full.o, shorter.o)) << op_name(op);
    struct Longer {
      fw_scan_args args;
      int64_t newer_field[3];
    } longer;
    Problem p(base_shape(op));
    longer.args = p.args;
    longer.args.struct_size = sizeof longer;
    longer.newer_field[0] = longer.newer_field[1] = longer.newer_field[2] = 0;
    ASSERT_EQ(call_op(op, &longer.args), FW_OK) << op_name(op);
    EXPECT_TRUE(same_bits(full.o, p.o)) << op_name(op);
    Problem q(base_shape(op));
    longer.args = q.args;
    longer.args.struct_size = sizeof longer;
    longer.newer_field[2] = 1;  // a field this library does not know, in use
    EXPECT_EQ(call_op(op, &longer.args), FW_ERR_UNSUPPORTED) << op_name(op);
    EXPECT_TRUE(untouched(q.o));
  }
}

TEST(ScanArgs, RegistryDescribesEveryOp) {
  ASSERT_EQ(fw_op_count(), 6);
  const char* names[] = {"linear_attn",      "simple_gla", "delta_rule",
                         "gated_delta_rule", "gla",        "kda"};
  const int32_t gates[] = {FW_GATE_NONE,   FW_GATE_SCALAR,  FW_GATE_NONE,
                           FW_GATE_SCALAR, FW_GATE_CHANNEL, FW_GATE_CHANNEL};
  for (int32_t i = 0; i < fw_op_count(); ++i) {
    fw_op_info info;
    info.struct_size = sizeof info;
    ASSERT_EQ(fw_op_get_info(static_cast<fw_op>(i), &info), FW_OK);
    EXPECT_STREQ(info.name, names[i]);
    EXPECT_EQ(info.gate, gates[i]);
    EXPECT_EQ(info.flops_per_kv, info.has_beta ? 6.0 : 4.0);
    EXPECT_EQ((info.flags & FW_FLAG_NORMALIZE) != 0, i == FW_OP_LINEAR_ATTN);
    EXPECT_NE(info.flags & FW_FLAG_STATE_V_FIRST, 0u);
  }
  fw_op_info info;
  info.struct_size = sizeof info;
  EXPECT_EQ(fw_op_get_info(static_cast<fw_op>(6), &info), FW_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fw_op_get_info(FW_OP_DELTA_RULE, nullptr), FW_ERR_NULL_POINTER);
  info.struct_size = 0;
  EXPECT_EQ(fw_op_get_info(FW_OP_DELTA_RULE, &info), FW_ERR_INVALID_STRUCT_SIZE);
  // An older caller's struct that ends after the name: only that is written.
  struct Older {
    size_t struct_size;
    const char* name;
    int32_t canary;
  } older = {offsetof(fw_op_info, gate), nullptr, 77};
  ASSERT_EQ(fw_op_get_info(FW_OP_DELTA_RULE, reinterpret_cast<fw_op_info*>(&older)), FW_OK);
  EXPECT_STREQ(older.name, "delta_rule");
  EXPECT_EQ(older.canary, 77);
}

TEST(ScanArgs, EveryStatusHasText) {
  for (int s = FW_OK; s <= FW_ERR_INVALID_STATE_INDEX; ++s)
    EXPECT_STRNE(fw_status_string(static_cast<fw_status>(s)), "unknown status") << s;
  EXPECT_STREQ(fw_status_string(static_cast<fw_status>(999)), "unknown status");
}

}  // namespace
}  // namespace fwtest
