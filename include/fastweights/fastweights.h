/*
 * fastweights: CPU kernels for causal linear attention and delta-rule scans.
 *
 * The only public header. Plain C (C99 and later, and C++); every symbol has
 * the fw_ prefix, every call returns an fw_status (0 = FW_OK) or a plain
 * value, and no C++ type or exception crosses this boundary.
 *
 * Conventions (README.md "The math" has the formulas, docs/design.md the
 * rules behind this interface):
 *   q, k  [B, T, H,  K]     v, o  [B, T, HV, V]     g, beta  [B, T, HV]
 *   states [N or P, HV, K, V] (or V-first [.., V, K]) fp32; normaliser
 *   states [N or P, HV, K]. Every tensor is an fw_tensor: pointer, dtype
 *   and a stride in elements per dimension, the innermost being 1. Value
 *   head j reads q/k head j / (HV / H). N = B, or the number of packed
 *   sequences when cu_seqlens is given.
 *
 * ABI 1 (libfastweights.so.1) only grows: argument structs gain fields at
 * their end (struct_size tells the library which it was given), enums gain
 * values, and new functions are added; nothing is removed or changed.
 *
 * On any error status nothing has been written to any output buffer.
 */
#ifndef FASTWEIGHTS_FASTWEIGHTS_H_
#define FASTWEIGHTS_FASTWEIGHTS_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FASTWEIGHTS_VERSION_MAJOR 1
#define FASTWEIGHTS_VERSION_MINOR 0
#define FASTWEIGHTS_VERSION_PATCH 0

/* The library is built with -fvisibility=hidden; FW_API marks the exports. */
#if defined(FASTWEIGHTS_BUILDING_LIBRARY) && defined(__GNUC__)
#define FW_API __attribute__((visibility("default")))
#else
#define FW_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum fw_status {
  FW_OK = 0,
  FW_ERR_NULL_POINTER = 1,         /* a required pointer is NULL */
  FW_ERR_INVALID_DIMENSION = 2,    /* a size is <= 0, too large, or overflows */
  FW_ERR_INVALID_STRIDE = 3,       /* negative stride, last-dim stride != 1,
                                      or an output whose elements overlap */
  FW_ERR_HEAD_MISMATCH = 4,        /* HV is not a multiple of H */
  FW_ERR_INVALID_CU_SEQLENS = 5,   /* not 0-based, decreasing, not ending at T,
                                      or B != 1 */
  FW_ERR_INVALID_FLAGS = 6,        /* unknown flag bit, or a flag the op lacks */
  FW_ERR_INVALID_CHUNK_SIZE = 7,   /* chunk size outside [0, FW_MAX_CHUNK_SIZE] */
  FW_ERR_INVALID_STRUCT_SIZE = 8,  /* struct_size below sizeof(size_t) or over 64 KiB */
  FW_ERR_UNSUPPORTED = 9,          /* dtype, mode or kind not supported, or a
                                      field this library lacks set (non-zero
                                      bytes past its struct) */
  FW_ERR_INVALID_ARGUMENT = 10,    /* any other bad value (scale, eps, nu, ...) */
  FW_ERR_ALIASING = 11,            /* an output overlaps an input or another
                                      output (initial == final state is fine) */
  FW_ERR_OUT_OF_MEMORY = 12,       /* workspace allocation failed */
  FW_ERR_BACKEND_UNAVAILABLE = 13, /* backend not compiled in or not supported
                                      by this CPU and OS */
  FW_ERR_INVALID_STATE_INDEX = 14, /* a state index >= num_state_slots, or two
                                      sequences naming the same slot */
  /* Not a status: with it every int32 value is a valid fw_status, so any
     value a C caller passes is defined behaviour in the library (C++). */
  FW_STATUS_FORCE_32BIT = (-0x7fffffff - 1)
} fw_status;

/* Static English text for a status; never NULL (unknown codes included). */
FW_API const char* fw_status_string(fw_status status);

/* ---- version ----------------------------------------------------------- */

/* Version of the loaded library (the macros give the headers' version). */
FW_API void fw_version(int* major, int* minor, int* patch);
FW_API const char* fw_version_string(void);

