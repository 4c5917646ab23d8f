/*
 * CPUID (SDM Vol 2A CPUID): the host's answers, filtered: the hypervisor bit set, VMX
 * hidden (no nested VMX), Keel's own leaf at KEEL_CPUID_LEAF, the rest of the
 * hypervisor range 0x40000000-0x4FFFFFFF empty.
 */
#include <uapi/keel_hypercall.h>

#include "exit_handlers.h"
#include "vcpu.h"

enum exit_action exit_cpuid(struct vcpu *v)
{
	struct vcpu_regs *r = &v->regs;
	uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx, a, b, c, d;
	if (leaf == KEEL_CPUID_LEAF) {
		a = KEEL_CPUID_LEAF;
		b = 0x6C65654B; /* "Keel" */
		c = d = b;
	} else if (leaf >= 0x40000000 && leaf < 0x50000000) {
		a = b = c = d = 0;
	} else {
		cpuid(leaf, sub, &a, &b, &c, &d);
		if (leaf == 1) {
			c |= 1u << 31;	 /* hypervisor present */
			c &= ~(1u << 5); /* no nested VMX */
		}
	}
	r->rax = a;
	r->rbx = b;
	r->rcx = c;
	r->rdx = d;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
