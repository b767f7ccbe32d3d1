// Bad input gets a specific status and leaves every output untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "problem.hpp"

namespace fwtest {
namespace {

struct BadCase {
  std::string name;
  Op op;
  fw_status expected;
  std::function<void(Problem&)> mutate;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

Shape base_shape(Op op) { return make_shape(op, FW_MODE_AUTO, 2, 5, 2, 4, 3, 4, true); }

// Packs the problem as cu_seqlens offsets (N = offsets - 1) with this batch.
void use_cu_seqlens(Problem& p, std::vector<int64_t> offsets, int64_t batch = 1) {
  p.args.batch = batch;
  p.cu = std::move(offsets);
  p.args.cu_seqlens = p.cu.data();
  p.args.num_seqs = static_cast<int64_t>(p.cu.size()) - 1;
}

bool untouched(const std::vector<float>& x) {
  for (float e : x)
    if (e != Problem::kSentinel) return false;
  return true;
}

std::vector<BadCase> bad_cases() {
  const Op L = Op::kLinearAttn, G = Op::kSimpleGla, D = Op::kDeltaRule, GD = Op::kGatedDeltaRule;
  std::vector<BadCase> c = {
      {"null_q", L, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.q = nullptr; }},
      {"null_k", D, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.k = nullptr; }},
      {"null_v", G, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.v = nullptr; }},
      {"null_o", GD, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.o = nullptr; }},
      {"null_g", G, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.g = nullptr; }},
      {"null_beta", D, FW_ERR_NULL_POINTER, [](Problem& p) { p.args.beta = nullptr; }},
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
       [](Problem& p) {  // tensors fit (inputs broadcast over batch), N*HV*K*V*4 does not
         p.args.batch = int64_t{1} << 52;
         p.args.head_dim_k = FW_MAX_HEAD_DIM;
         for (int64_t* s : {p.args.q_stride, p.args.k_stride}) {
           s[1] = p.args.num_heads * FW_MAX_HEAD_DIM;
           s[2] = FW_MAX_HEAD_DIM;
         }
         for (int64_t* s : {p.args.q_stride, p.args.k_stride, p.args.v_stride}) s[0] = 0;
       }},
      {"heads_not_multiple", L, FW_ERR_HEAD_MISMATCH, [](Problem& p) { p.args.num_heads = 3; }},
      {"last_dim_strided", L, FW_ERR_INVALID_STRIDE, [](Problem& p) { p.args.k_stride[3] = 2; }},
      {"output_last_dim_strided", G, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.o_stride[3] = 0; }},
      {"negative_stride", D, FW_ERR_INVALID_STRIDE, [](Problem& p) { p.args.v_stride[1] = -1; }},
      {"negative_gate_stride", GD, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.g_stride[2] = -1; }},
      {"overlapping_output_rows", L, FW_ERR_INVALID_STRIDE,
       [](Problem& p) { p.args.o_stride[2] = 1; }},
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
      {"struct_size_small", L, FW_ERR_INVALID_STRUCT_SIZE,
       [](Problem& p) { p.args.struct_size = sizeof(fw_scan_args) - 8; }},
      {"struct_size_zero", GD, FW_ERR_INVALID_STRUCT_SIZE,
       [](Problem& p) { p.args.struct_size = 0; }},
      {"dtype_f16", L, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.dtype = FW_DTYPE_F16; }},
      {"dtype_bf16", D, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.dtype = FW_DTYPE_BF16; }},
      {"dtype_unknown", G, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.dtype = 99; }},
      {"mode_unknown", GD, FW_ERR_UNSUPPORTED, [](Problem& p) { p.args.mode = 3; }},
      {"scale_nan", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.scale = NAN; }},
      {"eps_negative", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.eps = -1.0f; }},
      {"backend_unknown", D, FW_ERR_BACKEND_UNAVAILABLE, [](Problem& p) { p.args.backend = 99; }},
      {"g_on_ungated", L, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.g = p.v.data(); }},
      {"beta_on_linear", G, FW_ERR_INVALID_ARGUMENT, [](Problem& p) { p.args.beta = p.v.data(); }},
      {"norm_state_without_normalize", L, FW_ERR_INVALID_ARGUMENT,
       [](Problem& p) { p.args.initial_norm = p.state_in.data(); }},
      {"o_is_q", L, FW_ERR_ALIASING,
       [](Problem& p) {
         p.o.resize(p.q.size() + p.o.size(), Problem::kSentinel);
         p.args.o = p.o.data();
         p.args.q = p.o.data() + 1;
       }},
      {"final_state_overlaps_initial", D, FW_ERR_ALIASING,
       [](Problem& p) {
         p.state_out.resize(p.state_out.size() + 1, Problem::kSentinel);
         p.args.final_state = p.state_out.data() + 1;
         p.args.initial_state = p.state_out.data();
       }},
      {"final_state_overlaps_o", GD, FW_ERR_ALIASING,
       [](Problem& p) { p.args.final_state = p.o.data(); }},
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
  for (Op op : kAllOps) {
    Problem p(base_shape(op));
    EXPECT_EQ(p.run(), FW_OK) << op_name(op);
  }
}

TEST(ScanArgs, EveryStatusHasText) {
  for (int s = FW_OK; s <= FW_ERR_BACKEND_UNAVAILABLE; ++s)
    EXPECT_STRNE(fw_status_string(static_cast<fw_status>(s)), "unknown status") << s;
  EXPECT_STREQ(fw_status_string(static_cast<fw_status>(999)), "unknown status");
}

}  // namespace
}  // namespace fwtest
