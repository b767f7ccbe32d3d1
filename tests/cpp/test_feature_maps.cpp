// Feature maps against hand-computed values, FAVOR+ against its definition,
// and their argument checks; on every backend.
#include <gtest/gtest.h>

#include <cstddef>

#include <cmath>
#include <cstdint>
#include <vector>

#include "backends.hpp"
#include "half.hpp"

namespace fwtest {
namespace {

std::vector<float> map(int32_t kind, const std::vector<float>& x, int64_t rows, int32_t nu = 1,
                       int64_t m = 0, uint64_t seed = 0, float eps = 0.0f) {
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  a.kind = kind;
  a.rows = rows;
  a.dim = static_cast<int64_t>(x.size()) / rows;
  a.x.data = const_cast<float*>(x.data());
  a.x.stride[0] = a.dim;
  a.x.stride[1] = 1;
  a.nu = nu;
  a.num_features = m;
  a.seed = seed;
  a.eps = eps;
  int64_t out_dim = 0;
  EXPECT_EQ(fw_feature_map_dim(&a, &out_dim), FW_OK);
  std::vector<float> out(rows * out_dim, -1.0f);
  a.out.data = out.data();
  a.out.stride[0] = out_dim;
  a.out.stride[1] = 1;
  EXPECT_EQ(fw_feature_map(&a), FW_OK);
  return out;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want,
                 double tol = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

class FeatureMaps : public ::testing::TestWithParam<fw_backend> {};

TEST_P(FeatureMaps, HandComputedValues) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  // 11 elements per row so vector bodies and scalar tails both run.
  const std::vector<float> x = {1, -2, 0.5f, 0, 3, -0.25f, 2, -1, 4, -3, 0.75f};
  std::vector<double> elu, relu;
  for (float e : x) {
    elu.push_back(e > 0 ? e + 1.0 : std::exp(double(e)));
    relu.push_back(e > 0 ? e : 0.0);
  }
  expect_near(map(FW_FEATURE_IDENTITY, x, 1), std::vector<double>(x.begin(), x.end()), 0);
  expect_near(map(FW_FEATURE_ELU_PLUS_ONE, x, 1), elu);
  expect_near(map(FW_FEATURE_RELU, x, 1), relu, 0);
  // x = [1, 2, -3]: r = [1, 2, 0, 0, 0, 3]; roll 1 = [3, 1, 2, 0, 0, 0];
  // roll 2 = [0, 3, 1, 2, 0, 0].
  expect_near(map(FW_FEATURE_DPFP, {1, 2, -3}, 1, 1), {3, 2, 0, 0, 0, 0}, 0);
  expect_near(map(FW_FEATURE_DPFP, {1, 2, -3}, 1, 2), {3, 2, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0}, 0);
  expect_near(map(FW_FEATURE_SUM_NORM, {1, 2, 3, 1, 1, 2}, 2),
              {1 / 6.0, 2 / 6.0, 3 / 6.0, 0.25, 0.25, 0.5});
  expect_near(map(FW_FEATURE_L2_NORM, {3, 4, 0, 5}, 2), {0.6, 0.8, 0, 1});
  expect_near(map(FW_FEATURE_SUM_NORM, {1, 1}, 1, 1, 0, 0, 2.0f), {0.25, 0.25});
}

TEST_P(FeatureMaps, FavorPlusMatchesDefinition) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t d = 5, m = 12, rows = 3;
  std::vector<float> x(rows * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.3f * std::sin(float(i) + 0.5f);
  std::vector<float> w(m * d);
  ASSERT_EQ(fw_favor_plus_projection(d, m, 42, w.data()), FW_OK);
  std::vector<double> want;
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (int64_t c = 0; c < d; ++c) sq += double(x[r * d + c]) * x[r * d + c];
    for (int64_t i = 0; i < m; ++i) {
      double p = 0;
      for (int64_t c = 0; c < d; ++c) p += double(w[i * d + c]) * x[r * d + c];
      want.push_back(std::exp(p - sq / 2) / std::sqrt(double(m)));
    }
  }
  expect_near(map(FW_FEATURE_FAVOR_PLUS, x, rows, 1, m, 42), want, 1e-6);
}

// Half rows in and out (each its own dtype): the fp32 map of the rounded
// inputs, rounded once to the output's type (half.hpp's rounding).
TEST_P(FeatureMaps, HalfRowsAreTheFp32MapRoundedOnce) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t rows = 3, dim = 21;  // vector bodies and tails
  std::vector<float> x(rows * dim);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * double(i)) * 2.0f;
  for (int32_t xd : {FW_DTYPE_F32, FW_DTYPE_BF16, FW_DTYPE_F16})
    for (int32_t od : {FW_DTYPE_F32, FW_DTYPE_BF16, FW_DTYPE_F16})
      for (int32_t kind :
           {FW_FEATURE_IDENTITY, FW_FEATURE_ELU_PLUS_ONE, FW_FEATURE_RELU, FW_FEATURE_DPFP,
            FW_FEATURE_FAVOR_PLUS, FW_FEATURE_SUM_NORM, FW_FEATURE_L2_NORM}) {
        if (xd == FW_DTYPE_F32 && od == FW_DTYPE_F32) continue;
        SCOPED_TRACE(::testing::Message() << "kind " << kind << " x " << xd << " out " << od);
        std::vector<float> xr = x;
        TypedBuffer xin = round_into(&xr, xd);
        const std::vector<float> want = map(kind, xr, rows, 2, 24, 5, 1e-3f);
        fw_feature_map_args a;
        fw_feature_map_args_init(&a);
        a.kind = kind;
        a.rows = rows;
        a.dim = dim;
        a.nu = 2;
        a.num_features = 24;
        a.seed = 5;
        a.eps = 1e-3f;
        a.x.data = xin.data();
        a.x.dtype = xd;
        a.x.stride[0] = dim;
        a.x.stride[1] = 1;
        const int64_t out_dim = static_cast<int64_t>(want.size()) / rows;
        TypedBuffer out;
        out.dtype = od;
        out.f32.assign(od == FW_DTYPE_F32 ? want.size() : 0, -1.0f);
        out.half.assign(od == FW_DTYPE_F32 ? 0 : want.size(), 0xdead);
        a.out.data = out.data();
        a.out.dtype = od;
        a.out.stride[0] = out_dim;
        a.out.stride[1] = 1;
        ASSERT_EQ(fw_feature_map(&a), FW_OK);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_TRUE(is_rounding_of(out.at(i), want[i], od))
              << "element " << i << ": " << out.at(i) << " for " << want[i];
      }
}

