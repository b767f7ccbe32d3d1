"""fastweights: CPU kernels for causal linear attention and delta-rule scans.

A ctypes binding of libfastweights (found through FASTWEIGHTS_LIBRARY, the
copy a wheel installs beside this file, the build tree, or the system's
library path); function names and argument order follow
flash-linear-attention. The same functions on torch tensors, with autograd,
and the transformers patch are in fastweights.torch (imported on its own:
this package does not need torch).
"""
from ._lib import FastweightsError
from .backward import (chunk_delta_rule_backward, chunk_gated_delta_rule_backward,
                       chunk_gla_backward, chunk_kda_backward, chunk_linear_attn_backward,
                       chunk_simple_gla_backward)
from .feature_maps import favor_plus_projection, feature_dim, feature_map, feature_map_backward
from .ops import (chunk_delta_rule, chunk_gated_delta_rule, chunk_gla, chunk_kda,
                  chunk_linear_attn, chunk_simple_gla, fused_recurrent_delta_rule,
                  fused_recurrent_gated_delta_rule, fused_recurrent_gla, fused_recurrent_kda,
                  fused_recurrent_linear_attn, fused_recurrent_simple_gla)
from .runtime import (auto_chunk_size, backend, chunk_size, compiled_backends,
                      get_num_threads, ops, set_backend, set_num_threads, supported_backends,
                      version)

__version__ = "1.0.0"

__all__ = [
    "chunk_linear_attn", "fused_recurrent_linear_attn", "chunk_simple_gla",
    "fused_recurrent_simple_gla", "chunk_delta_rule", "fused_recurrent_delta_rule",
    "chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule", "chunk_gla",
    "fused_recurrent_gla", "chunk_kda", "fused_recurrent_kda", "feature_map",
    "feature_map_backward", "chunk_linear_attn_backward", "chunk_simple_gla_backward",
    "chunk_delta_rule_backward", "chunk_gated_delta_rule_backward", "chunk_gla_backward",
    "chunk_kda_backward",
    "feature_dim", "favor_plus_projection", "backend", "set_backend", "compiled_backends",
    "supported_backends", "set_num_threads", "get_num_threads", "version",
    "auto_chunk_size", "chunk_size", "ops",
    "FastweightsError",
]
