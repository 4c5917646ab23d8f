/*
 * The gdb stub's target side: one guest described with gdb=1 is served to gdb on the
 * debug port (COM2). Its vCPUs are gdb's threads (vCPU i is thread i + 1); it stops
 * before its first instruction and whenever gdb's breakpoint, single step or Ctrl-C
 * stops it, all its vCPUs together (gdb's all-stop mode). A stopped vCPU is parked off
 * the run queue (sched.c), so its CPU runs other guests meanwhile; gdb reads and writes
 * a copy of its state, written back before its next entry.
 *
 * Called by the scheduler (sched.c) and the debug exits (exit_debug.c); calls neither
 * (a parked vCPU goes back to the queue when sched.c sees gdb_vcpu_may_run).
 * Context: the vCPU loop's (interrupts enabled, no spinlock held) unless noted.
 */
#ifndef VMM_GDB_GDB_H
#define VMM_GDB_GDB_H

#include "../guest.h"

/* At the start of the guests: takes g (gdb=1) as the debugged guest, with every vCPU
 * asked to stop before its first instruction. Its time limit is off. Only one guest
 * can be debugged: false (and a warning) for a second one. */
bool gdb_attach(struct guest *g);

/* Serves gdb: reads the debug port, answers, reports stops and the guest's end. Any CPU
 * may call it at any time (one serves, the others return at once); cheap when no
 * guest is debugged. */
void gdb_poll(void);

/*
 * Before each entry of v (its VMCS current, after event injection was set up): writes
 * back what gdb changed, sets the #BP intercept and the monitor trap flag for a step.
 * (Also the bochsbreak=NAME magic breakpoint before a guest's first entry.)
 * True if v must stop now: its state is saved and the caller parks it (takes it off
 * the CPU, then calls gdb_vcpu_parked).
 */
bool gdb_before_entry(struct vcpu *v);
/* v is off its CPU (VMCS cleared) and parked by the scheduler. */
void gdb_vcpu_parked(struct vcpu *v);
/* May the parked v run again (gdb resumed it, or its guest ended)? Callable with the
 * run-queue lock held (reads a flag). */
bool gdb_vcpu_may_run(struct vcpu *v);
/* v retired (its guest ended, or it halted for good). */
void gdb_vcpu_retired(struct vcpu *v);

/* exit_debug.c: a #BP at linear address la; true if it is one of gdb's breakpoints (v
 * stops there), false if the guest's own (to be delivered to it). */
bool gdb_breakpoint_hit(struct vcpu *v, uint64_t la);
/* exit_debug.c: the monitor-trap-flag exit of a step. */
void gdb_step_done(struct vcpu *v);
/* exit_debug.c: a #DB with exit qualification dr6 (DR6 bits, SDM 28.2.1); true if it
 * ends gdb's step by TF (v stops), false if the guest's own (to be delivered). */
bool gdb_debug_trap(struct vcpu *v, uint64_t dr6);

#endif
