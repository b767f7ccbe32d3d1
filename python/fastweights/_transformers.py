"""fastweights inside Hugging Face transformers (fastweights.torch.patch_transformers).

transformers (5.23, pinned in scripts/install_deps.sh) picks each linear
attention kernel once, when a modeling module is imported: the decorator
`use_kernel_func_from_hub_with_fallback(name, "fla")` binds fla's function
if fla imports, else the module's own PyTorch function, under the module
name the layer's forward calls at run time. Its other route, the `kernels`
hub, fetches kernels from the network. So the patch rebinds those module
names to fastweights.torch's fla-named functions, filtering keyword arguments
as the decorator does for fla, and keeps the originals to restore. Layers
built before or after the call both use it: forward reads the module name
on every call.
"""
import functools
import importlib
import inspect

from . import torch as _ft

# (modeling module, its name for the function, fastweights.torch's function)
_TARGETS = [
    ("transformers.models.qwen3_next.modeling_qwen3_next", "torch_chunk_gated_delta_rule",
     "chunk_gated_delta_rule"),
    ("transformers.models.qwen3_next.modeling_qwen3_next", "torch_recurrent_gated_delta_rule",
     "fused_recurrent_gated_delta_rule"),
    ("transformers.models.qwen3_5.modeling_qwen3_5", "torch_chunk_gated_delta_rule",
     "chunk_gated_delta_rule"),
    ("transformers.models.qwen3_5.modeling_qwen3_5", "torch_recurrent_gated_delta_rule",
     "fused_recurrent_gated_delta_rule"),
    ("transformers.models.qwen3_5_moe.modeling_qwen3_5_moe", "torch_chunk_gated_delta_rule",
     "chunk_gated_delta_rule"),
    ("transformers.models.qwen3_5_moe.modeling_qwen3_5_moe", "torch_recurrent_gated_delta_rule",
     "fused_recurrent_gated_delta_rule"),
    ("transformers.models.kimi_linear.modeling_kimi_linear", "chunk_kimi_delta_attention",
     "chunk_kda"),
    ("transformers.models.kimi_linear.modeling_kimi_linear", "recurrent_kimi_delta_attention",
     "fused_recurrent_kda"),
]

_originals = {}  # (module, name) -> the function transformers had bound
_options = {"save_chunk_states": False}  # passed to the functions that take them


def _taking_known_keywords(fn, original):
    """fn called with the keywords it knows; the layers also pass their own
    (attention masks, position ids), as they do to fla."""
    known = set(inspect.signature(fn).parameters)

    @functools.wraps(original)
    def call(*args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k in known}
        kwargs.update((k, v) for k, v in _options.items() if k in known)
        return fn(*args, **kwargs)

    call.fastweights = fn
    return call


def patch(save_chunk_states=False):
    """Rebinds every target present in the installed transformers (a model
    family it lacks is skipped); calling it again changes only the option.
    save_chunk_states: the chunked layers keep their chunk states for the
    backward (fastweights.torch). Returns the patched names,
    "module.function"."""
    _options["save_chunk_states"] = bool(save_chunk_states)
    patched = []
    for module_name, name, ours in _TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        key = (module_name, name)
        if key not in _originals:
            original = getattr(module, name)
            _originals[key] = original
            setattr(module, name, _taking_known_keywords(getattr(_ft, ours), original))
        patched.append(f"{module_name}.{name}")
    return patched


def unpatch():
    """Restores what patch() replaced."""
    for (module_name, name), original in _originals.items():
        setattr(importlib.import_module(module_name), name, original)
    _originals.clear()
    _options["save_chunk_states"] = False
