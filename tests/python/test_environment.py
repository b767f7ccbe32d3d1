"""Process-wide defaults read from the environment at first use, each checked
in a fresh interpreter."""
import glob
import os
import subprocess
import sys

import pytest

import fastweights as fw

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.join(HERE, "..", "..", "python")


def run_fresh(code, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("FASTWEIGHTS_BACKEND", "FASTWEIGHTS_NUM_THREADS", "OMP_NUM_THREADS")}
    full.update(env)
    full["PYTHONPATH"] = PYTHON_DIR
    r = subprocess.run([sys.executable, "-c", "import fastweights as fw; " + code],
                       env=full, capture_output=True, text=True, check=True)
    return r.stdout.strip(), r.stderr


def physical_cores():
    cores = set()
    for d in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology"):
        try:
            with open(os.path.join(d, "physical_package_id")) as p, \
                 open(os.path.join(d, "core_id")) as c:
                cores.add((p.read().strip(), c.read().strip()))
        except OSError:
            return None
    return len(cores) or None


def test_default_threads_are_physical_cores():
    want = physical_cores()
    if want is None:
        pytest.skip("no CPU topology in /sys")
    assert run_fresh("print(fw.get_num_threads())")[0] == str(want)


def test_thread_env_overrides():
    assert run_fresh("print(fw.get_num_threads())", OMP_NUM_THREADS="5")[0] == "5"
    assert run_fresh("print(fw.get_num_threads())", FASTWEIGHTS_NUM_THREADS="3",
                     OMP_NUM_THREADS="5")[0] == "3"
    assert run_fresh("fw.set_num_threads(2); print(fw.get_num_threads())",
                     FASTWEIGHTS_NUM_THREADS="3")[0] == "2"


def test_backend_env_override():
    best = fw.supported_backends()[-1]  # listed in order scalar, avx2, avx512 / neon
    out, err = run_fresh("print(fw.backend())", FASTWEIGHTS_BACKEND="scalar")
    assert out == "scalar" and err == ""
    for unusable in ("bogus", "neon" if "neon" not in fw.supported_backends() else "avx512"):
        out, err = run_fresh("print(fw.backend())", FASTWEIGHTS_BACKEND=unusable)
        assert out == best and err == "", unusable  # ignored, silently


BUSY_RUN = """
import numpy as np
rng = np.random.default_rng(3)
def inputs(T, H, HV, D):
    q, k = (rng.standard_normal((1, T, H, D)).astype(np.float32) for _ in range(2))
    v = rng.standard_normal((1, T, HV, D)).astype(np.float32)
    beta = rng.uniform(0.1, 0.9, (1, T, HV)).astype(np.float32)
    g = -rng.uniform(0.0, 0.2, (1, T, HV)).astype(np.float32)
    s0 = rng.standard_normal((1, HV, D, D)).astype(np.float32)
    return q, k / np.linalg.norm(k, axis=-1, keepdims=True), v, g, beta, s0
calls = [(fw.fused_recurrent_gated_delta_rule, inputs(1, 16, 32, 64)),
         (fw.chunk_gated_delta_rule, inputs(512, 1, 1, 64)),
         (fw.chunk_gated_delta_rule, inputs(700, 2, 2, 64))]
def run(f, a):
    q, k, v, g, beta, s0 = a
    o, s = f(q, k, v, g=g, beta=beta, initial_state=s0, output_final_state=True)
    return o.tobytes() + s.tobytes()
fw.set_num_threads(1)
want = [run(f, a) for f, a in calls]
fw.set_num_threads(0)
same = all(run(f, a) == w for _ in range(20) for (f, a), w in zip(calls, want))
print(fw.get_num_threads(), same)
"""


def test_busy_competitors_change_no_bit():
    """More busy processes than CPUs, so that the library's workers are
    descheduled mid-item and its calls hold off threading (src/team.cpp):
    the default thread count still gives the one-thread bits."""
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"])
            for _ in range(os.cpu_count() or 2)]
    try:
        out, _ = run_fresh(BUSY_RUN, FASTWEIGHTS_NUM_THREADS="2")
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert out == "2 True"
