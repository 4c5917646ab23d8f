/*
 * User processes (kernel/user/): what the arch calls when a user thread traps, makes a
 * system call or is about to return to user mode, and what kmain calls to run the
 * `user=` programs. Nothing here is x86-specific: the arch turns its faults into a
 * linear address and VM_ACCESS_* bits, and its syscall registers into a number and
 * three arguments.
 */
#ifndef KEEL_USER_H
#define KEEL_USER_H

#include <keel/compiler.h>
#include <keel/types.h>

#define USER_ARG_MAX 3 /* syscall arguments: rdi, rsi, rdx on x86-64 */

/* Runs every `user=` program of the command line (all at once) and waits for them;
 * prints each one's verdict. False if any failed (or could not start). */
bool user_run_programs(void);

/* ---- Called by the arch for the running user thread (interrupts enabled) */

/* A page fault at addr with `access` (VM_ACCESS_*, including VM_ACCESS_USER): 0 when the
 * process's space resolved it (demand paging), else a negative errno: the arch then
 * ends the process (user_kill). */
int user_page_fault(vaddr_t addr, unsigned access) __must_check;
/* Words on where addr lies, for a fault's reason (" (stack guard page)"), or "". */
const char *user_fault_where(vaddr_t addr);
/* Ends the running thread's process with the reason (printed once, with the process's
 * name) and this thread at once; the other threads end at their next return to user
 * mode or wait. */
__printf(1, 2) __noreturn void user_kill(const char *fmt, ...);
/* System call nr with its arguments: the result for the return register. */
int64_t user_syscall(uint64_t nr, const uint64_t arg[USER_ARG_MAX]);
/* Before every return to user mode: a thread whose process is ending exits here. */
void user_return(void);
/* True if the running thread is a user thread (the arch checks before user_*). */
bool user_thread_is_current(void);

/* ---- Arch hooks (arch/x86_64/user_entry.c) */

/* Leaves for user mode at rip with stack pointer rsp and the first two argument
 * registers set; interrupts on, fresh FPU state. Never returns. */
__noreturn void arch_user_start(uint64_t rip, uint64_t rsp, uint64_t arg0, uint64_t arg1);
/* The highest user address + 1 that code may run at (the SYSRET hazard: the arch keeps
 * the top page of the lower half unmapped and non-executable for good). */
uint64_t arch_user_top(void);

#endif
