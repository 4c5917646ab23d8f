/*
 * Fake arch and kernel services for host tests of kernel/frame.c (and kernel/heap.c).
 * "Physical" memory is a host arena: physical [FAKE_PHYS_BASE, FAKE_PHYS_BASE + size)
 * lives at arena + (pa - FAKE_PHYS_BASE). Physical addresses are never host pointers,
 * and touching physical memory outside the arena aborts the test, so an allocator
 * that writes below 1 MiB or above the direct map is caught.
 */
#include "frame_fake.h"
#include "fake_cpu.h"
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
#include <string.h>
#include <sys/mman.h>

static uint8_t *arena;
static uint64_t arena_size;
bool fake_quiet = true;

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

char fake_why[256];
uint64_t fake_rng_state = 1;

uint64_t fake_rng_next(void)
{
	fake_rng_state ^= fake_rng_state >> 12;
	fake_rng_state ^= fake_rng_state << 25;
	fake_rng_state ^= fake_rng_state >> 27;
	return fake_rng_state * 0x2545f4914f6cdd1dull;
}

int fake_run_tests(const struct fake_test *tests, size_t count, int argc, char **argv,
		   void (*before_each)(void))
{
	const char *only = NULL;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			fake_quiet = false;
		else
			only = argv[i];
	}
	printf("1..%zu\n", count);
	for (size_t i = 0; i < count; i++) {
		fake_why[0] = 0;
		if (before_each)
			before_each();
		if (only && !strstr(tests[i].name, only)) {
			printf("ok %zu - %s # SKIP not selected\n", i + 1, tests[i].name);
		} else if (tests[i].fn()) {
			printf("ok %zu - %s\n", i + 1, tests[i].name);
		} else {
			printf("not ok %zu - %s # %s\n", i + 1, tests[i].name, fake_why);
			failed++;
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}
