/*
 * Page-table engine benchmark (host, -O2, no sanitizers) on the x86-64 format, method
 * in bench.h. Figures:
 *  - baselines: for the PTE bytes of 1 GiB of 4 KiB leaves (2 MiB), a memset into a
 *    buffer in cache (hot), the same after evicting it (cold), and a plain loop writing
 *    the PTE values map_range writes (the floor for map_range); ns per PTE;
 *  - map (one pt_cursor_map per leaf), query (jump + query per leaf), protect and unmap
 *    of 1 GiB per table with 4 KiB, 2 MiB and 1 GiB leaves, and map_range of 1 GiB in
 *    4 KiB leaves; ns per leaf (for 4 KiB leaves, per page), each beside the baselines;
 *  - 2 threads mapping disjoint 1 GiB ranges of one table vs 1 thread mapping both, beside
 *    the same comparison for pure arithmetic (what the host's two CPUs give right now).
 * Tables hold no references (NULL leaf ops) and batches have no flush hook; unmap's time
 * includes finishing the batch (freeing the nodes). Timing is reported, never asserted.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <keel/errno.h>

#include "bench.h"
#include "pt_test.h"

#define SPACE GiB(1) /* per table, and per thread in the parallel figures */
#define BASE GiB(1)
#define PTES (SPACE / PAGE_SIZE) /* 4 KiB leaves in SPACE */
#define TABLES_MAX 256

static const struct pt_prop rw = { .flags = PT_PROP_RW, .cache = PT_CACHE_WB };

static void clear_w(struct pt_prop *p, void *arg)
{
	(void)arg;
	p->flags &= (uint16_t)~PT_PROP_W;
}

/* ---- baselines: the PTE bytes of SPACE in 4 KiB leaves, ns per PTE */

enum { B_MEMSET_HOT, B_MEMSET_COLD, B_PTE_LOOP, B_COUNT };
static struct bench_stat base[B_COUNT];
static uint64_t *base_buf;

static void base_round(void *arg, double *out)
{
	const struct pt_format *f = &pt_format_x86_64;
	uint64_t raw, step = f->leaf_pa_step;
	double t0;

	(void)arg;
	CHECK(f->encode_leaf(PA(GiB(64) + PAGE_SIZE), rw, 1, &raw) == 0);
	t0 = bench_now_ns(); /* in cache: the loop below wrote it last */
	memset(base_buf, 0, PTES * 8);
	__asm__ __volatile__("" ::"r"(base_buf) : "memory");
	out[B_MEMSET_HOT] = (bench_now_ns() - t0) / PTES;
	bench_evict(base_buf, PTES * 8);
	t0 = bench_now_ns();
	memset(base_buf, 0, PTES * 8);
	__asm__ __volatile__("" ::"r"(base_buf) : "memory");
	out[B_MEMSET_COLD] = (bench_now_ns() - t0) / PTES;
	t0 = bench_now_ns();
	for (uint64_t i = 0, v = raw; i < PTES; i++, v += step)
		base_buf[i] = v;
	__asm__ __volatile__("" ::"r"(base_buf) : "memory");
	out[B_PTE_LOOP] = (bench_now_ns() - t0) / PTES;
}

/* " 91.2x hot  30.1x cold  45.0x loop": median over each baseline's median. */
static const char *vs_base(const struct bench_stat *s)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "%6.1fx hot %6.1fx cold %6.1fx loop",
		 s->median / base[B_MEMSET_HOT].median, s->median / base[B_MEMSET_COLD].median,
		 s->median / base[B_PTE_LOOP].median);
	return buf;
}

static void bench_baselines(void)
{
	base_buf = aligned_alloc(PAGE_SIZE, PTES * 8);
	CHECK(base_buf);
	bench_prefault(base_buf, PTES * 8);
	bench_measure(base, B_COUNT, base_round, NULL);
	bench_row("base.memset_hot", "ns/PTE", &base[B_MEMSET_HOT], "2 MiB in cache");
	bench_row("base.memset_cold", "ns/PTE", &base[B_MEMSET_COLD], "2 MiB after clflush");
	bench_row("base.pte_loop", "ns/PTE", &base[B_PTE_LOOP], "a plain loop of PTE values");
}

