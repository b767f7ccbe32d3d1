// fw_feature_map_backward: dx = dy J(x) against central differences of the
// maps computed in double, on every backend and kind; half rows as the fp32
// backward rounded once; thread counts; bad input writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "backends.hpp"
#include "half.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

struct Kind {
  int32_t kind, nu;
  int64_t m;
  const char* name;
};

const Kind kKinds[] = {
    {FW_FEATURE_IDENTITY, 1, 0, "identity"}, {FW_FEATURE_ELU_PLUS_ONE, 1, 0, "elu_plus_one"},
    {FW_FEATURE_RELU, 1, 0, "relu"},         {FW_FEATURE_DPFP, 1, 0, "dpfp1"},
    {FW_FEATURE_DPFP, 3, 0, "dpfp3"},        {FW_FEATURE_FAVOR_PLUS, 1, 24, "favor_plus"},
    {FW_FEATURE_SUM_NORM, 1, 0, "sum_norm"}, {FW_FEATURE_L2_NORM, 1, 0, "l2_norm"}};

constexpr float kEps = 1e-3f;
constexpr uint64_t kSeed = 5;

// The map of one row in double (the public header's formulas).
std::vector<double> map_double(const Kind& k, const std::vector<double>& x,
                               const std::vector<float>& proj) {
  const int64_t d = static_cast<int64_t>(x.size());
  std::vector<double> y;
  double s = 0, q = 0;
  for (double e : x) {
    s += e;
    q += e * e;
  }
  switch (k.kind) {
    case FW_FEATURE_IDENTITY: return x;
    case FW_FEATURE_ELU_PLUS_ONE:
      for (double e : x) y.push_back(e > 0 ? e + 1 : std::exp(e));
      return y;
    case FW_FEATURE_RELU:
      for (double e : x) y.push_back(e > 0 ? e : 0);
      return y;
    case FW_FEATURE_DPFP: {
      const int64_t n = 2 * d;
      std::vector<double> r(n);
      for (int64_t j = 0; j < n; ++j) r[j] = std::max(0.0, j < d ? x[j] : -x[j - d]);
      for (int64_t i = 1; i <= k.nu; ++i)
        for (int64_t j = 0; j < n; ++j) y.push_back(r[j] * r[((j - i) % n + n) % n]);
      return y;
    }
    case FW_FEATURE_FAVOR_PLUS:
      for (int64_t i = 0; i < k.m; ++i) {
        double w = 0;
        for (int64_t j = 0; j < d; ++j) w += double(proj[i * d + j]) * x[j];
        y.push_back(std::exp(w - q / 2) / std::sqrt(double(k.m)));
      }
      return y;
    case FW_FEATURE_SUM_NORM:
      for (double e : x) y.push_back(e / (s + kEps));
      return y;
    default:
      for (double e : x) y.push_back(e / std::sqrt(q + kEps));
      return y;
  }
}

fw_feature_map_args args_for(const Kind& k, int64_t rows, int64_t dim) {
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  a.kind = k.kind;
  a.nu = k.nu;
  a.num_features = k.m;
  a.seed = kSeed;
  a.eps = kEps;
  a.rows = rows;
  a.dim = dim;
  return a;
}

void point(fw_tensor* t, void* data, int32_t dtype, int64_t row_stride) {
  t->data = data;
  t->dtype = dtype;
  t->stride[0] = row_stride;
  t->stride[1] = 1;
}

// x away from the kinks of ReLU, ELU+1 and DPFP; positive for SUM_NORM, whose
// sum must stay away from zero.
std::vector<float> inputs(int64_t rows, int64_t dim, uint32_t seed, int32_t kind = -1) {
  std::vector<float> x(rows * dim);
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = std::sin(0.37 * double(i) + seed);
    x[i] = float(v > 0 ? 0.1 + v : v - 0.1);
    if (kind == FW_FEATURE_SUM_NORM) x[i] = std::fabs(x[i]);
  }
  return x;
}

class FeatureMapBackward : public ::testing::TestWithParam<fw_backend> {};

