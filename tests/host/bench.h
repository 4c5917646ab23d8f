/*
 * The host benchmarks' method (bench.c): repetition, statistics, CPU placement, a
 * pinned pair of threads, the table and the summary lines. Knows nothing about page
 * tables; bench_pt.c says what is measured.
 *
 * A figure is min, median and spread of BENCH_REPS timed repetitions, after
 * BENCH_WARMUP untimed ones. A repetition during which a measuring thread lost its
 * CPU (an involuntary context switch) measures the scheduler, not the code: it is
 * measured again, up to BENCH_REDO_MAX extra repetitions per figure; past that budget
 * the sample is kept and counted as dirty. Timing is printed, never asserted.
 */
#ifndef KEEL_TESTS_BENCH_H
#define KEEL_TESTS_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_REPS 9
#define BENCH_WARMUP 2
#define BENCH_REDO_MAX (3 * BENCH_REPS)
#define BENCH_OUT_MAX 12 /* figures one repetition may yield */

struct bench_stat {
	double min, median, max;
	double spread;	 /* (max - min) / median */
	unsigned redone; /* preempted repetitions measured again */
	unsigned dirty;	 /* preempted samples kept (redo budget spent) */
};

/* One repetition: writes `count` samples to out[] (same order every time). */
typedef void bench_fn(void *arg, double *out);

/* Monotonic time in ns. */
double bench_now_ns(void);

/*
 * Pins the calling (main) thread to the first CPU it may run on and starts a helper
 * thread pinned to the second, idle (asleep) until bench_pair_run. Returns the number
 * of CPUs used (1: no helper, pair figures cannot be measured). Call once, first.
 */
unsigned bench_init(void);
/* The host CPU numbers main and the helper run on (cpu[1] valid if bench_init gave 2). */
extern unsigned bench_cpu[2];

/*
 * Runs fn(arg, 0) on the main thread and fn(arg, 1) on the helper, released together
 * by a spin barrier after the helper woke up. Returns ns from the release to the
 * later of the two ends.
 */
double bench_pair_run(void (*fn)(void *arg, unsigned who), void *arg);

/* Measures `count` figures from repetitions of fn(arg) into s[0 .. count). */
void bench_measure(struct bench_stat *s, unsigned count, bench_fn *fn, void *arg);

/*
 * Prints one row of the table (and keeps it for bench_summary): the figure's name, its
 * unit, the statistics and `extra` (may be NULL). unit "x" marks higher-is-better.
 */
void bench_row(const char *name, const char *unit, const struct bench_stat *s, const char *extra);
/* Prints the method (with the load average now) as the table's header. */
void bench_print_method(const char *what);
/*
 * Prints one machine-readable line per row printed so far, the format that
 * scripts/bench-compare.sh reads:
 *   BENCH <name> <unit> min=<v> median=<v> spread=<pct>% reps=<n> redone=<n> dirty=<n>
 */
void bench_summary(void);

/* Touches every page of [p, p + len) for writing (host first-touch faults happen now). */
void bench_prefault(void *p, uint64_t len);
/* Writes back and evicts [p, p + len) from every cache level (clflush). */
void bench_evict(const void *p, uint64_t len);

#endif
