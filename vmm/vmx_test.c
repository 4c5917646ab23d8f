/* Kernel tests of vmm/ that need no guest image; VMX-only parts skip without VMX. */
#include <keel/errno.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <uapi/keel_hypercall.h>

#include "exit.h"
#include "hypercall.h"
#include "report.h"

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
		EXIT_EXCEPTION_NMI, EXIT_EXT_INTR,	EXIT_TRIPLE_FAULT,
		EXIT_INTR_WINDOW,   EXIT_CPUID,		EXIT_HLT,
		EXIT_VMCALL,	    EXIT_CR_ACCESS,	EXIT_IO,
		EXIT_RDMSR,	    EXIT_WRMSR,		EXIT_EPT_VIOLATION,
		EXIT_EPT_MISCONFIG, EXIT_PREEMPT_TIMER, EXIT_XSETBV,
		EXIT_MTF,
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

/* Parses s (copied: the parser writes into it); returns the result, *why on error. */
static int parse(const char *s, struct guest_desc *d, const char **why)
{
	char buf[256];
	memcpy(buf, s, strlen(s) + 1);
	*why = "";
	return guest_desc_parse(buf, d, why);
}

KTEST(guest_desc_parses_every_key)
{
	struct guest_desc d;
	const char *why;
	KT_ASSERT_EQ(parse("g1,image=m,mem=8M,vcpus=3,mode=real,arg=0x10,limit=250,"
			   "populate=eager",
			   &d, &why),
		     0);
	KT_ASSERT(!strcmp(d.name, "g1") && !strcmp(d.image, "m"));
	KT_ASSERT_EQ(d.mem, MiB(8));
	KT_ASSERT_EQ(d.vcpus, 3);
	KT_ASSERT_EQ(d.mode, GUEST_MODE_REAL);
	KT_ASSERT_EQ(d.arg, 16);
	KT_ASSERT_EQ(d.limit_ms, 250);
	KT_ASSERT(d.eager);
	KT_ASSERT_EQ(parse("g2,image=m", &d, &why), 0); /* defaults */
	KT_ASSERT_EQ(d.mem, MiB(4));
	KT_ASSERT_EQ(d.vcpus, 1);
	KT_ASSERT_EQ(d.mode, -1); /* decided by the image */
	KT_ASSERT(!d.eager && !d.limit_ms && !d.arg);
}

/* Every malformed description is refused with a reason, never half-accepted. */
KTEST(guest_desc_refuses_bad_descriptions)
{
	static const char *const bad[] = {
		"",
		"image=m",
		"g",
		"averyveryverylongguestname1,image=m",
		"g,image=m,mem=3M",
		"g,image=m,mem=2G",
		"g,image=m,mem=4X",
		"g,image=m,vcpus=0",
		"g,image=m,vcpus=9",
		"g,image=m,mode=16",
		"g,image=m,arg=12z",
		"g,image=m,arg=0x",
		"g,image=m,arg=99999999999999999999",
		"g,image=m,limit=",
		"g,image=m,populate=lazy",
		"g,image=m,hooks=2",
		"g,image=m,colour=red",
		"g,image=m,noequals",
		"g,image=,mem=4M",
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		struct guest_desc d;
		const char *why;
		KT_ASSERT_EQ(parse(bad[i], &d, &why), (uint64_t)-EINVAL);
		KT_ASSERT(why && why[0]);
	}
}