/* ---- one table per leaf size: map, query, protect, unmap */

static void map_all(struct pt_table *t, uint64_t base_va, uint64_t leaf, struct pt_flush_batch *b)
{
	struct pt_cursor c;

	CHECK(pt_cursor_begin(&c, t, VA(base_va), VA(base_va + SPACE), b) == 0);
	for (uint64_t off = 0; off < SPACE; off += leaf)
		CHECK(pt_cursor_map(&c, PA(GiB(64) + off), leaf, rw) == 0);
	pt_cursor_end(&c);
}

static void query_all(struct pt_table *t, uint64_t leaf, struct pt_flush_batch *b)
{
	struct pt_cursor c;
	struct pt_item it;

	CHECK(pt_cursor_begin(&c, t, VA(BASE), VA(BASE + SPACE), b) == 0);
	for (uint64_t off = 0; off < SPACE; off += leaf) {
		CHECK(pt_cursor_jump(&c, VA(BASE + off)) == 0);
		CHECK(pt_cursor_query(&c, &it) == 0 && it.kind == PT_ITEM_LEAF);
	}
	pt_cursor_end(&c);
}

static void protect_all(struct pt_table *t, struct pt_flush_batch *b)
{
	struct pt_cursor c;

	CHECK(pt_cursor_begin(&c, t, VA(BASE), VA(BASE + SPACE), b) == 0);
	CHECK(pt_cursor_protect(&c, SPACE, clear_w, NULL) == 0);
	pt_cursor_end(&c);
}

static void unmap_all(struct pt_table *t, struct pt_flush_batch *b)
{
	struct pt_cursor c;

	CHECK(pt_cursor_begin(&c, t, VA(BASE), VA(BASE + SPACE), b) == 0);
	CHECK(pt_cursor_unmap(&c, SPACE) == 0);
	pt_cursor_end(&c);
}

/* Tables per repetition: enough leaves that one op over all of them takes >= ~50 us. */
struct leaf_case {
	uint64_t leaf;
	unsigned tables;
	const char *name;
};

enum { OP_MAP, OP_QUERY, OP_PROTECT, OP_UNMAP, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "map", "query", "protect", "unmap" };
static struct pt_table tabs[TABLES_MAX];

/* ns per leaf of each op over lc->tables fresh tables. */
static void leaf_round(void *arg, double *out)
{
	const struct leaf_case *lc = arg;
	double leaves = (double)lc->tables * (double)(SPACE / lc->leaf), t[OP_COUNT + 1];
	struct pt_flush_batch b;
	unsigned n = lc->tables;

	pt_flush_batch_init(&b, NULL, NULL);
	for (unsigned i = 0; i < n; i++)
		CHECK(pt_table_init(&tabs[i], &pt_format_x86_64, NULL) == 0);
	t[0] = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		map_all(&tabs[i], BASE, lc->leaf, &b);
	t[1] = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		query_all(&tabs[i], lc->leaf, &b);
	t[2] = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		protect_all(&tabs[i], &b);
	t[3] = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		unmap_all(&tabs[i], &b);
	pt_flush_batch_finish(&b);
	t[4] = bench_now_ns();
	for (unsigned op = 0; op < OP_COUNT; op++)
		out[op] = (t[op + 1] - t[op]) / leaves;
	for (unsigned i = 0; i < n; i++)
		pt_table_fini(&tabs[i], &b);
	pt_flush_batch_finish(&b);
}

/* map_range of SPACE with pa off by 4 KiB (so 4 KiB leaves throughout); ns per leaf. */
static void map_range_round(void *arg, double *out)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	double t0;

	(void)arg;
	CHECK(pt_table_init(&tabs[0], &pt_format_x86_64, NULL) == 0);
	pt_flush_batch_init(&b, NULL, NULL);
	t0 = bench_now_ns();
	CHECK(pt_cursor_begin(&c, &tabs[0], VA(BASE), VA(BASE + SPACE), &b) == 0);
	CHECK(pt_cursor_map_range(&c, SPACE, PA(GiB(64) + PAGE_SIZE), rw) == 0);
	pt_cursor_end(&c);
	out[0] = (bench_now_ns() - t0) / PTES;
	pt_table_fini(&tabs[0], &b);
	pt_flush_batch_finish(&b);
}

