/*
 * The host benchmarks' method (see bench.h): repetitions and their statistics, the
 * pinned main/helper pair, the table rows and the summary lines. Host-only; uses
 * pthreads and getrusage, nothing of the kernel.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <keel/check.h>
#include <keel/compiler.h>

#include "bench.h"

unsigned bench_cpu[2];

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Involuntary context switches of the calling thread so far. */
static long bench_thread_preemptions(void)
{
	struct rusage ru;

	CHECK(getrusage(RUSAGE_THREAD, &ru) == 0);
	return ru.ru_nivcsw;
}

static void bench_pin(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK(pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0);
}

/*
 * The pair. [m] bench_mu  [a] atomic accesses only  [h] written by the helper before it
 * publishes bench_done, read by main after it saw that.
 */
static pthread_mutex_t bench_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bench_cv = PTHREAD_COND_INITIALIZER;
static void (*bench_job_fn)(void *arg, unsigned who); /* [m] */
static void *bench_job_arg;			      /* [m] */
static uint64_t bench_job_seq;			      /* [m] jobs posted */
static uint64_t bench_arrived, bench_go, bench_done;  /* [a] job numbers */
static double bench_helper_end;			      /* [h] */
static long bench_helper_preempted;		      /* [a] helper's count after its last job */
static bool bench_have_helper;

static void *bench_helper(void *unused)
{
	uint64_t seen = 0;

	(void)unused;
	bench_pin(bench_cpu[1]);
	for (;;) {
		void (*fn)(void *, unsigned);
		void *arg;

		pthread_mutex_lock(&bench_mu);
		while (bench_job_seq == seen)
			pthread_cond_wait(&bench_cv, &bench_mu);
		seen = bench_job_seq;
		fn = bench_job_fn;
		arg = bench_job_arg;
		pthread_mutex_unlock(&bench_mu);
		__atomic_store_n(&bench_arrived, seen, __ATOMIC_RELEASE);
		while (__atomic_load_n(&bench_go, __ATOMIC_ACQUIRE) != seen)
			__builtin_ia32_pause();
		fn(arg, 1);
		bench_helper_end = bench_now_ns();
		__atomic_store_n(&bench_helper_preempted, bench_thread_preemptions(),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&bench_done, seen, __ATOMIC_RELEASE);
	}
	return NULL;
}

unsigned bench_init(void)
{
	cpu_set_t set;
	unsigned found = 0;
	pthread_t th;

	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
	for (unsigned cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			bench_cpu[found++] = cpu;
	CHECK(found > 0);
	bench_pin(bench_cpu[0]);
	if (found < 2)
		return 1;
	CHECK(pthread_create(&th, NULL, bench_helper, NULL) == 0);
	CHECK(pthread_detach(th) == 0);
	bench_have_helper = true;
	return 2;
}

double bench_pair_run(void (*fn)(void *arg, unsigned who), void *arg)
{
	uint64_t seq;
	double t0, end;

	CHECK(bench_have_helper);
	pthread_mutex_lock(&bench_mu);
	bench_job_fn = fn;
	bench_job_arg = arg;
	seq = ++bench_job_seq;
	pthread_cond_signal(&bench_cv);
	pthread_mutex_unlock(&bench_mu);
	while (__atomic_load_n(&bench_arrived, __ATOMIC_ACQUIRE) != seq)
		__builtin_ia32_pause(); /* the helper's wake-up is not part of the time */
	t0 = bench_now_ns();
	__atomic_store_n(&bench_go, seq, __ATOMIC_RELEASE);
	fn(arg, 0);
	end = bench_now_ns();
	while (__atomic_load_n(&bench_done, __ATOMIC_ACQUIRE) != seq)
		__builtin_ia32_pause();
	return MAX(end, bench_helper_end) - t0;
}

/* Preemptions of main and (as of its last job) the helper. */
static long bench_preemptions(void)
{
	return bench_thread_preemptions() +
	       __atomic_load_n(&bench_helper_preempted, __ATOMIC_RELAXED);
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void bench_stat_of(struct bench_stat *s, double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), bench_cmp);
	s->min = v[0];
	s->max = v[n - 1];
	s->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s->spread = s->median > 0 ? (s->max - s->min) / s->median : 0;
}

