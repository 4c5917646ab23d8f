/*
 * The CPU side of the host tests' fake arches (fake_cpu.c), shared by fake_arch.c (the
 * engine tests' fake memory) and frame_fake.c (the real frame allocator's arena): each
 * test thread plays one CPU, interrupts do not exist, and panic aborts the process.
 */
#ifndef TESTS_HOST_FAKE_CPU_H
#define TESTS_HOST_FAKE_CPU_H

#include <keel/arch.h>

/* Makes the calling thread CPU `cpu` (0 .. MAX_CPUS-1). Every thread starts as CPU 0. */
void fake_set_cpu(unsigned cpu);
/* Times arch_cpu_relax ran (a spin-wait is in progress somewhere). */
uint64_t fake_relax_count(void);

#endif