static void bench_leaf(const struct leaf_case *lc)
{
	struct bench_stat s[OP_COUNT], range;
	char name[32];

	bench_measure(s, OP_COUNT, leaf_round, (void *)lc);
	if (lc->leaf == PAGE_SIZE)
		bench_measure(&range, 1, map_range_round, NULL);
	for (unsigned op = 0; op < OP_COUNT; op++) {
		snprintf(name, sizeof(name), "%s.%s", lc->name, op_name[op]);
		bench_row(name, "ns/leaf", &s[op], vs_base(&s[op]));
		if (lc->leaf == PAGE_SIZE && op == OP_MAP)
			bench_row("4k.map_range", "ns/leaf", &range, vs_base(&range));
	}
}

/*
 * ---- two threads on disjoint ranges of one table vs one thread doing both
 *
 * Besides the speed-up and the same ratio for pure arithmetic, two figures tell Keel's
 * share from the machine's: the slowdown (the larger, over the two threads, of a
 * thread's time for its range beside the other / alone on the same CPU: 1 is perfect
 * scaling, more is interference between the two maps) and the CPU ratio (one thread's
 * map alone on the helper's CPU / on main's CPU: the host's CPUs need not be alike).
 */

enum {
	P_MAP1,
	P_MAP2,
	P_SPEEDUP,
	P_CAL_SPEEDUP,
	P_VS_CAL,
	P_SLOWDOWN,
	P_CPU_RATIO,
	P_CAL1,
	P_CAL2,
	P_COUNT
};
static struct pt_table par_table;
static double par_ns[2]; /* the last map time of each thread, for its own range */
static long spin_iters;	 /* per thread: about as long as one thread's map */
static volatile uint64_t spin_sink;

/* Range of thread `who`: a root entry each, so the two cursors share no node. */
static uint64_t par_base(unsigned who)
{
	return GiB(512) * (who + 1);
}

static void par_map(void *arg, unsigned who)
{
	struct pt_flush_batch b;
	double t0 = bench_now_ns();

	(void)arg;
	fake_set_cpu(who);
	pt_flush_batch_init(&b, NULL, NULL);
	map_all(&par_table, par_base(who), PAGE_SIZE, &b);
	pt_flush_batch_finish(&b);
	par_ns[who] = bench_now_ns() - t0;
}

/* The helper maps its range while main waits. */
static void par_map_helper_only(void *arg, unsigned who)
{
	if (who == 1)
		par_map(arg, who);
}

/* Pure arithmetic: a multiply-add chain, no memory traffic. */
static void par_spin(void *arg, unsigned who)
{
	uint64_t x = who + 1;

	(void)arg;
	for (long i = 0; i < spin_iters; i++)
		x = x * 6364136223846793005ull + 1;
	spin_sink = x;
}

static void par_table_init(void)
{
	fake_set_cpu(0);
	CHECK(pt_table_init(&par_table, &pt_format_x86_64, NULL) == 0);
}

static void par_table_fini(void)
{
	struct pt_flush_batch b;

	fake_set_cpu(0);
	pt_flush_batch_init(&b, NULL, NULL);
	pt_table_fini(&par_table, &b);
	pt_flush_batch_finish(&b);
}

