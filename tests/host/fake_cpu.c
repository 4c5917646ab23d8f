/* Fake CPUs for the host tests: see fake_cpu.h. */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <keel/check.h>

#include "fake_cpu.h"

static __thread unsigned fake_cpu;
static uint64_t fake_relaxes;

void fake_set_cpu(unsigned cpu)
{
	CHECK(cpu < MAX_CPUS);
	fake_cpu = cpu;
}

unsigned arch_cpu_id(void)
{
	return fake_cpu;
}

unsigned long arch_irq_save(void)
{
	return 0;
}

void arch_irq_restore(unsigned long flags)
{
	(void)flags;
}

bool arch_irqs_enabled(void)
{
	return true;
}

void arch_cpu_relax(void)
{
	__atomic_fetch_add(&fake_relaxes, 1, __ATOMIC_RELAXED);
	sched_yield(); /* host threads may outnumber cores; the holder may be descheduled */
}

uint64_t fake_relax_count(void)
{
	return __atomic_load_n(&fake_relaxes, __ATOMIC_RELAXED);
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "PANIC at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* No preemption on the host: every host thread is its own CPU. */
void arch_preempt_disable(void)
{
}

void arch_preempt_enable(void)
{
}

unsigned arch_preempt_count(void)
{
	return 0;
}
