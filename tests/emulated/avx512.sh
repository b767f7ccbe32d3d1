#!/usr/bin/env bash
# Runs the AVX-512 backend's tests under Bochs, a full-system emulator whose
# CPU models execute EVEX code (qemu 7.2 cannot). A minimal Linux guest boots
# from a GRUB rescue ISO: Debian's cloud kernel (unpacked, not installed), a
# busybox initramfs holding the native test binary and the shared libraries
# it needs. The guest's init (guest_init.sh) runs the tests and prints to the
# serial port, which Bochs writes to a file that this script reads back.
#
# Exits non-zero if a test fails, if the library did not select avx512 by
# itself, or if the guest never reported. Everything comes from Debian
# packages (scripts/install_deps.sh --test).
#
# Usage: tests/emulated/avx512.sh [build-dir]   (default: build)
# Env:   FW_BOCHS_MODEL  Bochs CPU model (default corei7_skylake_x)
#        FW_BOCHS_FILTER gtest filter run in the guest (default: small shapes)
#        FW_BOCHS_TIMEOUT seconds before giving up (default 1500)
#        FW_BOCHS_KARGS  guest kernel arguments (default: quiet)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work="$root/build-bochs"
model=${FW_BOCHS_MODEL:-corei7_skylake_x}
timeout_s=${FW_BOCHS_TIMEOUT:-1500}
kargs=${FW_BOCHS_KARGS:-quiet}
# Every op, both modes, tails included; the large shapes are left to the
# native and qemu runs because Bochs executes ~60 M instructions/s. No test
# runs two threads: the guest kernel saves only the FXSAVE state across
# context switches (xstate_module/), so two threads of one process would
# clobber each other's zmm registers. The half-precision and feature-map
# backward suites are left out for now: each passes in the guest on its own
# (FW_BOCHS_FILTER='*HalfOperands*avx512*:*FeatureMaps*avx512*', and
# '*FeatureMapBackward*avx512*'), but after the rest of this filter the guest
# went idle mid-run three times out of three and never reported (not
# understood yet: docs/decisions.md); they run natively on AVX-512 CPUs.
filter=${FW_BOCHS_FILTER:-'*avx512*-All/LongSequence.*:*_T1000_*:*_K128_*:*_K256_*:*_K512_*:*_V512_*:*ThreadCount*:*HalfOperands*:*HalfRows*:*FeatureMapBackward*'}

for tool in bochs grub-mkrescue xorriso mformat cpio busybox script; do
  command -v "$tool" > /dev/null || { echo "avx512.sh: $tool missing (scripts/install_deps.sh --test)"; exit 2; }
done
tests_bin="$build/tests/cpp/fastweights_tests"
[ -x "$tests_bin" ] || { echo "avx512.sh: $tests_bin missing (scripts/build.sh)"; exit 2; }

mkdir -p "$work"
cd "$work"

# Kernel: Debian's cloud flavour (it probes far fewer devices, so it boots
# faster), the version whose headers are installed, for the helper module.
kver=$(ls -d /lib/modules/*-cloud-amd64/build 2> /dev/null | sort -V | tail -1 | cut -d/ -f4)
[ -n "$kver" ] || { echo "avx512.sh: linux-headers-cloud-amd64 missing (scripts/install_deps.sh --test)"; exit 2; }
if [ ! -f "kernel/boot/vmlinuz-$kver" ]; then
  rm -rf kernel ./*.deb
  apt-get download "linux-image-$kver" > download.log 2>&1 || { cat download.log; exit 2; }
  mkdir kernel && dpkg-deb -x ./linux-image-*.deb kernel
fi
vmlinuz="kernel/boot/vmlinuz-$kver"

# The guest module that re-enables AVX-512 state (see its source).
rm -rf module && cp -r "$here/xstate_module" module
make -s -C "/lib/modules/$kver/build" M="$work/module" modules > module/build.log 2>&1 ||
  { cat module/build.log; exit 2; }

# Initramfs: busybox, the test binary, and what ldd says it loads.
rm -rf initramfs iso && mkdir -p initramfs/{bin,dev,proc,sys,fw} iso/boot/grub
cp /bin/busybox initramfs/bin/busybox
cp "$here/guest_init.sh" initramfs/init
cp "$tests_bin" module/fw_xstate.ko initramfs/fw/
printf '%s' "$filter" > initramfs/fw/gtest_filter
ldd "$tests_bin" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
  case "$lib" in
    */ld-linux*) mkdir -p "initramfs/$(dirname "$lib")" && cp -L "$lib" "initramfs/$lib" ;;
    *) cp -L "$lib" initramfs/fw/ ;;
  esac