TEST_P(FeatureMapBackward, MatchesCentralDifferencesInDouble) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t rows = 3, dim = 21;  // vector bodies and tails
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    fw_feature_map_args a = args_for(k, rows, dim);
    int64_t out_dim = 0;
    ASSERT_EQ(fw_feature_map_dim(&a, &out_dim), FW_OK);
    std::vector<float> x = inputs(rows, dim, 1, k.kind), dy(rows * out_dim), dx(rows * dim, -7.0f);
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = float(std::cos(0.91 * double(i)));
    std::vector<float> proj(k.m * dim);
    if (k.m) {
      ASSERT_EQ(fw_favor_plus_projection(dim, k.m, kSeed, proj.data()), FW_OK);
    }
    point(&a.x, x.data(), FW_DTYPE_F32, dim);
    point(&a.dy, dy.data(), FW_DTYPE_F32, out_dim);
    point(&a.dx, dx.data(), FW_DTYPE_F32, dim);
    ASSERT_EQ(fw_feature_map_backward(&a), FW_OK);
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < dim; ++j) {
        std::vector<double> xp(x.begin() + r * dim, x.begin() + (r + 1) * dim), xm = xp;
        const double h = 1e-6 * std::max(1.0, std::fabs(xp[j]));
        xp[j] += h;
        xm[j] -= h;
        const std::vector<double> yp = map_double(k, xp, proj), ym = map_double(k, xm, proj);
        double g = 0;
        for (int64_t i = 0; i < out_dim; ++i) g += double(dy[r * out_dim + i]) * (yp[i] - ym[i]);
        want.push_back(g / (2 * h));
      }
    }
    EXPECT_LT(rel_max_error(want, dx), 1e-5);
  }
}

// Half x, dy and dx (each its own dtype): the fp32 backward of the rounded
// values, rounded once.
TEST_P(FeatureMapBackward, HalfRowsAreTheFp32BackwardRoundedOnce) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t rows = 2, dim = 19;
  for (const Kind& k : kKinds)
    for (int32_t h : {FW_DTYPE_BF16, FW_DTYPE_F16})
      for (int pattern = 0; pattern < 3; ++pattern) {  // x half, dy half, dx half
        SCOPED_TRACE(::testing::Message() << k.name << " dtype " << h << " pattern " << pattern);
        fw_feature_map_args a = args_for(k, rows, dim);
        int64_t out_dim = 0;
        ASSERT_EQ(fw_feature_map_dim(&a, &out_dim), FW_OK);
        std::vector<float> x = inputs(rows, dim, 2, k.kind), dy(rows * out_dim);
        for (size_t i = 0; i < dy.size(); ++i) dy[i] = float(std::cos(1.3 * double(i)));
        const int32_t xd = pattern == 0 ? h : FW_DTYPE_F32, gd = pattern == 1 ? h : FW_DTYPE_F32;
        const int32_t dd = pattern == 2 ? h : FW_DTYPE_F32;
        TypedBuffer xb = round_into(&x, xd), gb = round_into(&dy, gd);
        std::vector<float> want(rows * dim);
        point(&a.x, x.data(), FW_DTYPE_F32, dim);
        point(&a.dy, dy.data(), FW_DTYPE_F32, out_dim);
        point(&a.dx, want.data(), FW_DTYPE_F32, dim);
        ASSERT_EQ(fw_feature_map_backward(&a), FW_OK);
        TypedBuffer got;
        got.dtype = dd;
        got.f32.assign(dd == FW_DTYPE_F32 ? want.size() : 0, -7.0f);
        got.half.assign(dd == FW_DTYPE_F32 ? 0 : want.size(), 0xdead);
        point(&a.x, xb.data(), xd, dim);
        point(&a.dy, gb.data(), gd, out_dim);
        point(&a.dx, got.data(), dd, dim);
        ASSERT_EQ(fw_feature_map_backward(&a), FW_OK);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_TRUE(is_rounding_of(got.at(i), want[i], dd))
              << "element " << i << ": " << got.at(i) << " for " << want[i];
      }
}