/* ---- threads ----------------------------------------------------------- */

/* Threads each call may use (the caller's and the library's own): a call
 * too small to pay for threads, or one made while other processes hold the
 * cores, uses fewer (README, "Threads"). n <= 0 restores the default: the
 * number of physical cores (hwloc), unless FASTWEIGHTS_NUM_THREADS or
 * OMP_NUM_THREADS (read in that order, once) name another. Results never
 * depend on it. */
FW_API void fw_set_num_threads(int n);
FW_API int fw_get_num_threads(void);

/* ---- backends ---------------------------------------------------------- */

typedef enum fw_backend {
  FW_BACKEND_AUTO = 0, /* best supported; for fw_set_backend only */
  FW_BACKEND_SCALAR = 1,
  FW_BACKEND_AVX2 = 2,
  FW_BACKEND_AVX512 = 3,
  FW_BACKEND_NEON = 4,
  FW_BACKEND_FORCE_32BIT = (-0x7fffffff - 1) /* not a backend; see FW_STATUS_FORCE_32BIT */
} fw_backend;

/* Active backend. The first call (of any function) chooses it: the value of
 * FASTWEIGHTS_BACKEND if set and usable, else the best supported one. */
FW_API fw_backend fw_get_backend(void);
/* Forces a backend for the whole process (FW_BACKEND_AUTO = best again).
 * FW_ERR_BACKEND_UNAVAILABLE if it is not compiled in or the CPU lacks it. */
FW_API fw_status fw_set_backend(fw_backend backend);
/* "scalar", "avx2", "avx512", "neon", "auto"; "unknown" for other values. */
FW_API const char* fw_backend_name(fw_backend backend);
/* 1 if compiled into this library / usable on this CPU and OS, else 0. */
FW_API int fw_backend_is_compiled(fw_backend backend);
FW_API int fw_backend_is_supported(fw_backend backend);

/* ---- tensors ----------------------------------------------------------- */

/* q, k, v, g, beta and o (and feature maps' x and out) may each be any of
 * these; states, A_log and dt_bias are fp32 (else FW_ERR_UNSUPPORTED). Half
 * inputs are widened to fp32 as rows are loaded, all arithmetic is fp32,
 * and half outputs are rounded once, to nearest even, as they are stored. */
typedef enum fw_dtype {
  FW_DTYPE_F32 = 0, /* the zeroed default */
  FW_DTYPE_F16 = 1, /* IEEE binary16 */
  FW_DTYPE_BF16 = 2 /* bfloat16: the top half of an fp32 */
} fw_dtype;

/* One tensor operand: where it starts, its element type, and the stride in
 * elements of each of its dimensions, outermost first. Each operand of
 * fw_scan_args lists its dimensions; strides past them are ignored. The
 * innermost stride must be 1. data == NULL means the operand is absent.
 * Inputs are only read (data is not const so that one type serves both). */
typedef struct fw_tensor {
  void* data;
  int32_t dtype;    /* fw_dtype */
  int32_t reserved; /* must be 0 */
  int64_t stride[5];
} fw_tensor;

/* Fills t for a C-contiguous array of ndim (1..5) dimensions of the given
 * sizes: the strides of a dense, row-major layout; dtype FW_DTYPE_F32. */
static inline void fw_tensor_contiguous(fw_tensor* t, void* data, int ndim, const int64_t* sizes) {
  int64_t step = 1;
  int i;
  memset(t, 0, sizeof *t);
  t->data = data;
  for (i = ndim - 1; i >= 0 && i < 5; --i) {
    t->stride[i] = step;
    step *= sizes[i];
  }
}

/* ---- ops ---------------------------------------------------------------- */

/* Every scan the library runs. fw_scan(op, args) runs any of them; the named
 * entry points below are the same calls. Values never change meaning. */
