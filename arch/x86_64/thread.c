/*
 * The x86 side of threads (include/keel/sched.h): a new thread's first stack frame,
 * and what changes with the running thread: the kernel stack that entries from user
 * mode land on (TSS RSP0 for interrupts, SDM Vol 3A 6.14.2; the SYSCALL entry's own
 * copy) and the FPU/SSE state of user threads (FXSAVE/FXRSTOR, saved eagerly at every
 * switch away from a user thread; the kernel itself is built without SSE).
 */
#include <arch/cpu.h>
#include <arch/thread.h>
#include <arch/x86.h>
#include <keel/check.h>
#include <keel/heap.h>
#include <keel/sched.h>
#include <keel/string.h>
#include <mm/vm_space.h>

extern const char arch_thread_entry[];

/* The top of every thread's stack is kept for the trap frame that takes a user thread
 * into user mode (arch_user_start) and that entries from user mode push: no C frame of
 * the thread may lie there. */
void arch_thread_init(struct thread *t)
{
	uint64_t *sp = (uint64_t *)(t->stack + THREAD_STACK_SIZE - sizeof(struct trap_frame));

	*--sp = (uint64_t)arch_thread_entry; /* arch_context_switch's ret */
	for (int i = 0; i < 6; i++)
		*--sp = 0; /* rbp rbx r12 r13 r14 r15 */
	t->ksp = (uint64_t)sp;
}

uint64_t arch_thread_stack_top(const struct thread *t)
{
	return t->stack ? (uint64_t)t->stack + THREAD_STACK_SIZE
			: (uint64_t)cpus[t->cpu].kstack_top;
}

/*
 * The address space follows the thread: a user thread's space is loaded when it comes
 * in (vm_space_activate: PCID, lazy flush); a kernel thread keeps whatever CR3 holds,
 * with the previous space deactivated (vm_space's flushes and tlb_retire handle a
 * root that stays loaded on a CPU that no longer runs it).
 */
static void thread_switch_space(struct thread *prev, struct thread *next)
{
	if (prev->space == next->space)
		return;
	if (prev->space)
		vm_space_deactivate(prev->space);
	if (next->space)
		vm_space_activate(next->space);
}

void arch_thread_switch(struct thread *prev, struct thread *next)
{
	struct cpu *c = this_cpu();

	thread_switch_space(prev, next);
	if (prev->arch)
		__asm__ __volatile__("fxsave64 %0" : "=m"(prev->arch->fx));
	if (next->arch) {
		__asm__ __volatile__("fxrstor64 %0" ::"m"(next->arch->fx));
		c->tss.rsp[0] = arch_thread_stack_top(next);
		c->syscall_rsp = c->tss.rsp[0];
	}
}

int arch_thread_user_init(struct thread *t)
{
	struct arch_thread_state *a = kzalloc(sizeof(*a));

	if (!a)
		return -ENOMEM;
	CHECK(((uintptr_t)a & 15) == 0); /* FXSAVE area alignment (SDM Vol 1 10.5.1) */
	a->fx.fcw = 0x037F;		 /* FNINIT's control word: all x87 exceptions masked */
	a->fx.mxcsr = 0x1F80;		 /* reset value: all SIMD exceptions masked */
	t->arch = a;
	return 0;
}

void arch_thread_user_fini(struct thread *t)
{
	kfree(t->arch);
	t->arch = NULL;
}
