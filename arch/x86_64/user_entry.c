/*
 * The x86 side of user mode: traps from ring 3 (exceptions become a page fault for the
 * process's space or the end of the process; interrupts return through user_return),
 * the SYSCALL handler (rax = number, rdi, rsi, rdx = arguments, the result in rax;
 * SDM Vol 2B SYSCALL), the IRETQ #GP of a bad return, and the first entry into user
 * mode. Never panics for anything a user program does.
 */
#include <arch/cpu.h>
#include <arch/thread.h>
#include <arch/x86.h>
#include <keel/check.h>
#include <keel/user.h>
#include <mm/vm_space.h>

/* The top page of the lower half stays unmapped: a SYSCALL at its very end would give
 * SYSRET a non-canonical RIP. */
#define USER_TOP 0x00007FFFFFFFF000ull

/* RFLAGS a user thread may keep: CF PF AF ZF SF TF DF OF AC ID and bit 1 (always 1). */
#define USER_RFLAGS 0x254DD7ull

extern const char trap_iretq[];
__noreturn void arch_user_enter(struct trap_frame *tf);
void syscall_handler(struct trap_frame *tf);

uint64_t arch_user_top(void)
{
	return USER_TOP;
}

bool trap_from_user(const struct trap_frame *tf)
{
	return (tf->cs & 3) == 3;
}

/* Page-fault error code (SDM Vol 3A 4.7): bit 1 write, bit 4 instruction fetch. */
static unsigned pf_access(uint64_t error)
{
	unsigned access = VM_ACCESS_USER;

	if (error & 2)
		access |= VM_ACCESS_WRITE;
	else if (error & 16)
		access |= VM_ACCESS_EXEC;
	else
		access |= VM_ACCESS_READ;
	return access;
}

/* An exception in ring 3 (not NMI, #DF, #MC): resolved, or the end of the process. */
void trap_user_exception(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;

	if (v == 14) {
		uint64_t cr2 = read_cr2(); /* before interrupts: another fault would change it */
		int rc;

		sti();
		rc = user_page_fault(VA(cr2), pf_access(tf->error));
		if (rc)
			user_kill("page fault at 0x%llx (%s) at rip 0x%llx: %s%s",
				  (unsigned long long)cr2,
				  tf->error & 16  ? "instruction fetch"
				  : tf->error & 2 ? "write"
						  : "read",
				  (unsigned long long)tf->rip,
				  rc == -ENOMEM ? "out of memory" : "no mapping",
				  user_fault_where(VA(cr2)));
	} else {
		sti();
		user_kill("%s (vector %u, error 0x%llx) at rip 0x%llx", trap_vector_name(v), v,
			  (unsigned long long)tf->error, (unsigned long long)tf->rip);
	}
	user_return();
}

/* A #GP raised by trap_exit's IRETQ itself: the frame it was returning through is a
 * user thread's, with a RIP the CPU refuses (non-canonical). */
bool trap_is_bad_user_return(const struct trap_frame *tf)
{
	return tf->vector == 13 && tf->rip == (uint64_t)trap_iretq && (tf->cs & 3) == 0 &&
	       user_thread_is_current();
}

void syscall_handler(struct trap_frame *tf)
{
	const uint64_t arg[USER_ARG_MAX] = { tf->rdi, tf->rsi, tf->rdx };

	tf->rax = (uint64_t)user_syscall(tf->rax, arg);
	tf->rflags = (tf->rflags & USER_RFLAGS) | RFLAGS_IF | 2;
	user_return();
}

__noreturn void arch_user_start(uint64_t rip, uint64_t rsp, uint64_t arg0, uint64_t arg1)
{
	struct thread *self = sched_self();
	struct trap_frame *tf = (struct trap_frame *)(arch_thread_stack_top(self) - sizeof(*tf));

	CHECK(self->arch); /* arch_thread_user_init ran: FPU state, kernel stack in RSP0 */
	*tf = (struct trap_frame){
		.gs_swapped = 1,
		.rdi = arg0,
		.rsi = arg1,
		.vector = VEC_SYSCALL,
		.rip = rip,
		.cs = SEL_UCODE,
		.rflags = RFLAGS_IF | 2,
		.rsp = rsp,
		.ss = SEL_UDATA,
	};
	cli();
	this_cpu()->tss.rsp[0] = arch_thread_stack_top(self);
	this_cpu()->syscall_rsp = this_cpu()->tss.rsp[0];
	__asm__ __volatile__("fxrstor64 %0" ::"m"(self->arch->fx));
	arch_user_enter(tf);
}
