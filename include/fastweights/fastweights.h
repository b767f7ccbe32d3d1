/*
 * fastweights: CPU kernels for causal linear attention and delta-rule scans.
 *
 * The only public header. Plain C (C99 and later, and C++); every symbol has
 * the fw_ prefix, every call returns an fw_status (0 = FW_OK) or a plain
 * value, and no C++ type or exception crosses this boundary.
 *
 * Conventions (see README.md "The math" for the exact formulas):
 *   q, k  [B, T, H,  K]     v, o  [B, T, HV, V]     g, beta  [B, T, HV]
 *   states [N, HV, K, V] fp32, C-contiguous; normaliser states [N, HV, K].
 *   Strides are in elements, one per dimension; the last dimension's stride
 *   must be 1. Value head j reads q/k head j / (HV / H).
 *   N = B, or the number of packed sequences when cu_seqlens is given.
 *
 * On any error status nothing has been written to any output buffer.
 */
#ifndef FASTWEIGHTS_FASTWEIGHTS_H_
#define FASTWEIGHTS_FASTWEIGHTS_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FASTWEIGHTS_VERSION_MAJOR 0
#define FASTWEIGHTS_VERSION_MINOR 1
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
  FW_ERR_INVALID_STRUCT_SIZE = 8,  /* struct_size is not one this library knows */
  FW_ERR_UNSUPPORTED = 9,          /* dtype, mode or kind not supported */
  FW_ERR_INVALID_ARGUMENT = 10,    /* any other bad value (scale, eps, nu, ...) */
  FW_ERR_ALIASING = 11,            /* an output overlaps an input or another
                                      output (initial == final state is fine) */
  FW_ERR_OUT_OF_MEMORY = 12,       /* workspace allocation failed */
  FW_ERR_BACKEND_UNAVAILABLE = 13, /* backend not compiled in or not supported
                                      by this CPU and OS */
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

/* Threads used by each call. n <= 0 restores the default: the number of
 * physical cores (hwloc), unless FASTWEIGHTS_NUM_THREADS or OMP_NUM_THREADS
 * (read in that order, once) name another. Results never depend on it. */
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

/* ---- scans ------------------------------------------------------------- */

typedef enum fw_dtype { FW_DTYPE_F32 = 0, FW_DTYPE_F16 = 1, FW_DTYPE_BF16 = 2 } fw_dtype;

typedef enum fw_mode {
  FW_MODE_AUTO = 0,     /* per sequence, the form the backend measured faster at
                           its length (recurrent when short; README: Modes) */
  FW_MODE_CHUNKED = 1,  /* chunk-parallel form (prefill) */
  FW_MODE_RECURRENT = 2 /* one token at a time (decode) */
} fw_mode;

/* fw_linear_attn only: o_t = (q_t S_t) / (q_t . z_t + eps), z_t = z_{t-1} + k_t. */
#define FW_FLAG_NORMALIZE 0x1u
/* q and k rows are divided by sqrt(sum(x^2) + 1e-6) inside the kernel. */
#define FW_FLAG_QK_L2NORM 0x2u

/* chunk_size = FW_CHUNK_SIZE_AUTO (what fw_scan_args_init sets): the library
 * picks the chunk, per op and key size; fw_auto_chunk_size says which. */
#define FW_CHUNK_SIZE_AUTO 0
/* The usual pick: linear attention, and the delta rules with K > 128 (32
 * beat 64 on every measured shape; see docs/decisions.md). */
#define FW_DEFAULT_CHUNK_SIZE 32
#define FW_MAX_CHUNK_SIZE 1024
/* Largest accepted K and V (workspace is O(K*V) per thread). */
#define FW_MAX_HEAD_DIM 16384

typedef struct fw_scan_args {
  size_t struct_size; /* sizeof(fw_scan_args): set by fw_scan_args_init */
  int32_t dtype;      /* fw_dtype of q, k, v, g, beta and o */
  int32_t mode;       /* fw_mode */
  uint32_t flags;     /* FW_FLAG_* */
  int32_t backend;    /* fw_backend for this call; 0 (AUTO) = the
                         process's active backend */

  int64_t batch;           /* B (1 with cu_seqlens) */
  int64_t seq_len;         /* T */
  int64_t num_heads;       /* H: heads of q and k */
  int64_t num_value_heads; /* HV: heads of v, g, beta, o and the state */
  int64_t head_dim_k;      /* K */
  int64_t head_dim_v;      /* V */
  int64_t chunk_size;      /* chunked mode; FW_CHUNK_SIZE_AUTO (0) by init */
  float scale;             /* 0 = default 1/sqrt(K); ignored with NORMALIZE */
  float eps;               /* NORMALIZE denominator term; 1e-6 by init */

  /* Inputs: pointer plus strides for (batch, time, head, dim). */
  const void* q;
  int64_t q_stride[4];
  const void* k;
  int64_t k_stride[4];
  const void* v;
  int64_t v_stride[4];
  const void* g;
  int64_t g_stride[3]; /* gated ops: log-decay, <= 0 */
  const void* beta;
  int64_t beta_stride[3]; /* delta rules: write strength */
  /* Output. */
  void* o;
  int64_t o_stride[4];

  /* Optional states, [N, HV, K, V]; may be the same buffer (in place). */
  const float* initial_state;
  float* final_state;
  /* Optional normaliser states for FW_FLAG_NORMALIZE, [N, HV, K]. */
  const float* initial_norm;
  float* final_norm;

  /* Optional packed sequences: N + 1 offsets into T (needs batch == 1). */
  const int64_t* cu_seqlens;
  int64_t num_seqs; /* N, with cu_seqlens; ignored without */
} fw_scan_args;