done
(cd initramfs && find . | cpio -o -H newc --quiet | gzip -1) > iso/boot/initrd.gz
cp "$vmlinuz" iso/boot/vmlinuz

# Linux turns XSAVE off on every Bochs 2.7 AVX-512 model ("XSAVE consistency
# problem": CPUID leaf 0xD sizes disagree with its offsets; neither noxsaves
# nor clearcpuid=323 changes that); the guest's init loads fw_xstate.ko to
# turn the AVX-512 state back on before the tests run.
cat > iso/boot/grub/grub.cfg <<EOF
set timeout=0
menuentry fastweights {
  linux /boot/vmlinuz console=ttyS0 panic=-1 rdinit=/init $kargs
  initrd /boot/initrd.gz
}
EOF
grub-mkrescue -o fw.iso iso > /dev/null 2>&1

cat > bochsrc <<EOF
megs: 512
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path=fw.iso, status=inserted
boot: cdrom
cpu: model=$model, count=1
clock: sync=none, time0=local
com1: enabled=1, mode=file, dev=serial.log
display_library: term
log: bochs.log
panic: action=fatal
error: action=report
EOF
echo c > bochs.rc  # Debian's bochs starts in its debugger: continue at once
rm -f serial.log bochs.log

echo "== AVX-512: Bochs ($model), guest boots and runs $(printf '%s' "$filter" | cut -c1-60)..."
start=$(date +%s)
# The term display needs a terminal; script gives it a pty.
script -qfc "bochs -q -f bochsrc -rc bochs.rc" /dev/null > bochs.tty 2>&1 < /dev/null &
bochs_pid=$!
boot_s=
while kill -0 "$bochs_pid" 2> /dev/null; do
  now=$(($(date +%s) - start))
  [ -n "$boot_s" ] || ! grep -q 'FW-GUEST: init' serial.log 2> /dev/null || boot_s=$now
  grep -q 'FW-GUEST: done' serial.log 2> /dev/null && break
  [ "$now" -lt "$timeout_s" ] || { echo "avx512.sh: timed out after ${timeout_s} s"; break; }
  sleep 1
done
sleep 2
pkill -f "bochs -q -f bochsrc" 2> /dev/null || true
wait "$bochs_pid" 2> /dev/null || true
elapsed=$(($(date +%s) - start))
tr -d '\r' < serial.log > serial.txt 2> /dev/null || : > serial.txt
grep -E 'FW-GUEST|tests ran|PASSED|FAILED|SKIPPED|XSAVE' serial.txt || true
# Bochs prefixes each log line with its tick count: one tick per emulated
# instruction, though an idle (HLT) guest advances it too.
ticks=$(tail -1 bochs.log | grep -oE '^[0-9]+' || echo 0)
echo "avx512.sh: boot ${boot_s:-?} s, tests $((elapsed - ${boot_s:-0})) s, wall ${elapsed} s;" \
  "$((10#$ticks / 1000000)) M ticks, $((10#$ticks / 1000000 / (elapsed > 0 ? elapsed : 1))) M/s"

ok=1
grep -q 'FW-GUEST: done' serial.txt || { echo "avx512.sh: the guest never reported"; ok=0; }
grep -q '\[       OK \] BackendSelection.DefaultIsTheExpectedOne' serial.txt ||
  { echo "avx512.sh: avx512 was not the backend selected"; ok=0; }
grep -q 'FW-GUEST: tests rc=0' serial.txt || { echo "avx512.sh: tests failed"; ok=0; }
if grep -q '\[  SKIPPED \]' serial.txt; then echo "avx512.sh: tests were skipped"; ok=0; fi
[ "$ok" = 1 ] && echo "avx512.sh: AVX-512 tests passed under Bochs" && exit 0
echo "avx512.sh: see $work/serial.txt and $work/bochs.log"
exit 1
