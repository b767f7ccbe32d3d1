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
  float q[2] = {1.0f, 2.0f}, k[2] = {0.6f, 0.8f}, v[2] = {3.0f, -1.0f};
  float g[1] = {-0.5f}, beta[1] = {0.5f};
  float o[2], state[4], pool[3 * 4], states[4];
  const int64_t rows[4] = {1, 1, 1, 2}, gates[3] = {1, 1, 1}, one_state[4] = {1, 1, 2, 2};
  const int64_t pool_sizes[4] = {3, 1, 2, 2}, steps[5] = {1, 1, 1, 2, 2};
  const int32_t slot[1] = {2};
  int64_t count = 0;
  fw_op_info info;
  fw_scan_args a;
  fw_scan_args_init(&a);
  a.batch = a.seq_len = a.num_heads = a.num_value_heads = 1;
  a.head_dim_k = a.head_dim_v = 2;
  a.scale = 1.0f;
  fw_tensor_contiguous(&a.q, q, 4, rows);
  fw_tensor_contiguous(&a.k, k, 4, rows);
  fw_tensor_contiguous(&a.v, v, 4, rows);
  fw_tensor_contiguous(&a.o, o, 4, rows);
  fw_tensor_contiguous(&a.final_state, state, 4, one_state);

  /* q . k = 2.2, so o = 2.2 v for linear attention. */
  CHECK(fw_linear_attn(&a) == FW_OK);
  CHECK(fabsf(o[0] - 6.6f) < 1e-5f && fabsf(o[1] + 2.2f) < 1e-5f);
  CHECK(fabsf(state[1] - 0.6f * -1.0f) < 1e-6f);

  /* From a zero state the gate has nothing to decay. */
  fw_tensor_contiguous(&a.g, g, 3, gates);
  CHECK(fw_simple_gla(&a) == FW_OK);
  CHECK(fabsf(o[0] - 6.6f) < 1e-5f);

  /* Delta rule from zero: S = beta k^T v, o = 0.5 * 2.2 v. */
  a.g.data = NULL;
  fw_tensor_contiguous(&a.beta, beta, 3, gates);
  a.mode = FW_MODE_CHUNKED;
  CHECK(fw_delta_rule(&a) == FW_OK);
  CHECK(fabsf(o[0] - 3.3f) < 1e-5f && fabsf(o[1] + 1.1f) < 1e-5f);
  a.g.data = g;
  a.mode = FW_MODE_RECURRENT;
  CHECK(fw_scan(FW_OP_GATED_DELTA_RULE, &a) == FW_OK);
  CHECK(fabsf(o[0] - 3.3f) < 1e-5f);

  /* The same step on slot 2 of a pool of three, V-first, in place, with
     the state after the token written out too. */
  memset(pool, 0, sizeof pool);
  fw_tensor_contiguous(&a.initial_state, pool, 4, pool_sizes);
  a.final_state = a.initial_state;
  a.state_indices = slot;
  a.num_state_slots = 3;
  a.flags = FW_FLAG_STATE_V_FIRST;
  fw_tensor_contiguous(&a.intermediate_states, states, 5, steps);
  CHECK(fw_intermediate_state_count(FW_OP_GATED_DELTA_RULE, &a, &count) == FW_OK && count == 1);
  CHECK(fw_gated_delta_rule(&a) == FW_OK);
  CHECK(fabsf(o[0] - 3.3f) < 1e-5f);
  /* V-first: element (v = 1, k = 0) is beta k_0 v_1 = 0.5 * 0.6 * -1. */
  CHECK(fabsf(pool[8 + 2] + 0.3f) < 1e-6f && pool[0] == 0.0f && pool[4] == 0.0f);
  CHECK(memcmp(states, pool + 8, sizeof states) == 0);

  CHECK(fw_op_count() == 6);
  info.struct_size = sizeof info;
  CHECK(fw_op_get_info(FW_OP_SIMPLE_GLA, &info) == FW_OK && info.gate == FW_GATE_SCALAR &&
        strcmp(info.name, "simple_gla") == 0);
  CHECK(fw_op_get_info(FW_OP_KDA, &info) == FW_OK && info.gate == FW_GATE_CHANNEL &&
        info.has_beta && strcmp(info.name, "kda") == 0);
  CHECK(fw_chunk_size(FW_OP_DELTA_RULE, 128) == 16);

  a.struct_size = 4;
  CHECK(fw_gated_delta_rule(&a) == FW_ERR_INVALID_STRUCT_SIZE);
}

static void check_feature_maps(void) {
  float x[3] = {1.0f, 2.0f, -3.0f};
  float out[6], proj[8];
  const int64_t in_sizes[2] = {1, 3}, out_sizes[2] = {1, 6};
  int64_t dim = 0;
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  a.kind = FW_FEATURE_DPFP;
  a.rows = 1;
  a.dim = 3;
  fw_tensor_contiguous(&a.x, x, 2, in_sizes);
  fw_tensor_contiguous(&a.out, out, 2, out_sizes);
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