typedef enum fw_op {
  FW_OP_LINEAR_ATTN = 0,      /* S_t = S_{t-1} + k_t^T v_t */
  FW_OP_SIMPLE_GLA = 1,       /* S_t = exp(g_t) S_{t-1} + k_t^T v_t */
  FW_OP_DELTA_RULE = 2,       /* S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1}) */
  FW_OP_GATED_DELTA_RULE = 3, /* S' = exp(g_t) S_{t-1}; S_t = S' + beta_t k_t^T (v_t - k_t S') */
  FW_OP_GLA = 4,              /* S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t, g_t per key channel */
  FW_OP_KDA = 5, /* Kimi Delta Attention: the gated delta rule with S' = diag(exp(g_t)) S_{t-1} */
  FW_OP_FORCE_32BIT = (-0x7fffffff - 1) /* not an op; see FW_STATUS_FORCE_32BIT */
} fw_op;

/* The decay an op reads. */
typedef enum fw_gate_kind {
  FW_GATE_NONE = 0,   /* no g */
  FW_GATE_SCALAR = 1, /* g [B, T, HV]: one log-decay per token and value head */
  FW_GATE_CHANNEL = 2 /* g [B, T, HV, K]: one per token, value head and key channel */
} fw_gate_kind;

/* What an op is, from the library's one op registry. An output that grows
 * like the argument structs: the caller sets struct_size (sizeof as it sees
 * it) and the library fills that many bytes. */
typedef struct fw_op_info {
  size_t struct_size;  /* set by the caller */
  const char* name;    /* fla's name: "linear_attn", "simple_gla", ... */
  int32_t gate;        /* fw_gate_kind */
  int32_t has_beta;    /* 1: reads beta [B, T, HV] */
  uint32_t flags;      /* the FW_FLAG_* bits the op accepts */
  int32_t reserved;    /* 0 */
  double flops_per_kv; /* model FLOPs per token and value head, over K * V
                          (4 linear attention, 6 the delta rules) */
} fw_op_info;

/* Number of ops: FW_OP values are 0 .. fw_op_count() - 1. */
FW_API int32_t fw_op_count(void);
/* *info for op: FW_ERR_INVALID_ARGUMENT (info untouched) for an unknown op,
 * FW_ERR_NULL_POINTER for a NULL info, FW_ERR_INVALID_STRUCT_SIZE for a
 * struct_size below sizeof(size_t) or over 64 KiB. */
FW_API fw_status fw_op_get_info(fw_op op, fw_op_info* info);

/* ---- scans ------------------------------------------------------------- */

typedef enum fw_mode {
  FW_MODE_AUTO = 0,     /* per sequence, the form the backend measured faster at
                           its length (recurrent when short; README: Modes) */
  FW_MODE_CHUNKED = 1,  /* chunk-parallel form (prefill) */
  FW_MODE_RECURRENT = 2 /* one token at a time (decode) */
} fw_mode;

/* linear attention only: o_t = scale q_t S_t / (scale q_t . z_t + eps),
   z_t = z_{t-1} + k_t (fla's normalize=True). */
#define FW_FLAG_NORMALIZE 0x1u
/* q and k rows are divided by sqrt(sum(x^2) + 1e-6) inside the kernel. */
#define FW_FLAG_QK_L2NORM 0x2u
/* Every state tensor (initial, final, intermediate) is stored V-first:
   [.., V, K] (vLLM, sglang, llama.cpp) instead of [.., K, V] (fla). */
#define FW_FLAG_STATE_V_FIRST 0x4u
/* With state_indices: final_state is [N, HV, ..] by sequence, not a pool
   (fla's inplace_final_state=False). */
#define FW_FLAG_FINAL_STATE_BY_SEQUENCE 0x8u
/* Ops with beta: beta holds the raw b, and the kernels use sigmoid(b)
   (fla's use_beta_sigmoid_in_kernel). */
#define FW_FLAG_BETA_SIGMOID 0x10u
/* Ops with beta: beta is doubled, in (0, 2) with FW_FLAG_BETA_SIGMOID, so the
   transition I - beta k^T k may have a negative eigenvalue (fla's
   allow_neg_eigval). */
#define FW_FLAG_NEG_EIGVAL 0x20u

/* chunk_size = FW_CHUNK_SIZE_AUTO (the zeroed default): the library picks the
 * chunk, per op and key size; fw_chunk_size says which. */
