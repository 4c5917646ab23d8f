/*
 * Hooks that generic code (kernel/, kernel/mm/) calls and each arch implements.
 * The x86-64 kernel implements them in arch/x86_64/; the host unit tests implement
 * them in tests/host/fake_arch.c. Nothing here may expose x86 details.
 */
#ifndef KEEL_ARCH_H
#define KEEL_ARCH_H

#include <keel/types.h>

/* Disables interrupts on this CPU and returns a token for arch_irq_restore. */
unsigned long arch_irq_save(void);
void arch_irq_restore(unsigned long flags);
bool arch_irqs_enabled(void);
/* Enables interrupts on this CPU. */
void arch_irq_enable(void);
/* Spin-wait hint (PAUSE). */
void arch_cpu_relax(void);
/* Dense index of the running CPU, 0 .. MAX_CPUS-1. */
unsigned arch_cpu_id(void);
/*
 * The running CPU's preemption count (include/keel/sched.h): the tick switches threads
 * only where it is 0. Raised by every spinlock holder, epoch section and cross-CPU
 * call; the switch happens with exactly the scheduler's lock counted. One instruction
 * on the CPU's own counter, so it is safe against interrupts; no-ops in the host tests.
 */
void arch_preempt_disable(void);
void arch_preempt_enable(void);
unsigned arch_preempt_count(void);

/* Kernel-virtual pointer to physical memory (the direct map). */
void *arch_pa_to_kva(paddr_t pa);
paddr_t arch_kva_to_pa(const void *kva);

#define MAX_CPUS 64

#endif