KTEST(guest_desc_parses_expect)
{
	struct guest_desc d;
	const char *why;
	KT_ASSERT_EQ(parse("g,image=m", &d, &why), 0);
	KT_ASSERT(d.expect.kind == GUEST_EXPECT_EXIT && d.expect.status == 0);
	KT_ASSERT_EQ(parse("g,image=m,expect=exit:33", &d, &why), 0);
	KT_ASSERT(d.expect.kind == GUEST_EXPECT_EXIT && d.expect.status == 33);
	KT_ASSERT_EQ(parse("g,image=m,expect=killed", &d, &why), 0);
	KT_ASSERT(d.expect.kind == GUEST_EXPECT_KILLED && !d.expect.words[0]);
	KT_ASSERT_EQ(parse("g,image=m,expect=killed:triple-fault", &d, &why), 0);
	KT_ASSERT(!strcmp(d.expect.words, "triple fault"));
	static const char *const bad[] = {
		"g,image=m,expect=",
		"g,image=m,expect=exited",
		"g,image=m,expect=exit:x",
		"g,image=m,expect=killed:",
		"g,image=m,expect=killed:a_b",
		"g,image=m,expect=killed:0123456789012345678901234567890123"
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		KT_ASSERT_EQ(parse(bad[i], &d, &why), (uint64_t)-EINVAL);
}

/* A guest that ended, judged against what its description expects (prints a line). */
static bool judge(enum guest_state st, int64_t status, const char *reason, const char *expect,
		  unsigned not_ok)
{
	static struct guest g;
	struct guest_desc d;
	const char *why;
	char desc[96];
	snprintf(desc, sizeof(desc), "verdict,image=m%s%s", expect[0] ? ",expect=" : "", expect);
	memset(&g, 0, sizeof(g));
	CHECK(parse(desc, &d, &why) == 0);
	guest_init(&g, &d);
	g.state = st;
	g.status = status;
	snprintf(g.reason, sizeof(g.reason), "%s", reason);
	g.tap_ok = 3;
	g.tap_not_ok = not_ok;
	return report_verdict(&g);
}

KTEST(guest_verdict_follows_expect_and_tap_results)
{
	KT_ASSERT(judge(GUEST_EXITED, 0, "", "", 0));
	KT_ASSERT(!judge(GUEST_EXITED, 1, "", "", 0)); /* wrong status */
	KT_ASSERT(!judge(GUEST_EXITED, 0, "", "", 1)); /* a TAP not ok */
	KT_ASSERT(judge(GUEST_EXITED, 7, "", "exit:7", 0));
	KT_ASSERT(!judge(GUEST_KILLED, 0, "triple fault at RIP 0x1", "", 0)); /* not expected */
	KT_ASSERT(judge(GUEST_KILLED, 0, "triple fault at RIP 0x1", "killed", 0));
	KT_ASSERT(judge(GUEST_KILLED, 0, "triple fault at RIP 0x1", "killed:triple-fault", 0));
	KT_ASSERT(!judge(GUEST_KILLED, 0, "time limit of 3 ms reached", "killed:triple-fault", 0));
	KT_ASSERT(!judge(GUEST_EXITED, 0, "", "killed", 0)); /* expected to be killed */
}

/* Every hypercall number of the ABI has a handler and a name in the table, and its
 * `buffers` flag (which sends the VMCALL through the pinning step) says whether it has
 * a buffer argument. */
KTEST(hypercall_table_covers_every_number)
{
	for (unsigned nr = 0; nr < KEEL_HC_COUNT; nr++) {
		const struct hypercall *h = &hypercalls[nr];
		KT_ASSERT(h->fn != NULL);
		KT_ASSERT(h->name && h->name[0]);
		bool buffers = false;
		for (unsigned i = 0; i < h->arg_count; i++)
			buffers |= h->arg[i].kind == HC_ARG_IN || h->arg[i].kind == HC_ARG_OUT;
		KT_ASSERT(h->buffers == buffers);
		KT_ASSERT(h->full_step == (buffers || h->resume || h->retry_busy));
	}
	KT_ASSERT(hypercalls[KEEL_HC_CONSOLE_WRITE].buffers);
	KT_ASSERT(!hypercalls[KEEL_HC_NOP].buffers);
	KT_ASSERT(hypercalls[KEEL_HC_MEM_RELEASE].retry_busy);
	KT_ASSERT(!hypercalls[KEEL_HC_CONSOLE_WRITE].retry_busy);
}
