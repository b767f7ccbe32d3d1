"""Backends, threads and version."""
import ctypes

from ._lib import FastweightsError, check, lib

BACKENDS = {"auto": 0, "scalar": 1, "avx2": 2, "avx512": 3, "neon": 4}


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
    """Threads per call; n <= 0 restores the default (physical cores)."""
    lib.fw_set_num_threads(int(n))


def get_num_threads():
    return lib.fw_get_num_threads()


def auto_chunk_size(delta_rule, head_dim_k):
    """The chunk size chunk_size=0 runs at: for the delta rules (delta_rule
    true) or linear attention, with keys of head_dim_k."""
    return lib.fw_auto_chunk_size(int(bool(delta_rule)), head_dim_k)


def version():
    """Version of the loaded library, as "major.minor.patch"."""
    return lib.fw_version_string().decode()


__all__ = ["backend", "set_backend", "compiled_backends", "supported_backends",
           "set_num_threads", "get_num_threads", "version", "FastweightsError"]
