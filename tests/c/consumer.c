/* A plain C11 consumer of libfastweights.so: calls every entry point of the
 * public header and checks small results computed by hand. */
#include <fastweights/fastweights.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* One token, K = V = 2, H = HV = 1: S = k^T v, o = scale q S. */
static void check_scans(void) {
  const float q[2] = {1.0f, 2.0f}, k[2] = {0.6f, 0.8f}, v[2] = {3.0f, -1.0f};
  const float g[1] = {-0.5f}, beta[1] = {0.5f};
  float o[2], state[4];
  fw_scan_args a;
  fw_scan_args_init(&a);
  a.batch = a.seq_len = a.num_heads = a.num_value_heads = 1;
  a.head_dim_k = a.head_dim_v = 2;
  a.scale = 1.0f;
  a.q = q;
  a.k = k;
  a.v = v;
  a.o = o;
  a.final_state = state;
  a.q_stride[0] = a.q_stride[1] = a.q_stride[2] = 2;
  a.q_stride[3] = 1;
  memcpy(a.k_stride, a.q_stride, sizeof a.q_stride);
  memcpy(a.v_stride, a.q_stride, sizeof a.q_stride);
  memcpy(a.o_stride, a.q_stride, sizeof a.q_stride);
  a.g_stride[0] = a.g_stride[1] = a.g_stride[2] = 1;
  a.beta_stride[0] = a.beta_stride[1] = a.beta_stride[2] = 1;

  /* q . k = 2.2, so o = 2.2 v for linear attention. */
  CHECK(fw_linear_attn(&a) == FW_OK);
  CHECK(fabsf(o[0] - 6.6f) < 1e-5f && fabsf(o[1] + 2.2f) < 1e-5f);
  CHECK(fabsf(state[1] - 0.6f * -1.0f) < 1e-6f);

  /* From a zero state the gate has nothing to decay. */
  a.g = g;
  CHECK(fw_simple_gla(&a) == FW_OK);
  CHECK(fabsf(o[0] - 6.6f) < 1e-5f);

  /* Delta rule from zero: S = beta k^T v, o = 0.5 * 2.2 v. */
  a.g = NULL;
  a.beta = beta;
  a.mode = FW_MODE_CHUNKED;
  CHECK(fw_delta_rule(&a) == FW_OK);
  CHECK(fabsf(o[0] - 3.3f) < 1e-5f && fabsf(o[1] + 1.1f) < 1e-5f);
  a.g = g;
  a.mode = FW_MODE_RECURRENT;
  CHECK(fw_gated_delta_rule(&a) == FW_OK);
  CHECK(fabsf(o[0] - 3.3f) < 1e-5f);

  a.struct_size = 4;
  CHECK(fw_gated_delta_rule(&a) == FW_ERR_INVALID_STRUCT_SIZE);
}

static void check_feature_maps(void) {
  const float x[3] = {1.0f, 2.0f, -3.0f};
  float out[6], proj[8];
  int64_t dim = 0;
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  a.kind = FW_FEATURE_DPFP;
  a.rows = 1;
  a.dim = 3;
  a.x = x;
  a.x_row_stride = 3;
  a.out = out;
  a.out_row_stride = 6;
  CHECK(fw_feature_map_dim(&a, &dim) == FW_OK && dim == 6);
  CHECK(fw_feature_map(&a) == FW_OK);
  CHECK(out[0] == 3.0f && out[1] == 2.0f && out[5] == 0.0f);
  CHECK(fw_favor_plus_projection(2, 4, 1, proj) == FW_OK);
  CHECK(fabsf(proj[0] * proj[2] + proj[1] * proj[3]) < 1e-5f); /* rows 0, 1 orthogonal */
}

static void check_runtime(void) {
  int major = -1, minor = -1, patch = -1;
  fw_version(&major, &minor, &patch);
  CHECK(major == FASTWEIGHTS_VERSION_MAJOR && minor == FASTWEIGHTS_VERSION_MINOR &&
        patch == FASTWEIGHTS_VERSION_PATCH);
  CHECK(strlen(fw_version_string()) >= 5);
  CHECK(strcmp(fw_status_string(FW_OK), "ok") == 0);
  fw_set_num_threads(3);
  CHECK(fw_get_num_threads() == 3);
  fw_set_num_threads(0);
  CHECK(fw_get_num_threads() >= 1);
  CHECK(fw_backend_is_compiled(FW_BACKEND_SCALAR) && fw_backend_is_supported(FW_BACKEND_SCALAR));
  CHECK(fw_set_backend(FW_BACKEND_SCALAR) == FW_OK);
  CHECK(fw_get_backend() == FW_BACKEND_SCALAR);
  CHECK(strcmp(fw_backend_name(fw_get_backend()), "scalar") == 0);
  CHECK(fw_set_backend((fw_backend)77) == FW_ERR_BACKEND_UNAVAILABLE);
  CHECK(fw_set_backend(FW_BACKEND_AUTO) == FW_OK);
}

int main(void) {
  check_runtime();
  check_scans();
  check_feature_maps();
  printf("c consumer: %s (%d failed checks), backend %s\n", failures ? "FAILED" : "ok", failures,
         fw_backend_name(fw_get_backend()));
  return failures ? 1 : 0;
}