#define FW_CHUNK_SIZE_AUTO 0
#define FW_MAX_CHUNK_SIZE 1024
/* Largest accepted K and V (workspace is O(K*V) per thread). */
#define FW_MAX_HEAD_DIM 16384

/* The arguments of every scan. The struct only grows: a field is added at
 * the end, with 0 meaning what the library did before it existed. A caller
 * built against an older, shorter struct passes its own struct_size and the
 * library reads the missing tail as zeros; a newer, longer one is accepted
 * when every byte past this library's struct is 0 (else FW_ERR_UNSUPPORTED).
 *
 * Operands and their dimensions (fw_tensor strides, outermost first):
 *   q, k            [B, T, H, K]
 *   v, o            [B, T, HV, V]
 *   g               [B, T, HV] (FW_GATE_SCALAR), [B, T, HV, K] (FW_GATE_CHANNEL)
 *   beta            [B, T, HV]
 *   initial_state,  [P, HV, K, V], or [P, HV, V, K] with FW_FLAG_STATE_V_FIRST:
 *   final_state       P slots (P = N without state_indices); the row stride
 *                     may exceed the row, the slot stride be padded
 *   initial_norm,   [P, HV, K]: the normaliser z of FW_FLAG_NORMALIZE, kept
 *   final_norm        beside the state and indexed like it
 *   intermediate_states  [N, S, HV, K, V] (V-first: [N, S, HV, V, K]): the state
 *                     after every token (recurrent mode, S = longest T) or
 *                     every chunk (chunked mode, S = most chunks); rows past
 *                     a shorter sequence's end are left untouched
 * N = B, or num_seqs with cu_seqlens. Value head j reads q/k head j / (HV/H).
 * q, k, v, g, beta and o may be fp32, fp16 or bf16, each its own (fw_dtype);
 * states are always fp32. */
typedef struct fw_scan_args {
  size_t struct_size; /* set by fw_scan_args_init: sizeof as the caller sees it */
  int32_t mode;       /* fw_mode */
  uint32_t flags;     /* FW_FLAG_* */
  int32_t backend;    /* fw_backend for this call; 0 (AUTO) = the process's
                         active backend */
  int32_t reserved;   /* must be 0 */

  int64_t batch;           /* B (1 with cu_seqlens) */
  int64_t seq_len;         /* T */
  int64_t num_heads;       /* H: heads of q and k */
  int64_t num_value_heads; /* HV: heads of v, g, beta, o and the state */
  int64_t head_dim_k;      /* K */
  int64_t head_dim_v;      /* V */
  int64_t chunk_size;      /* chunked mode; 0 = FW_CHUNK_SIZE_AUTO */
  float scale;             /* 0 = 1/sqrt(K) */
  float eps;               /* FW_FLAG_NORMALIZE's denominator term (fla: 1e-10) */

  fw_tensor q, k, v, g, beta; /* inputs; g and beta exactly when the op reads them */
  fw_tensor o;                /* output */
  fw_tensor initial_state;    /* optional; NULL = zeros */
  fw_tensor final_state;      /* optional; may be initial_state itself (in place) */
  fw_tensor initial_norm;     /* optional, FW_FLAG_NORMALIZE only */
  fw_tensor final_norm;       /* optional, FW_FLAG_NORMALIZE only */

  /* Optional packed sequences: N + 1 offsets into T (needs batch == 1). */
  const int64_t* cu_seqlens;
  int64_t num_seqs; /* N, with cu_seqlens; ignored without */

  /* Optional state pool: sequence n reads and writes slot state_indices[n]
   * (int32, [N]) of initial_state, final_state and the norms, which then
   * hold num_state_slots slots. A negative index marks a padding entry: its
   * outputs are zeros and no slot is read or written. */
  const int32_t* state_indices;
  int64_t num_state_slots; /* P; with state_indices only */

  fw_tensor intermediate_states; /* optional; explicit mode only */

  /* Optional gate projection (fla's use_gate_in_kernel), gated ops only:
   * with A_log given, g holds the raw gate a and the kernels take
   * g = -exp(A_log) * softplus(a + dt_bias) as they load it (softplus(x) =
   * log(1 + exp(x)), x past 20 taken as is). A_log [HV]; dt_bias [HV]
   * (FW_GATE_SCALAR) or [HV, K] (FW_GATE_CHANNEL), optional (zeros). */
  fw_tensor A_log;
  fw_tensor dt_bias;

  /* The backward (fw_scan_backward; the forward ignores these fields).
   * Inputs: grad_o [B, T, HV, V], the gradient of o (required), and
   * grad_final_state, of the final state (optional: zeros), laid out like
   * final_state would be ([N, HV, K, V], or V-first). Outputs, each optional
   * and each laid out like the input it is the gradient of: grad_q, grad_k
   * [B, T, H, K] (summed over the value heads that share a q/k head),
   * grad_v, grad_g and grad_beta (only when the op reads g, beta), and
   * grad_initial_state [N, HV, K, V] (or V-first; only beside an
   * initial_state). grad_g is the gradient of the log-decay g; grad_beta of
   * the beta given (the raw b with FW_FLAG_BETA_SIGMOID). q .. beta, grad_o
   * and the gradient outputs may be fp32, fp16 or bf16; states are fp32. */
  fw_tensor grad_o;
  fw_tensor grad_final_state;
  fw_tensor grad_q, grad_k, grad_v, grad_g, grad_beta;
  fw_tensor grad_initial_state;
} fw_scan_args;

