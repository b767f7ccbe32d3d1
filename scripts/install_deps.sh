#!/usr/bin/env bash
# Installs what building and testing fastweights needs: Debian's packages,
# and from PyPI ml_dtypes (numpy's bfloat16, for the Python bf16 tests; its
# wheel takes Debian's numpy as it is). Safe to run again; uses sudo when
# not root.
#   install_deps.sh          build + benchmark + native tests
#   install_deps.sh --test   also what scripts/test.sh needs beyond that: the
#                            aarch64 cross compiler and qemu-user, clang with
#                            its sanitizer/fuzzer runtimes, valgrind, libabigail,
#                            and the Bochs guest of tests/emulated/avx512.sh
#                            (Bochs, GRUB rescue-ISO tools, busybox, the cloud
#                            kernel's headers for its helper module)
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
             linux-headers-cloud-amd64)
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
if [ "${1:-}" = "--test" ] && ! python3 -c "import ml_dtypes" 2>/dev/null; then
  echo "installing ml_dtypes from PyPI"
  $SUDO python3 -m pip install -q --break-system-packages --root-user-action=ignore ml_dtypes==0.5.4
fi