static void par_round(void *arg, double *out)
{
	double t0, solo[2];

	(void)arg;
	par_table_init();
	t0 = bench_now_ns();
	par_map(NULL, 0);
	solo[0] = par_ns[0];
	par_map(NULL, 1);
	out[P_MAP1] = (bench_now_ns() - t0) / 1e6;
	par_table_fini();
	par_table_init();
	bench_pair_run(par_map_helper_only, NULL);
	solo[1] = par_ns[1];
	par_table_fini();
	par_table_init();
	out[P_MAP2] = bench_pair_run(par_map, NULL) / 1e6;
	par_table_fini();
	t0 = bench_now_ns();
	par_spin(NULL, 0);
	par_spin(NULL, 1);
	out[P_CAL1] = (bench_now_ns() - t0) / 1e6;
	out[P_CAL2] = bench_pair_run(par_spin, NULL) / 1e6;
	out[P_SPEEDUP] = out[P_MAP1] / out[P_MAP2];
	out[P_CAL_SPEEDUP] = out[P_CAL1] / out[P_CAL2];
	out[P_VS_CAL] = out[P_SPEEDUP] / out[P_CAL_SPEEDUP];
	out[P_SLOWDOWN] = MAX(par_ns[0] / solo[0], par_ns[1] / solo[1]);
	out[P_CPU_RATIO] = solo[1] / solo[0];
}

/* Sets spin_iters so that one thread's arithmetic takes as long as one thread's map. */
static void par_calibrate(void)
{
	double t0, iter_ns;

	spin_iters = 1000000;
	t0 = bench_now_ns();
	par_spin(NULL, 0);
	iter_ns = (bench_now_ns() - t0) / (double)spin_iters;
	for (int r = 0; r < 3; r++) { /* the last of three: caches and frames warm */
		par_table_init();
		par_map(NULL, 0);
		par_table_fini();
	}
	spin_iters = (long)(par_ns[0] / iter_ns);
}

static void bench_parallel(void)
{
	struct bench_stat s[P_COUNT];
	char extra[64];

	par_calibrate();
	bench_measure(s, P_COUNT, par_round, NULL);
	bench_row("par.map_1thread", "ms", &s[P_MAP1], "2 x 1 GiB of 4 KiB leaves, one thread");
	bench_row("par.map_2threads", "ms", &s[P_MAP2], "the same, one range per thread");
	snprintf(extra, sizeof(extra), "arithmetic: %.2fx (median)", s[P_CAL_SPEEDUP].median);
	bench_row("par.speedup", "x", &s[P_SPEEDUP], extra);
	bench_row("par.calib_speedup", "x", &s[P_CAL_SPEEDUP],
		  "2 threads of pure arithmetic vs 1 doing both");
	bench_row("par.vs_calib", "x", &s[P_VS_CAL], "speed-up / arithmetic's, per repetition");
	bench_row("par.slowdown", "ratio", &s[P_SLOWDOWN],
		  "a thread beside the other / alone, same CPU (worse thread)");
	snprintf(extra, sizeof(extra), "1 GiB alone: CPU %u / CPU %u", bench_cpu[1], bench_cpu[0]);
	bench_row("par.cpu_ratio", "ratio", &s[P_CPU_RATIO], extra);
}

/*
 * Usage: bench_pt [4k | par]   4k: the baselines and the 4 KiB rows only; par: the
 * parallel rows only (e.g. under perf).
 */
int main(int argc, char **argv)
{
	static const struct leaf_case leaf_cases[] = {
		{ PAGE_SIZE, 1, "4k" },
		{ SIZE_2M, 16, "2m" },
		{ SIZE_1G, 256, "1g" },
	};
	const char *only = argc > 1 ? argv[1] : "";
	unsigned cpus = bench_init();

	CHECK(!*only || !strcmp(only, "4k") || !strcmp(only, "par"));
	fake_arch_prefault();
	fake_raw_poison = false;  /* like the kernel: frame_alloc_raw does not write the block */
	fake_free_poison = false; /* nor does frame_free */
	bench_print_method("bench_pt: page-table engine, x86-64 format, 1 GiB per table, fake "
			   "arch (fake memory faulted in first)");
	if (strcmp(only, "par")) {
		bench_baselines();
		for (unsigned i = 0; i < (*only ? 1 : ARRAY_SIZE(leaf_cases)); i++)
			bench_leaf(&leaf_cases[i]);
	}
	if (strcmp(only, "4k") && cpus > 1)
		bench_parallel();
	else if (strcmp(only, "4k"))
		printf("# parallel figures skipped: only one CPU to run on\n");
	bench_summary();
	return 0;
}
