"""Backends, threads and version."""
import ctypes

from ._lib import OPS, FastweightsError, check, lib


def _read_backends():
    """{name: fw_backend value}: the library's ISA list, read through
    fw_backend_name (values 1, 2, ... until one has no name), plus "auto"."""
    found = {"auto": 0}
    b = 1
    while True:
        name = lib.fw_backend_name(b).decode()
        if name == "unknown":
            return found
        found[name] = b
        b += 1


BACKENDS = _read_backends()


def backend():
    """Name of the active backend ("scalar", "avx2", "avx512" or "neon")."""
    return lib.fw_backend_name(lib.fw_get_backend()).decode()


def set_backend(name):
    """Force a backend for the process ("auto" = best); raises if unusable."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {sorted(BACKENDS)}")
    check(lib.fw_set_backend(BACKENDS[name]), f"set_backend({name!r})")


def compiled_backends():
    return [n for n, b in BACKENDS.items() if b and lib.fw_backend_is_compiled(b)]


def supported_backends():
    return [n for n, b in BACKENDS.items() if b and lib.fw_backend_is_supported(b)]


def set_num_threads(n):
    """Threads a call may use (small calls, and calls while other processes
    hold the cores, use fewer); n <= 0 restores the default (physical cores)."""
    lib.fw_set_num_threads(int(n))


def get_num_threads():
    return lib.fw_get_num_threads()


def chunk_size(op, head_dim_k):
    """The chunk size chunk_size=0 runs at for op ("linear_attn", "simple_gla",
    "delta_rule", "gated_delta_rule", ...: ops()) with keys of head_dim_k."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
    return lib.fw_chunk_size(OPS[op][0], head_dim_k)


def auto_chunk_size(delta_rule, head_dim_k):
    """chunk_size() of the delta rule (delta_rule true) or linear attention."""
    return chunk_size("delta_rule" if delta_rule else "linear_attn", head_dim_k)


def ops():
    """The library's op registry: {name: {"gate", "has_beta", "flags",
    "flops_per_kv"}}; gate is "none", "scalar" or "channel" (one per key channel)."""
    gates = {0: "none", 1: "scalar", 2: "channel"}
    return {name: {"gate": gates.get(info.gate, str(info.gate)), "has_beta": bool(info.has_beta),
                   "flags": info.flags, "flops_per_kv": info.flops_per_kv}
            for name, (_, info) in OPS.items()}


def version():
    """Version of the loaded library, as "major.minor.patch"."""
    return lib.fw_version_string().decode()


__all__ = ["backend", "set_backend", "compiled_backends", "supported_backends",
           "set_num_threads", "get_num_threads", "version", "chunk_size", "auto_chunk_size",
           "ops", "FastweightsError"]
