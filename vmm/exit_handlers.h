/*
 * The exit handlers, one family per file, each the table's entry for its reasons
 * (exit.c): exit_irq.c (interrupts, exceptions, HLT, events), exit_cpuid.c, exit_cr.c,
 * exit_io.c, exit_msr.c, exit_xsetbv.c, exit_ept.c, exit_debug.c (#BP, MTF), hypercall.c (VMCALL). exit_irq.c also owns the
 * two event steps around every entry: vcpu_redeliver (exit.c, after each exit) and
 * vcpu_deliver_events (sched.c, before each entry).
 */
#ifndef VMM_EXIT_HANDLERS_H
#define VMM_EXIT_HANDLERS_H

#include "guest.h"

/* exit_irq.c */
enum exit_action exit_exception_nmi(struct vcpu *v);
enum exit_action exit_ext_intr(struct vcpu *v);
enum exit_action exit_triple_fault(struct vcpu *v);
enum exit_action exit_intr_window(struct vcpu *v);
enum exit_action exit_hlt(struct vcpu *v);
enum exit_action exit_preempt_timer(struct vcpu *v);
/* Re-injects an event whose delivery the exit cut short (IDT-vectoring information). */
void vcpu_redeliver(struct vcpu *v);
/* Before each entry: takes the INIT/SIPI/NMI other vCPUs posted (dev/vlapic.c),
 * turns expired timers into pending interrupts and injects an NMI or the highest
 * interrupt when the guest can take it (else asks for an interrupt-window exit).
 * Returns EXIT_RESUME (enter), EXIT_BLOCK (waits for a SIPI) or EXIT_STOP. */
enum exit_action vcpu_deliver_events(struct vcpu *v, uint64_t now);
/* When v next has a timer interrupt coming (its virtual timer, its LAPIC timer, and on
 * vCPU 0 the PIT's IRQ 0), as a TSC value; 0: none. */
uint64_t vcpu_next_timer(struct vcpu *v);
/* exit_cpuid.c */
enum exit_action exit_cpuid(struct vcpu *v);
/* exit_xsetbv.c */
enum exit_action exit_xsetbv(struct vcpu *v);
/* exit_cr.c */
enum exit_action exit_cr_access(struct vcpu *v);
/* exit_io.c */
enum exit_action exit_io(struct vcpu *v);
/* exit_msr.c */
enum exit_action exit_rdmsr(struct vcpu *v);
enum exit_action exit_wrmsr(struct vcpu *v);
/* exit_ept.c */
enum exit_action exit_ept_violation(struct vcpu *v);
enum exit_action exit_ept_misconfig(struct vcpu *v);
/* exit_debug.c: #BP, #DB (from exit_exception_nmi) and the monitor-trap-flag exit */
enum exit_action exit_debug_bp(struct vcpu *v);
enum exit_action exit_debug_db(struct vcpu *v);
enum exit_action exit_mtf(struct vcpu *v);
/* hypercall.c */
enum exit_action exit_vmcall(struct vcpu *v);

#endif