void bench_measure(struct bench_stat *s, unsigned count, bench_fn *fn, void *arg)
{
	double out[BENCH_OUT_MAX], v[BENCH_OUT_MAX][BENCH_REPS];
	unsigned n = 0, redone = 0, dirty = 0;

	CHECK(count > 0 && count <= BENCH_OUT_MAX);
	for (unsigned w = 0; w < BENCH_WARMUP; w++)
		fn(arg, out);
	while (n < BENCH_REPS) {
		long before = bench_preemptions();

		fn(arg, out);
		if (bench_preemptions() != before) {
			if (redone < BENCH_REDO_MAX) {
				redone++;
				continue;
			}
			dirty++;
		}
		for (unsigned i = 0; i < count; i++)
			v[i][n] = out[i];
		n++;
	}
	for (unsigned i = 0; i < count; i++) {
		bench_stat_of(&s[i], v[i], n);
		s[i].redone = redone;
		s[i].dirty = dirty;
	}
}

#define BENCH_ROWS_MAX 64

static struct {
	char name[32], unit[12];
	struct bench_stat s;
} bench_rows[BENCH_ROWS_MAX];
static unsigned bench_row_count;

void bench_print_method(const char *what)
{
	char load[64] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (!fgets(load, sizeof(load), f))
			strcpy(load, "?");
		load[strcspn(load, "\n")] = 0;
		fclose(f);
	}
	printf("# %s\n", what);
	printf("# method: each figure is the min and median of %d timed repetitions after %d "
	       "warm-ups; spread = (max - min) / median.\n",
	       BENCH_REPS, BENCH_WARMUP);
	printf("# A repetition in which a measuring thread was preempted (involuntary context "
	       "switch) is measured again (redo: up to %d per figure; dirty: kept anyway).\n",
	       BENCH_REDO_MAX);
	printf("# Main thread pinned to CPU %u, helper thread to CPU %u. Load average now: %s\n",
	       bench_cpu[0], bench_cpu[1], load);
	printf("%-22s %-8s %10s %10s %7s %5s  %s\n", "figure", "unit", "min", "median", "spread",
	       "redo", "vs baselines (median / median)");
}

void bench_row(const char *name, const char *unit, const struct bench_stat *s, const char *extra)
{
	printf("%-22s %-8s %10.4g %10.4g %6.1f%% %5u%s  %s\n", name, unit, s->min, s->median,
	       s->spread * 100, s->redone, s->dirty ? "!" : " ", extra ? extra : "");
	if (bench_row_count < BENCH_ROWS_MAX) {
		snprintf(bench_rows[bench_row_count].name, sizeof(bench_rows[0].name), "%s", name);
		snprintf(bench_rows[bench_row_count].unit, sizeof(bench_rows[0].unit), "%s", unit);
		bench_rows[bench_row_count++].s = *s;
	}
}

void bench_summary(void)
{
	for (unsigned i = 0; i < bench_row_count; i++) {
		const struct bench_stat *s = &bench_rows[i].s;

		printf("BENCH %s %s min=%.6g median=%.6g spread=%.1f%% reps=%d redone=%u "
		       "dirty=%u\n",
		       bench_rows[i].name, bench_rows[i].unit, s->min, s->median, s->spread * 100,
		       BENCH_REPS, s->redone, s->dirty);
	}
}

void bench_prefault(void *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += 4096)
		((volatile uint8_t *)p)[off] = 0;
}

void bench_evict(const void *p, uint64_t len)
{
	const uint8_t *c = p;

	for (uint64_t off = 0; off < len; off += 64)
		__asm__ __volatile__("clflush %0" ::"m"(c[off]));
	__asm__ __volatile__("mfence" ::: "memory");
}
