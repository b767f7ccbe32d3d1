#!/bin/busybox sh
# PID 1 of the Bochs guest (tests/emulated/avx512.sh): runs the AVX-512 tests
# and reports over the serial console, then powers the machine off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "FW-GUEST: init after $(cut -d' ' -f1 /proc/uptime) s of guest time"
# Turn on the AVX-512 state Linux declined (see xstate_module/fw_xstate.c).
insmod /fw/fw_xstate.ko && dmesg | grep 'fw_xstate:'
export LD_LIBRARY_PATH=/fw OMP_NUM_THREADS=1 FW_EXPECT_BACKEND=avx512 GTEST_COLOR=no
# Bochs 2.7 rounds vcvtps2ph's ties away from zero (hardware: to even, as
# the native runs check); the fp16-output checks accept that here only.
export FW_TEST_F16_TIES_AWAY=1
/fw/fastweights_tests --gtest_filter='BackendSelection.*'
echo "FW-GUEST: selection rc=$?"
/fw/fastweights_tests --gtest_brief=1 --gtest_filter="$(cat /fw/gtest_filter)"
echo "FW-GUEST: tests rc=$?"
echo "FW-GUEST: done after $(cut -d' ' -f1 /proc/uptime) s of guest time"
echo o > /proc/sysrq-trigger
sleep 60