TEST_P(FeatureMapBackward, ThreadCountNeverChangesABit) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const int64_t rows = 37, dim = 16;
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    fw_feature_map_args a = args_for(k, rows, dim);
    int64_t out_dim = 0;
    ASSERT_EQ(fw_feature_map_dim(&a, &out_dim), FW_OK);
    std::vector<float> x = inputs(rows, dim, 3, k.kind), dy(rows * out_dim);
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = float(std::sin(0.77 * double(i)));
    std::vector<float> one(rows * dim), two(rows * dim);
    point(&a.x, x.data(), FW_DTYPE_F32, dim);
    point(&a.dy, dy.data(), FW_DTYPE_F32, out_dim);
    {
      ThreadScope threads(1);
      point(&a.dx, one.data(), FW_DTYPE_F32, dim);
      ASSERT_EQ(fw_feature_map_backward(&a), FW_OK);
    }
    {
      ThreadScope threads(2);
      point(&a.dx, two.data(), FW_DTYPE_F32, dim);
      ASSERT_EQ(fw_feature_map_backward(&a), FW_OK);
    }
    EXPECT_TRUE(same_bits(one, two));
  }
}

INSTANTIATE_TEST_SUITE_P(All, FeatureMapBackward, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

TEST(FeatureMapBackwardArgs, BadInputRejectedNothingWritten) {
  const int64_t rows = 4, dim = 8;
  std::vector<float> x = inputs(rows, dim, 4), dy(rows * dim, 0.5f), dx(rows * dim, -7.0f);
  struct Case {
    fw_status want;
    std::function<void(fw_feature_map_args&)> mutate;
  };
  const Case cases[] = {
      {FW_ERR_NULL_POINTER, [](fw_feature_map_args& a) { a.dy.data = nullptr; }},
      {FW_ERR_NULL_POINTER, [](fw_feature_map_args& a) { a.dx.data = nullptr; }},
      {FW_ERR_NULL_POINTER, [](fw_feature_map_args& a) { a.x.data = nullptr; }},
      {FW_ERR_UNSUPPORTED, [](fw_feature_map_args& a) { a.dy.dtype = 3; }},
      {FW_ERR_INVALID_ARGUMENT, [](fw_feature_map_args& a) { a.dx.reserved = 1; }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.dx.stride[1] = 2; }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.dx.stride[0] = 0; }},
      {FW_ERR_INVALID_STRIDE, [](fw_feature_map_args& a) { a.dy.stride[0] = -1; }},
      {FW_ERR_ALIASING, [&](fw_feature_map_args& a) { a.dx.data = x.data(); }},
      {FW_ERR_ALIASING, [&](fw_feature_map_args& a) { a.dx.data = dy.data() + 3; }},
      {FW_ERR_UNSUPPORTED, [](fw_feature_map_args& a) { a.kind = 42; }},
      {FW_ERR_INVALID_DIMENSION, [](fw_feature_map_args& a) { a.rows = 0; }},
  };
  for (const Case& c : cases) {
    fw_feature_map_args a = args_for(kKinds[1], rows, dim);
    point(&a.x, x.data(), FW_DTYPE_F32, dim);
    point(&a.dy, dy.data(), FW_DTYPE_F32, dim);
    point(&a.dx, dx.data(), FW_DTYPE_F32, dim);
    c.mutate(a);
    EXPECT_EQ(fw_feature_map_backward(&a), c.want) << fw_status_string(c.want);
    for (float e : dx) ASSERT_EQ(e, -7.0f);
  }
  // The forward ignores dy and dx; the backward ignores out.
  fw_feature_map_args a = args_for(kKinds[1], rows, dim);
  point(&a.x, x.data(), FW_DTYPE_F32, dim);
  point(&a.out, dx.data(), FW_DTYPE_F32, dim);
  a.dx.data = x.data();  // would alias, were it read
  EXPECT_EQ(fw_feature_map(&a), FW_OK);
}

}  // namespace
}  // namespace fwtest
