/*
 * User-mode costs in TSC cycles (scripts/ubench.sh boots it, make bench): a null system
 * call round trip (getpid: the entry, the table, the return) and a context switch
 * between two threads of one process on one CPU (a futex ping-pong: each hand-over is
 * a futex_wake, a futex_wait and one switch; the figure is a round trip / 2). Prints
 * "bench: NAME min median" over SAMPLES samples, each the mean of BATCH operations.
 */
#include "keel_user.h"

#define SAMPLES 201
#define BATCH 100
#define PINGS 2000

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* The k-th smallest of v[0, n) (0-based): the value with at most k smaller ones and
 * more than k smaller or equal (n^2 comparisons: a few hundred samples). */
static uint64_t kth(const uint64_t *v, unsigned n, unsigned k)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned below = 0, upto = 0;

		for (unsigned j = 0; j < n; j++) {
			below += v[j] < v[i];
			upto += v[j] <= v[i];
		}
		if (below <= k && k < upto)
			return v[i];
	}
	return 0;
}

static void report(const char *name, const uint64_t *v, unsigned n)
{
	printf("bench: %s %lu %lu\n", name, kth(v, n, 0), kth(v, n, n / 2));
}

static uint64_t samples[SAMPLES];

static void null_syscall(void)
{
	for (unsigned s = 0; s < SAMPLES; s++) {
		uint64_t t0 = rdtsc();

		for (unsigned i = 0; i < BATCH; i++)
			sys_getpid();
		samples[s] = (rdtsc() - t0) / BATCH;
	}
	report("user.syscall_null", samples, SAMPLES);
}

static uint32_t turn; /* [a] 0: main's, 1: the partner's */

static void pass_to(uint32_t who)
{
	__atomic_store_n(&turn, who, __ATOMIC_RELEASE);
	sys_futex_wake((uintptr_t)&turn, 1);
}

static void wait_turn(uint32_t me)
{
	uint32_t t;

	while ((t = __atomic_load_n(&turn, __ATOMIC_ACQUIRE)) != me)
		sys_futex_wait((uintptr_t)&turn, t, 0);
}

static long partner(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < PINGS + SAMPLES * 4; i++) {
		wait_turn(1);
		pass_to(0);
	}
	return 0;
}

/* One CPU only: the two threads take turns on it. */
static void context_switch(void)
{
	long tid = user_thread_start(partner, NULL);
	unsigned n = 0;

	for (unsigned s = 0; s < SAMPLES * 4 && n < SAMPLES; s++) {
		uint64_t t0 = rdtsc();

		pass_to(1);
		wait_turn(0);
		if (s >= SAMPLES * 3) /* the first rounds warm up */
			samples[n++] = (rdtsc() - t0) / 2;
	}
	for (unsigned i = SAMPLES * 4; i < PINGS + SAMPLES * 4; i++) {
		pass_to(1);
		wait_turn(0);
	}
	user_thread_join(tid);
	report("user.switch_futex", samples, n);
}

int main(const char *arg)
{
	(void)arg;
	null_syscall();
	context_switch();
	return 0;
}
