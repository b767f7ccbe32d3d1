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
