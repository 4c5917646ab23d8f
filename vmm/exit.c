/*
 * The exit dispatcher and its table of handlers, indexed by basic exit reason (SDM Vol
 * 3D appendix C). Exit qualifications: SDM Vol 3C 28.2.1. A guest's misbehaviour
 * injects a fault or ends that guest; never a panic.
 */
#include "exit.h"
#include "exit_handlers.h"
#include "vcpu.h"

const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT] = {
	[EXIT_EXCEPTION_NMI] = exit_exception_nmi,
	[EXIT_EXT_INTR] = exit_ext_intr,
	[EXIT_TRIPLE_FAULT] = exit_triple_fault,
	[EXIT_CPUID] = exit_cpuid,
	[EXIT_INTR_WINDOW] = exit_intr_window,
	[EXIT_HLT] = exit_hlt,
	[EXIT_VMCALL] = exit_vmcall,
	[EXIT_CR_ACCESS] = exit_cr_access,
	[EXIT_IO] = exit_io,
	[EXIT_RDMSR] = exit_rdmsr,
	[EXIT_WRMSR] = exit_wrmsr,
	[EXIT_EPT_VIOLATION] = exit_ept_violation,
	[EXIT_EPT_MISCONFIG] = exit_ept_misconfig,
	[EXIT_PREEMPT_TIMER] = exit_preempt_timer,
	[EXIT_XSETBV] = exit_xsetbv,
	[EXIT_MTF] = exit_mtf,
};

/* Decodes a failed VMLAUNCH/VMRESUME (SDM Vol 3C 31.2, 31.4). */
void vmx_entry_failed(struct vcpu *v, int rc)
{
	if (rc == 1) {
		guest_kill(v->guest, "VM entry failed: VMfailInvalid (no current VMCS)");
		return;
	}
	uint32_t e = (uint32_t)vmread(VMCS_INSN_ERROR);
	guest_kill(v->guest, "VM entry failed: VM-instruction error %u: %s", e,
		   vmx_insn_error_str(e));
}

/* Reads what every handler needs of the exit and counts it. */
static void exit_record(struct vcpu *v, uint32_t basic)
{
	v->exit_qual = vmread(VMCS_EXIT_QUAL);
	v->rip = vmread(VMCS_GUEST_RIP);
	v->insn_len = vmread(VMCS_EXIT_INSN_LEN);
	v->exit_total++;
	if (basic < EXIT_REASON_COUNT)
		v->exit_count[basic]++;
}

enum exit_action vmx_exit_dispatch(struct vcpu *v)
{
	struct guest *g = v->guest;
	uint32_t reason = (uint32_t)vmread(VMCS_EXIT_REASON);
	uint32_t basic = reason & 0xFFFF;
	exit_record(v, basic);
	vcpu_redeliver(v);
	if (reason & EXIT_REASON_ENTRY_FAIL) /* 27.8: entry failed loading guest state */
		return guest_kill(g, "VM entry failed: exit reason %u (%s), qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic),
				  (unsigned long long)v->exit_qual);
	exit_handler_fn h = basic < EXIT_REASON_COUNT ? vmx_exit_handlers[basic] : NULL;
	if (!h)
		return guest_kill(g, "unhandled exit %u (%s) at RIP 0x%llx, qualification 0x%llx",
				  basic, vmx_exit_reason_str(basic), (unsigned long long)v->rip,
				  (unsigned long long)v->exit_qual);
	return h(v);
}