/* Zeroes *args, sets struct_size and eps = 1e-10 (fla's); every other
 * default is the zero value (AUTO mode, the library's chunk, scale
 * 1/sqrt(K), fp32). Inline so that struct_size is the caller's view. */
static inline void fw_scan_args_init(fw_scan_args* args) {
  memset(args, 0, sizeof *args);
  args->struct_size = sizeof *args;
  args->eps = 1e-10f;
}

/* Runs op over args (any op of the registry). */
FW_API fw_status fw_scan(fw_op op, const fw_scan_args* args);
/* The same calls by name. */
FW_API fw_status fw_linear_attn(const fw_scan_args* args);
FW_API fw_status fw_simple_gla(const fw_scan_args* args);
FW_API fw_status fw_delta_rule(const fw_scan_args* args);
FW_API fw_status fw_gated_delta_rule(const fw_scan_args* args);
FW_API fw_status fw_gla(const fw_scan_args* args);
FW_API fw_status fw_kda(const fw_scan_args* args);

/* The gradients of a scan: given grad_o (and grad_final_state), writes the
 * gradient outputs of args (fw_scan_args) for the forward call of op with
 * the same arguments. It reads the forward's inputs (q, k, v, g, beta,
 * initial_state, initial_norm) as they were for that call and neither reads
 * nor writes o, final_state or final_norm.
 *
 * Chunked (FW_MODE_AUTO and FW_MODE_CHUNKED) for every op; token by token
 * in FW_MODE_RECURRENT. The result depends on the mode and chunk_size, as
 * the forward's does, and never on the thread count (docs/design.md, "The
 * backward"). intermediate_states, optional and with FW_MODE_CHUNKED only,
 * holds the states after each chunk as the chunked forward with the same
 * arguments wrote them: where the backward runs chunked it reads them
 * instead of recomputing them (the same gradients, bit for bit).
 *
 * The forward's checks apply, and: state_indices and the gate projection
 * (A_log) are FW_ERR_UNSUPPORTED here; a gradient of an absent input is
 * FW_ERR_INVALID_ARGUMENT; a gradient output overlapping any operand it
 * reads or another output is FW_ERR_ALIASING. */
FW_API fw_status fw_scan_backward(fw_op op, const fw_scan_args* args);
/* The same calls by name. */
FW_API fw_status fw_linear_attn_backward(const fw_scan_args* args);
FW_API fw_status fw_simple_gla_backward(const fw_scan_args* args);
FW_API fw_status fw_delta_rule_backward(const fw_scan_args* args);
FW_API fw_status fw_gated_delta_rule_backward(const fw_scan_args* args);
FW_API fw_status fw_gla_backward(const fw_scan_args* args);
FW_API fw_status fw_kda_backward(const fw_scan_args* args);