INSTANTIATE_TEST_SUITE_P(All, FeatureMaps, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

TEST(FavorPlusProjection, OrthogonalBlocksAndSeeded) {
  const int64_t d = 8, m = 20;
  std::vector<float> w(m * d), again(m * d), other(m * d);
  ASSERT_EQ(fw_favor_plus_projection(d, m, 7, w.data()), FW_OK);
  ASSERT_EQ(fw_favor_plus_projection(d, m, 7, again.data()), FW_OK);
  ASSERT_EQ(fw_favor_plus_projection(d, m, 8, other.data()), FW_OK);
  EXPECT_EQ(w, again);
  EXPECT_NE(w, other);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < i; ++j) {
      if (i / d != j / d) continue;  // orthogonal within a block of d rows
      double p = 0;
      for (int64_t c = 0; c < d; ++c) p += double(w[i * d + c]) * w[j * d + c];
      EXPECT_NEAR(p, 0.0, 1e-5) << i << "," << j;
    }
}

// The projection is built from IEEE-exact operations only: these bits must
// come out on every machine (x86-64, aarch64 under qemu, any libm).
TEST(FavorPlusProjection, SameBitsEverywhere) {
  std::vector<float> w(6 * 4);
  ASSERT_EQ(fw_favor_plus_projection(4, 6, 42, w.data()), FW_OK);
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the bytes
  const auto* p = reinterpret_cast<const unsigned char*>(w.data());
  for (size_t i = 0; i < w.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  EXPECT_EQ(h, 4836243250027247348ull);  // recorded on x86-64 (gcc 12, glibc 2.36)
}

TEST(FeatureMapArgs, BadInputRejectedOutputUntouched) {
  std::vector<float> x(8, 1.0f), out(64, -7.0f);
  auto base = [&] {
    fw_feature_map_args a;
    fw_feature_map_args_init(&a);
    a.kind = FW_FEATURE_DPFP;
    a.rows = 2;
    a.dim = 4;
    const int64_t in_sizes[2] = {2, 4}, out_sizes[2] = {2, 8};
    fw_tensor_contiguous(&a.x, x.data(), 2, in_sizes);
    fw_tensor_contiguous(&a.out, out.data(), 2, out_sizes);
    return a;
  };
  struct Case {
    fw_status want;
    void (*mutate)(fw_feature_map_args&);
  };
  const Case cases[] = {
      {FW_ERR_INVALID_STRUCT_SIZE, [](fw_feature_map_args& a) { a.struct_size = 0; }},
      {FW_ERR_NULL_POINTER,  // a shorter struct's missing tail reads as zeros
       [](fw_feature_map_args& a) { a.struct_size = offsetof(fw_feature_map_args, out); }},
      {FW_ERR_UNSUPPORTED, [](fw_feature_map_args& a) { a.x.dtype = 3; }},
      {FW_ERR_UNSUPPORTED, [](fw_feature_map_args& a) { a.out.dtype = -1; }},
      {FW_ERR_UNSUPPORTED, [](fw_feature_map_args& a) { a.kind = 42; }},
      {FW_ERR_INVALID_DIMENSION, [](fw_feature_map_args& a) { a.dim = 0; }},
      {FW_ERR_INVALID_DIMENSION, [](fw_feature_map_args& a) { a.rows = 0; }},
      {FW_ERR_NULL_POINTER, [](fw_feature_map_args& a) { a.x.data = nullptr; }},
      {FW_ERR_NULL_POINTER, [](fw_feature_map_args& a) { a.out.data = nullptr; }},
      {FW_ERR_INVALID_ARGUMENT, [](fw_feature_map_args& a) { a.nu = 0; }},
      {FW_ERR_INVALID_ARGUMENT, [](fw_feature_map_args& a) { a.nu = 8; }},
      {FW_ERR_INVALID_ARGUMENT, [](fw_feature_map_args& a) { a.eps = -1.0f; }},
      {FW_ERR_INVALID_ARGUMENT, [](fw_feature_map_args& a) { a.x.reserved = 3; }},
      {FW_ERR_BACKEND_UNAVAILABLE, [](fw_feature_map_args& a) { a.backend = 42; }},
      {FW_ERR_INVALID_ARGUMENT,
       [](fw_feature_map_args& a) {
         a.kind = FW_FEATURE_FAVOR_PLUS;
         a.num_features = 0;
       }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.x.stride[0] = -4; }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.out.stride[0] = 4; }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.x.stride[1] = 2; }},
  };
  for (const Case& c : cases) {
    fw_feature_map_args a = base();
    c.mutate(a);
    EXPECT_EQ(fw_feature_map(&a), c.want) << fw_status_string(c.want);
    for (float e : out) ASSERT_EQ(e, -7.0f);
  }
  fw_feature_map_args a = base();
  a.out.data = x.data();  // in place into a shorter buffer: overlaps
  EXPECT_EQ(fw_feature_map(&a), FW_ERR_ALIASING);
  EXPECT_EQ(fw_feature_map(nullptr), FW_ERR_NULL_POINTER);
  EXPECT_EQ(fw_feature_map_dim(&a, nullptr), FW_ERR_NULL_POINTER);
  EXPECT_EQ(fw_favor_plus_projection(0, 4, 1, out.data()), FW_ERR_INVALID_DIMENSION);
  EXPECT_EQ(fw_favor_plus_projection(4, 4, 1, nullptr), FW_ERR_NULL_POINTER);
  for (float e : out) ASSERT_EQ(e, -7.0f);
}

}  // namespace
}  // namespace fwtest
