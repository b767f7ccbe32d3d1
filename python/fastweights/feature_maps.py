"""Feature maps phi (Schlag et al. 2021 §5), applied over the last axis."""
import ctypes

import numpy as np

from ._lib import FeatureMapArgs, check, lib
from .ops import DTYPES

KINDS = {"identity": 0, "elu_plus_one": 1, "relu": 2, "dpfp": 3, "favor_plus": 4,
         "sum_norm": 5, "l2_norm": 6}


def _rows(x, name):
    """x as [rows, d] rows the kernels read as they are (float32, float16,
    bfloat16 kept; other dtypes converted to float32), and its leading shape."""
    a = np.asarray(x)
    if a.dtype.name not in DTYPES:
        a = a.astype(np.float32)
    if a.ndim < 1:
        raise ValueError(f"{name} needs at least one axis")
    rows = np.ascontiguousarray(a.reshape(-1, a.shape[-1])) if a.size else a.reshape(-1, a.shape[-1])
    return rows, a.shape[:-1]


def _point(t, rows):
    t.data, t.dtype = rows.ctypes.data, DTYPES[rows.dtype.name]
    t.stride[0], t.stride[1] = rows.shape[1], 1


def _args(kind, rows, dim, nu, m, seed, eps):
    if kind not in KINDS:
        raise ValueError(f"unknown feature map {kind!r}; expected one of {sorted(KINDS)}")
    if kind == "favor_plus" and m is None:
        raise ValueError("favor_plus needs the number of random features m")
    args = FeatureMapArgs()
    args.struct_size = ctypes.sizeof(FeatureMapArgs)
    args.kind, args.rows, args.dim = KINDS[kind], rows, dim
    args.nu, args.num_features, args.seed, args.eps = nu, m or 0, seed, eps
    out_dim = ctypes.c_int64()
    check(lib.fw_feature_map_dim(ctypes.byref(args), ctypes.byref(out_dim)), "feature_map")
    return args, out_dim.value


def feature_dim(d, kind, nu=1, m=None):
    """phi's output size for input size d, as the library gives it
    (fw_feature_map_dim): d, 2*nu*d ("dpfp") or m ("favor_plus")."""
    return _args(kind, 1, d, nu, m, 0, 0.0)[1]


def feature_map(x, kind, nu=1, m=None, seed=0, eps=1e-6):
    """phi(x) over the last axis: d -> d, 2*nu*d ("dpfp") or m ("favor_plus",
    m required). Returns a new array of x's dtype: float32, float16 or
    bfloat16 (ml_dtypes) are read and written as they are (computed in
    float32, rounded once), other dtypes are converted to float32."""
    rows, lead = _rows(x, "x")
    args, out_dim = _args(kind, rows.shape[0], rows.shape[1], nu, m, seed, eps)
    out = np.empty((rows.shape[0], out_dim), dtype=rows.dtype)
    if rows.shape[0]:
        _point(args.x, rows)
        _point(args.out, out)
        check(lib.fw_feature_map(ctypes.byref(args)), "feature_map")
    return out.reshape(lead + (out_dim,))


def feature_map_backward(x, dy, kind, nu=1, m=None, seed=0, eps=1e-6):
    """dx = dy J(x), the gradient of feature_map(x, kind, ...) against x for
    the output gradient dy (feature_map's shape); dx takes x's dtype."""
    rows, lead = _rows(x, "x")
    args, out_dim = _args(kind, rows.shape[0], rows.shape[1], nu, m, seed, eps)
    grads, _ = _rows(dy, "dy")
    if grads.shape != (rows.shape[0], out_dim) or np.shape(dy)[:-1] != lead:
        raise ValueError(f"dy must have shape {lead + (out_dim,)}, got {np.shape(dy)}")
    dx = np.empty(rows.shape, dtype=rows.dtype)
    if rows.shape[0]:
        _point(args.x, rows)
        _point(args.dy, grads)
        _point(args.dx, dx)
        check(lib.fw_feature_map_backward(ctypes.byref(args)), "feature_map_backward")
    return dx.reshape(np.shape(x))


def favor_plus_projection(d, m, seed=0):
    """The m x d FAVOR+ projection that feature_map(kind="favor_plus") uses."""
    out = np.empty((m, d), dtype=np.float32)
    check(lib.fw_favor_plus_projection(d, m, seed, out.ctypes.data), "favor_plus_projection")
    return out
