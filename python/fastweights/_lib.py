"""Loading libfastweights and the ctypes mirror of its C structs."""
import ctypes
import ctypes.util
import os

c_i32, c_u32, c_i64, c_u64, c_f32 = (ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64,
                                     ctypes.c_uint64, ctypes.c_float)
c_ptr = ctypes.c_void_p


class Tensor(ctypes.Structure):
    """fw_tensor: pointer, fw_dtype, reserved, element strides (outermost first)."""
    _fields_ = [("data", c_ptr), ("dtype", c_i32), ("reserved", c_i32), ("stride", c_i64 * 5)]


class ScanArgs(ctypes.Structure):
    """fw_scan_args (include/fastweights/fastweights.h), field for field."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("mode", c_i32), ("flags", c_u32),
        ("backend", c_i32), ("reserved", c_i32),
        ("batch", c_i64), ("seq_len", c_i64), ("num_heads", c_i64),
        ("num_value_heads", c_i64), ("head_dim_k", c_i64), ("head_dim_v", c_i64),
        ("chunk_size", c_i64), ("scale", c_f32), ("eps", c_f32),
        ("q", Tensor), ("k", Tensor), ("v", Tensor), ("g", Tensor), ("beta", Tensor),
        ("o", Tensor), ("initial_state", Tensor), ("final_state", Tensor),
        ("initial_norm", Tensor), ("final_norm", Tensor),
        ("cu_seqlens", c_ptr), ("num_seqs", c_i64),
        ("state_indices", c_ptr), ("num_state_slots", c_i64),
        ("intermediate_states", Tensor),
        ("A_log", Tensor), ("dt_bias", Tensor),
        ("grad_o", Tensor), ("grad_final_state", Tensor), ("grad_q", Tensor),
        ("grad_k", Tensor), ("grad_v", Tensor), ("grad_g", Tensor), ("grad_beta", Tensor),
        ("grad_initial_state", Tensor),
    ]


class FeatureMapArgs(ctypes.Structure):
    """fw_feature_map_args, field for field."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("kind", c_i32), ("nu", c_i32),
        ("rows", c_i64), ("dim", c_i64), ("x", Tensor), ("out", Tensor),
        ("backend", c_i32), ("eps", c_f32), ("num_features", c_i64), ("seed", c_u64),
        ("dy", Tensor), ("dx", Tensor),
    ]


class OpInfo(ctypes.Structure):
    """fw_op_info: one row of the library's op registry."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                ("gate", c_i32), ("has_beta", c_i32),
                ("flags", c_u32), ("reserved", c_i32), ("flops_per_kv", ctypes.c_double)]


def _candidates():
    env = os.environ.get("FASTWEIGHTS_LIBRARY")
    if env:
        return [env]  # an explicit choice is never second-guessed
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    # the wheel's own copy (pip install .), then the source tree's build
    found = [os.path.join(here, "libfastweights.so"),
             os.path.join(root, "build", "libfastweights.so")]
    system = ctypes.util.find_library("fastweights")
    if system:
        found.append(system)
    found.append("libfastweights.so.1")
    return found


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise OSError("libfastweights not found; set FASTWEIGHTS_LIBRARY. Tried:\n  "
                  + "\n  ".join(errors))


lib = _load()

_sigs = {
    "fw_status_string": (ctypes.c_char_p, [c_i32]),
    "fw_version": (None, [ctypes.POINTER(ctypes.c_int)] * 3),
    "fw_version_string": (ctypes.c_char_p, []),
    "fw_set_num_threads": (None, [ctypes.c_int]),
    "fw_get_num_threads": (ctypes.c_int, []),
    "fw_get_backend": (c_i32, []),
    "fw_set_backend": (c_i32, [c_i32]),
    "fw_backend_name": (ctypes.c_char_p, [c_i32]),
    "fw_backend_is_compiled": (ctypes.c_int, [c_i32]),
    "fw_backend_is_supported": (ctypes.c_int, [c_i32]),
    "fw_op_count": (c_i32, []),
    "fw_op_get_info": (c_i32, [c_i32, ctypes.POINTER(OpInfo)]),
    "fw_scan": (c_i32, [c_i32, ctypes.POINTER(ScanArgs)]),
    "fw_scan_backward": (c_i32, [c_i32, ctypes.POINTER(ScanArgs)]),
    "fw_chunk_size": (c_i64, [c_i32, c_i64]),
    "fw_intermediate_state_count": (c_i32, [c_i32, ctypes.POINTER(ScanArgs),
                                            ctypes.POINTER(c_i64)]),
    "fw_feature_map_dim": (c_i32, [ctypes.POINTER(FeatureMapArgs), ctypes.POINTER(c_i64)]),
    "fw_feature_map": (c_i32, [ctypes.POINTER(FeatureMapArgs)]),
    "fw_feature_map_backward": (c_i32, [ctypes.POINTER(FeatureMapArgs)]),
    "fw_favor_plus_projection": (c_i32, [c_i64, c_i64, c_u64, c_ptr]),
}
for _name, (_res, _args) in _sigs.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


class FastweightsError(RuntimeError):
    """A call returned a non-zero fw_status; .status holds the code."""

    def __init__(self, status, where):
        self.status = status
        text = lib.fw_status_string(status).decode()
        super().__init__(f"{where}: {text} (status {status})")


def check(status, where):
    if status != 0:
        raise FastweightsError(status, where)


def _read_ops():
    """{name: (fw_op value, OpInfo)} from the library's op registry."""
    ops = {}
    for i in range(lib.fw_op_count()):
        info = OpInfo()
        info.struct_size = ctypes.sizeof(OpInfo)
        check(lib.fw_op_get_info(i, ctypes.byref(info)), "fw_op_get_info")
        ops[info.name.decode()] = (i, info)
    return ops


OPS = _read_ops()