/* The chunk size a scan of op with keys of head_dim_k runs at when
 * chunk_size is FW_CHUNK_SIZE_AUTO; 0 for an unknown op or head_dim_k < 1. */
FW_API int64_t fw_chunk_size(fw_op op, int64_t head_dim_k);

/* S, the second dimension of intermediate_states, for these args and mode:
 * the longest sequence's T (recurrent) or its chunk count (chunked), after
 * the same checks a scan makes (FW_ERR_INVALID_ARGUMENT in AUTO mode). */
FW_API fw_status fw_intermediate_state_count(fw_op op, const fw_scan_args* args, int64_t* count);

/* ---- feature maps ------------------------------------------------------ */

typedef enum fw_feature_map_kind {
  FW_FEATURE_IDENTITY = 0,
  FW_FEATURE_ELU_PLUS_ONE = 1, /* x > 0 ? x + 1 : exp(x) */
  FW_FEATURE_RELU = 2,         /* max(x, 0) */
  FW_FEATURE_DPFP = 3,         /* r = [relu(x), relu(-x)];
                                  out = concat_{i=1..nu} r * roll(r, i) */
  FW_FEATURE_FAVOR_PLUS = 4,   /* exp(w_i . x - |x|^2 / 2) / sqrt(m) */
  FW_FEATURE_SUM_NORM = 5,     /* x / (sum(x) + eps) */
  FW_FEATURE_L2_NORM = 6       /* x / sqrt(sum(x^2) + eps) */
} fw_feature_map_kind;

/* Grows like fw_scan_args (struct_size, zero tail). x is [rows, dim] and
 * out [rows, fw_feature_map_dim], each with its own dtype and row stride
 * (stride[0]; stride[1] must be 1). The backward reads x and dy (out's
 * shape) and writes dx (x's shape), each likewise; out is not read. */
typedef struct fw_feature_map_args {
  size_t struct_size;   /* set by fw_feature_map_args_init */
  int32_t kind;         /* fw_feature_map_kind */
  int32_t nu;           /* DPFP order, 1..d*2-1 (default 1) */
  int64_t rows;         /* rows of x, each mapped independently */
  int64_t dim;          /* d: elements per row of x */
  fw_tensor x;          /* input */
  fw_tensor out;        /* output */
  int32_t backend;      /* fw_backend for this call; 0 = active one */
  float eps;            /* SUM_NORM and L2_NORM; 1e-6 by init */
  int64_t num_features; /* FAVOR+ m */
  uint64_t seed;        /* FAVOR+ random projection seed */
  fw_tensor dy;         /* fw_feature_map_backward: the gradient of out */
  fw_tensor dx;         /* fw_feature_map_backward: the gradient of x, written */
} fw_feature_map_args;

static inline void fw_feature_map_args_init(fw_feature_map_args* args) {
  memset(args, 0, sizeof *args);
  args->struct_size = sizeof *args;
  args->nu = 1;
  args->eps = 1e-6f;
}

/* Output elements per row for a kind: d, 2*nu*d (DPFP) or m (FAVOR+). */
FW_API fw_status fw_feature_map_dim(const fw_feature_map_args* args, int64_t* out_dim);
FW_API fw_status fw_feature_map(const fw_feature_map_args* args);
/* dx = dy J, J the Jacobian of the map at x, row by row (the subgradient 0
 * at a ReLU's kink, 1 at ELU+1's); every kind, backend and dtype the
 * forward takes. */
FW_API fw_status fw_feature_map_backward(const fw_feature_map_args* args);
/* The FAVOR+ projection for (dim, m, seed): m rows of d floats, row-major,
 * orthogonal within each block of d rows, rows scaled to chi(d) norms.
 * Bitwise the same on every machine for the same arguments. */
FW_API fw_status fw_favor_plus_projection(int64_t dim, int64_t num_features, uint64_t seed,
                                          float* out);

#ifdef __cplusplus
}
#endif

#endif /* FASTWEIGHTS_FASTWEIGHTS_H_ */
