/*
 * Fake arch and kernel services for host tests of kernel/frame.c (and kernel/heap.c).
 * "Physical" memory is a host arena: physical [FAKE_PHYS_BASE, FAKE_PHYS_BASE + size)
 * lives at arena + (pa - FAKE_PHYS_BASE). Physical addresses are never host pointers,
 * and touching physical memory outside the arena aborts the test, so an allocator
 * that writes below 1 MiB or above the direct map is caught.
 */
#include "frame_fake.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <keel/arch.h>
#include <keel/check.h>
#include <keel/printk.h>

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uint8_t *arena;
static uint64_t arena_size;
bool fake_quiet = true;
static __thread unsigned fake_cpu; /* each test thread plays one CPU */

void fake_set_cpu(unsigned cpu)
{
	fake_cpu = cpu;
}

void fake_arena_init(uint64_t size)
{
	arena = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		perror("mmap arena");
		exit(2);
	}
	arena_size = size;
}

/* Gives the touched arena pages back to the host (contents become zero). */
void fake_arena_discard(void)
{
	madvise(arena, arena_size, MADV_DONTNEED);
}

void *arch_pa_to_kva(paddr_t pa)
{
	if (pa.v < FAKE_PHYS_BASE || pa.v - FAKE_PHYS_BASE >= arena_size) {
		fprintf(stderr, "fake arch: pa 0x%llx outside the fake physical arena\n",
			(unsigned long long)pa.v);
		abort();
	}
	return arena + (pa.v - FAKE_PHYS_BASE);
}

paddr_t arch_kva_to_pa(const void *kva)
{
	const uint8_t *p = kva;

	if (p < arena || (uint64_t)(p - arena) >= arena_size) {
		fprintf(stderr, "fake arch: kva %p is not in the fake direct map\n", kva);
		abort();
	}
	return PA(FAKE_PHYS_BASE + (uint64_t)(p - arena));
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
	sched_yield(); /* the lock holder may be a descheduled thread */
}

unsigned arch_cpu_id(void)
{
	return fake_cpu;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "PANIC at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void vprintk(const char *fmt, va_list ap)
{
	if (fmt[0] == '\001' && fmt[1])
		fmt += 2; /* level prefix */
	if (!fake_quiet)
		vfprintf(stderr, fmt, ap);
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

/* Runs fn in a forked child; true if it ended by abort() (a CHECK/panic). */
bool fake_child_panics(void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}
