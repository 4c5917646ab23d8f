/*
 * Debug exits: #BP (intercepted through the exception bitmap while a guest is debugged),
 * #DB (while gdb single-steps by RFLAGS.TF) and the monitor-trap-flag exit of a step. A #BP at one of gdb's breakpoints
 * stops the vCPU there (RIP stays on the INT3); any other is the guest's own and is
 * delivered to it as the CPU would have. Exception exits: SDM Vol 3C 28.2.2 (RIP of a
 * software exception exit points at the INT3, its length is in the exit instruction
 * length); injecting a software exception: 25.8.3, 26.6.1.
 */
#include "exit_handlers.h"
#include "gdb/gdb.h"
#include "vcpu.h"
#include "vcpu_state.h"

#define VEC_DB 1
#define DR6_FROM_QUAL 0x600Full /* B0-B3, BD, BS (28.2.1 table 28-1) */
#define VEC_BP 3
#define TYPE_SW_EXCEPTION 6

enum exit_action exit_debug_bp(struct vcpu *v)
{
	uint64_t la = vmread(VMCS_GUEST_ES_BASE + 2 * VSEG_CS) + v->rip;
	if (gdb_breakpoint_hit(v, la))
		return EXIT_RESUME; /* gdb_before_entry parks it before the next entry */
	(void)vmwrite(VMCS_ENTRY_INTR_INFO, VEC_BP | (TYPE_SW_EXCEPTION << 8) | (1u << 31));
	(void)vmwrite(VMCS_ENTRY_INSN_LEN, v->insn_len);
	return EXIT_RESUME;
}

/* #DB: exits only while gdb steps by TF (the bitmap's bit 1). DR6 is not written by a
 * #DB that exits (27.1); the exit qualification holds its bits (28.2.1). */
enum exit_action exit_debug_db(struct vcpu *v)
{
	if (gdb_debug_trap(v, v->exit_qual))
		return EXIT_RESUME;
	/* The guest's own (its TF, its DR7): DR6 as the CPU would have left it (17.2.3:
	 * reserved bits set; B0-B3, BD, BS from the qualification), then the #DB. DR6 is
	 * not switched between host and guest: Keel does not use it. */
	uint64_t dr6 = 0xFFFF0FF0ull | (v->exit_qual & DR6_FROM_QUAL);
	__asm__ __volatile__("mov %0, %%dr6" ::"r"(dr6));
	vcpu_inject(v, VEC_DB, false, 0);
	return EXIT_RESUME;
}

enum exit_action exit_mtf(struct vcpu *v)
{
	gdb_step_done(v);
	return EXIT_RESUME;
}
