// SPDX-License-Identifier: GPL-2.0
// Guest-only helper for tests/emulated/avx512.sh; never part of the library.
//
// Bochs 2.7 reports XSAVE area sizes in CPUID leaf 0xD that disagree with
// its own component offsets, so Linux's start-up check ("XSAVE consistency
// problem") turns XSAVE off, which leaves CR4.OSXSAVE clear and every AVX
// instruction faulting. This module turns the state back on: CR4.OSXSAVE and
// XCR0 = x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM, as far as CPUID
// offers them. The kernel then still switches only the legacy FXSAVE state;
// that is safe here because the test binary is the guest's only running user
// process on its only CPU, so nothing else touches the wider registers.
#include <linux/module.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>

static int __init fw_xstate_init(void)
{
	u32 eax, ebx, ecx, edx;
	u64 xcr0;

	cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx);
	xcr0 = eax & 0xe7;
	cr4_set_bits(X86_CR4_OSXSAVE);
	asm volatile("xsetbv" : : "a"((u32)xcr0), "d"((u32)(xcr0 >> 32)), "c"(0));
	pr_info("fw_xstate: CR4.OSXSAVE set, XCR0 = %#llx\n", xcr0);
	return 0;
}

static void __exit fw_xstate_exit(void)
{
}

module_init(fw_xstate_init);
module_exit(fw_xstate_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Re-enable AVX-512 register state in the Bochs test guest");