/* Zeroes *args and fills the defaults: struct_size, FP32, AUTO mode, the
 * library's chunk size, eps 1e-6, default scale. Inline so that struct_size
 * is the caller's view of the struct. */
static inline void fw_scan_args_init(fw_scan_args* args) {
  memset(args, 0, sizeof *args);
  args->struct_size = sizeof *args;
  args->dtype = FW_DTYPE_F32;
  args->mode = FW_MODE_AUTO;
  args->chunk_size = FW_CHUNK_SIZE_AUTO;
  args->eps = 1e-6f;
}

/* S_t = S_{t-1} + k_t^T v_t;  o_t = scale q_t S_t (or normalised). */
FW_API fw_status fw_linear_attn(const fw_scan_args* args);
/* S_t = exp(g_t) S_{t-1} + k_t^T v_t;  o_t = scale q_t S_t (fla simple_gla). */
FW_API fw_status fw_simple_gla(const fw_scan_args* args);
/* S_t = S_{t-1} + beta_t k_t^T (v_t - k_t S_{t-1});  o_t = scale q_t S_t. */
FW_API fw_status fw_delta_rule(const fw_scan_args* args);
/* S' = exp(g_t) S_{t-1};  S_t = S' + beta_t k_t^T (v_t - k_t S'). */
FW_API fw_status fw_gated_delta_rule(const fw_scan_args* args);

/* The chunk size a scan with chunk_size = FW_CHUNK_SIZE_AUTO runs at, for
 * fw_delta_rule and fw_gated_delta_rule (delta_rule != 0) or the linear
 * attention ops (delta_rule == 0), with keys of head_dim_k. */
FW_API int64_t fw_auto_chunk_size(int delta_rule, int64_t head_dim_k);

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

typedef struct fw_feature_map_args {
  size_t struct_size; /* sizeof(fw_feature_map_args) */
  int32_t dtype;      /* fw_dtype of x and out */
  int32_t kind;       /* fw_feature_map_kind */
  int64_t rows;       /* rows of x, each mapped independently */
  int64_t dim;        /* d: elements per row of x */
  const void* x;
  int64_t x_row_stride; /* elements between rows */
  void* out;
  int64_t out_row_stride; /* rows of fw_feature_map_dim */
  int32_t nu;             /* DPFP order, 1..d*2-1 (default 1) */
  int32_t backend;        /* fw_backend for this call; 0 = active one */
  int64_t num_features;   /* FAVOR+ m */
  uint64_t seed;          /* FAVOR+ random projection seed */
  float eps;              /* SUM_NORM and L2_NORM; 1e-6 by init */
  int32_t reserved;       /* must be 0 */
} fw_feature_map_args;

static inline void fw_feature_map_args_init(fw_feature_map_args* args) {
  memset(args, 0, sizeof *args);
  args->struct_size = sizeof *args;
  args->dtype = FW_DTYPE_F32;
  args->nu = 1;
  args->eps = 1e-6f;
}

/* Output elements per row for a kind: d, 2*nu*d (DPFP) or m (FAVOR+). */
FW_API fw_status fw_feature_map_dim(const fw_feature_map_args* args, int64_t* out_dim);
FW_API fw_status fw_feature_map(const fw_feature_map_args* args);
/* The FAVOR+ projection for (dim, m, seed): m rows of d floats, row-major,
 * orthogonal within each block of d rows, rows scaled to chi(d) norms.
 * Bitwise the same on every machine for the same arguments. */
FW_API fw_status fw_favor_plus_projection(int64_t dim, int64_t num_features, uint64_t seed,
                                          float* out);

#ifdef __cplusplus
}
#endif

#endif /* FASTWEIGHTS_FASTWEIGHTS_H_ */
