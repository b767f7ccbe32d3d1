#!/usr/bin/env bash
# pip wheel . in a scratch directory, then the wheel installed into a fresh
# virtual environment (numpy and ml_dtypes from PyPI) and used from outside
# the source tree: the library it loads is its own, it needs nothing beyond
# glibc, and a scan on its threads matches the float64 reference.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python=${PYTHON:-/usr/bin/python3}  # the tests' interpreter (scripts/test.sh)
"$python" -m pip wheel -q . -w "$tmp/dist" --no-deps
wheel=$(ls "$tmp"/dist/fastweights-*.whl)
echo "built $(basename "$wheel")"
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "$wheel"
lib=$("$tmp/venv/bin/python" -c "import fastweights._lib as l; print(l.lib._name)")
case "$lib" in "$tmp/venv/"*) ;; *) echo "loaded $lib, not the wheel's library"; exit 1 ;; esac
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "needs: $needed"
for n in $needed; do
  case "$n" in libc.so.*|libm.so.*|ld-linux*) ;;
    *) echo "the wheel's library needs $n, which a fresh machine may lack"; exit 1 ;; esac
done
(cd "$tmp" && env -u FASTWEIGHTS_LIBRARY PYTHONPATH="$OLDPWD/tests/python" \
  "$tmp/venv/bin/python" - <<'PY'
import numpy as np
import fastweights as fw
from reference import scan
fw.set_num_threads(2)  # the library's own worker threads, whatever the machine
rng = np.random.default_rng(0)
q, k = rng.standard_normal((2, 2, 50, 2, 16)).astype(np.float32) * 0.3
v = rng.standard_normal((2, 50, 2, 16)).astype(np.float32)
g = -rng.random((2, 50, 2)).astype(np.float32)
beta = rng.random((2, 50, 2)).astype(np.float32)
o, S = fw.chunk_gated_delta_rule(q, k, v, g, beta, output_final_state=True)
ro, rS, _ = scan(q, k, v, g=g, beta=beta)
err = np.abs(o - ro).max() / np.abs(ro).max()
assert err < 1e-5, err
print(f"wheel ok: {fw.version()}, backend {fw.backend()}, {fw.get_num_threads()} threads, "
      f"relative error {err:.1e}")
PY
)
