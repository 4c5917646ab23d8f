/*
 * XSETBV exits (unconditional in VMX non-root operation, SDM Vol 3C 26.1.2; exit
 * reason 55). The CPU has already raised #UD (CR4.OSXSAVE clear) and #GP (CPL > 0)
 * before exiting (26.1.1: faults based on privilege level come first), but both are
 * checked again here; ECX must name XCR0, and the value must pass
 * cpu_model_xcr0_check. The new value reaches the CPU before the next entry
 * (xstate.c).
 */
#include "cpu_model.h"
#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"
#include "xstate.h"

enum exit_action exit_xsetbv(struct vcpu *v)
{
	struct cpu_mode m = vmcs_mode_read();
	unsigned cpl = (vmread(VMCS_GUEST_SS_AR) >> 5) & 3; /* SS.DPL (Vol 3A 5.5) */
	uint64_t val = ((v->regs.rdx & 0xFFFFFFFFull) << 32) | (uint32_t)v->regs.rax;
	if (!(m.cr4 & CPU_CR4_OSXSAVE)) {
		vcpu_inject(v, 6, false, 0); /* #UD */
		return EXIT_RESUME;
	}
	if (cpl != 0 || (uint32_t)v->regs.rcx != 0 ||
	    cpu_model_xcr0_check(val, vcpu_xcr0_supported())) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	v->xcr0 = val;
	xstate_note_xcr0(val);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
