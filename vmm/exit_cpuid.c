/*
 * CPUID exits (unconditional in VMX non-root operation, SDM Vol 3C 26.1.2): the host's
 * answer, turned into this vCPU's by the filter table (cpuid_table.c) with what varies
 * per vCPU: its APIC ID, the guest's CR4 (OSXSAVE, OSPKE), the XCR0 components Keel
 * lets it enable and the XSAVE area sizes they need.
 */
#include "cpu_model.h"
#include "dev/vlapic.h"
#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"
#include "xstate.h"

/* Size of an XSAVE area for the components in xcr0 (CPUID.(0xD,0):EBX, SDM Vol 1
 * 13.4.3): the legacy area and header (576 bytes), or the end of the highest enabled
 * component (its offset and size, CPUID.(0xD,i):EBX and EAX). */
static uint32_t xsave_size(uint64_t xcr0)
{
	uint32_t size = 576, a, b, c, d;
	for (unsigned i = 2; i < 64; i++) {
		if (!((xcr0 >> i) & 1))
			continue;
		cpuid(0xD, i, &a, &b, &c, &d);
		if (a + b > size)
			size = a + b;
	}
	return size;
}

/* The guest's answer to a leaf the filter changes. */
static void filtered(struct vcpu *v, uint32_t leaf, uint32_t sub, struct cpuid_regs *r)
{
	struct cpuid_ctx ctx = {
		.apic_id = v->index,
		.vcpu_count = v->guest->vcpu_count,
		.cr4 = vmcs_cr4_read(),
		.x2apic = vlapic_x2apic_offered(), /* the local APIC (dev/vlapic.c) */
		.tsc_deadline = true,		   /* IA32_TSC_DEADLINE: dev/vlapic.c */
		.rdtscp = (vmx_caps.proc2 & PROC2_RDTSCP) != 0,
		.pat = vmcs_pat_virtualised(),
		.xcr0_ok = vcpu_xcr0_supported(),
	};
	cpu_model_cpuid(leaf, sub, &ctx, r);
	if (leaf == 0xD && sub == 0) {
		r->b = xsave_size(v->xcr0);
		r->c = xsave_size(ctx.xcr0_ok);
	}
}

enum exit_action exit_cpuid(struct vcpu *v)
{
	struct vcpu_regs *regs = &v->regs;
	uint32_t leaf = (uint32_t)regs->rax, sub = (uint32_t)regs->rcx;
	struct cpuid_regs r;
	cpuid(leaf, sub, &r.a, &r.b, &r.c, &r.d);
	if (!cpu_model_cpuid_is_plain(leaf))
		filtered(v, leaf, sub, &r);
	regs->rax = r.a;
	regs->rbx = r.b;
	regs->rcx = r.c;
	regs->rdx = r.d;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
