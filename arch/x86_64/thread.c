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

extern const char arch_thread_entry[];

void arch_thread_init(struct thread *t)
{
	uint64_t *sp = (uint64_t *)(t->stack + THREAD_STACK_SIZE);

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

void arch_thread_switch(struct thread *prev, struct thread *next)
{
	struct cpu *c = this_cpu();

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
