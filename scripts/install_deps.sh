#!/usr/bin/env bash
# Installs what building and testing fastweights needs: Debian's packages,
# and for the tests from PyPI, at pinned versions: ml_dtypes (numpy's
# bfloat16; its wheel takes Debian's numpy as it is), torch and transformers
# (fastweights.torch and its transformers tests; torch's wheel pulls about
# 3 GB of CUDA libraries even for CPU use, pip's cache makes a repeat quick).
# Safe to run again; uses sudo when not root.
#   install_deps.sh          build + benchmark + native tests
#   install_deps.sh --test   also what scripts/test.sh needs beyond that: the
#                            aarch64 cross compiler and qemu-user, clang with
#                            its sanitizer/fuzzer runtimes, valgrind, libabigail,
#                            and the Bochs guest of tests/emulated/avx512.sh
#                            (Bochs, GRUB rescue-ISO tools, busybox, the cloud
#                            kernel's headers for its helper module), venv
#                            for the wheel check, and the PyPI packages above
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
  build-essential cmake ninja-build pkg-config binutils
  libxsimd-dev libhwloc-dev libgtest-dev googletest libbenchmark-dev libopenblas-dev
  python3 python3-numpy python3-pytest python3-matplotlib
)
if [ "${1:-}" = "--test" ]; then
  packages+=(g++-aarch64-linux-gnu qemu-user clang libclang-rt-14-dev valgrind abigail-tools
             bochs bochs-term bochsbios vgabios busybox-static cpio grub-pc-bin xorriso mtools
             linux-headers-cloud-amd64 python3-venv python3-pip)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Into the interpreter the tests run (scripts/test.sh): Debian's, or PYTHON.
python=${PYTHON:-/usr/bin/python3}
pypi=(ml_dtypes==0.5.4 torch==2.15.0 transformers==5.23.0)
if [ "${1:-}" = "--test" ] && ! "$python" - "${pypi[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
PY
then
  echo "installing from PyPI: ${pypi[*]}"
  $SUDO "$python" -m pip install -q --break-system-packages --root-user-action=ignore "${pypi[@]}"
fi
