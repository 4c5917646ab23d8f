/* Kernel tests of vmm/ that need no guest image; VMX-only parts skip without VMX. */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/string.h>

#include "guest.h"

/* must-be-1 bits are forced on, optional bits dropped when not allowed. */
KTEST(vmx_ctl_adjust_forces_must1_and_drops_disallowed_optional)
{
	uint64_t cap = (0x0000007Full << 32) | 0x16; /* may-1: bits 0-6; must-1: 1, 2, 4 */
	uint32_t out = 0, missing = 0;
	struct vmx_ctl_req r = { .want = 1u << 0, .opt = (1u << 6) | (1u << 9) };
	KT_ASSERT_EQ(vmx_ctl_adjust(cap, r, &out, &missing), 0);
	KT_ASSERT_EQ(out, 0x16 | 1u | (1u << 6));
	KT_ASSERT_EQ(missing, 0);
}

KTEST(vmx_ctl_adjust_refuses_wanted_bit_not_allowed)
{
	uint64_t cap = (0x0Full << 32) | 0x1;
	uint32_t out, missing;
	struct vmx_ctl_req r = { .want = (1u << 3) | (1u << 5), .opt = 0 };
	KT_ASSERT_EQ(vmx_ctl_adjust(cap, r, &out, &missing), (uint64_t)-ENOTSUP);
	KT_ASSERT_EQ(missing, 1u << 5);
}

/* Sample IA32_VMX_EPT_VPID_CAP values: Bochs tigerlake-like, and a model without WB. */
KTEST(vmx_caps_decode_reads_ept_features)
{
	struct vmx_caps c;
	memset(&c, 0, sizeof(c));
	c.basic = (1ull << 55) | (4096ull << 32) | 4;
	c.misc = 5;
	c.ept_vpid = EPTCAP_WALK4 | EPTCAP_WB | EPTCAP_INVEPT | EPTCAP_AD | EPTCAP_2M;
	KT_ASSERT_EQ(vmx_caps_decode(&c), 0);
	KT_ASSERT(c.ept_ad);
	KT_ASSERT_EQ(c.preempt_shift, 5);
	c.ept_vpid = EPTCAP_WALK4 | EPTCAP_INVEPT; /* no write-back EPT tables */
	KT_ASSERT_EQ(vmx_caps_decode(&c), (uint64_t)-ENOTSUP);
	KT_ASSERT(!strcmp(c.why, "EPT lacks 4-level walks, write-back tables or INVEPT"));
}

KTEST(vmx_error_words_cover_sdm_numbers)
{
	KT_ASSERT(!strcmp(vmx_insn_error_str(7), "VM entry with invalid control field(s)"));
	KT_ASSERT(!strcmp(vmx_insn_error_str(8), "VM entry with invalid host-state field(s)"));
	KT_ASSERT(!strcmp(vmx_insn_error_str(14), "unknown VM-instruction error"));
	KT_ASSERT(!strcmp(vmx_insn_error_str(1000), "unknown VM-instruction error"));
	KT_ASSERT(!strcmp(vmx_exit_reason_str(48), "EPT violation"));
	KT_ASSERT(!strcmp(vmx_exit_reason_str(500), "unknown exit reason"));
}

/* Every reason Keel claims to handle has a handler; everything else is NULL (ends
 * the guest with a reason). */
KTEST(vmx_exit_table_has_no_holes_for_handled_reasons)
{
	static const unsigned handled[] = {
		EXIT_EXT_INTR,	    EXIT_TRIPLE_FAULT,	EXIT_CPUID,
		EXIT_HLT,	    EXIT_VMCALL,	EXIT_IO,
		EXIT_RDMSR,	    EXIT_WRMSR,		EXIT_EPT_VIOLATION,
		EXIT_EPT_MISCONFIG, EXIT_PREEMPT_TIMER,
	};
	unsigned n = 0;
	for (unsigned i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		KT_ASSERT(vmx_exit_handlers[handled[i]] != NULL);
	for (unsigned r = 0; r < EXIT_REASON_COUNT; r++)
		n += vmx_exit_handlers[r] != NULL;
	KT_ASSERT_EQ(n, sizeof(handled) / sizeof(handled[0]));
}

/* Under a VMX CPU: the preflight found what Keel needs and VMXON ran on every CPU. */
KTEST(vmx_is_on_every_cpu_when_available)
{
	if (!vmx_caps.has_vmx)
		KT_SKIP("no VMX on this CPU (QEMU TCG)");
	KT_ASSERT(vmx_caps.usable);
	KT_ASSERT(vmx_caps.proc2 & PROC2_EPT);
	KT_ASSERT_EQ(vmx_enable_all(), smp_cpu_online_count());
	KT_ASSERT(vmx_is_on_this_cpu());
}
