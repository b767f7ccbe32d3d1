#!/usr/bin/env bash
# Installs what building and testing fastweights needs, from Debian's
# packages only. Safe to run again; uses sudo when not root.
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
