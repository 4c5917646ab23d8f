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
/* Spin-wait hint (PAUSE). */
void arch_cpu_relax(void);
/* Dense index of the running CPU, 0 .. MAX_CPUS-1. */
unsigned arch_cpu_id(void);

/* Kernel-virtual pointer to physical memory (the direct map). */
void *arch_pa_to_kva(paddr_t pa);
paddr_t arch_kva_to_pa(const void *kva);

#define MAX_CPUS 64

#endif
