/*
 * Page-table engine benchmark (host, -O2, no sanitizers): for 1 GiB of address space
 * on the x86-64 format, ns per 4 KiB page of map, query, protect and unmap with 4 KiB,
 * 2 MiB and 1 GiB leaves, each next to a memset of the same number of PTE bytes, and
 * 2 threads mapping disjoint ranges vs 1 thread mapping both. Timing is reported, never
 * asserted. Tables hold no references (NULL leaf ops) and batches have no flush hook.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keel/errno.h>

#include "pt_test.h"

#define SPACE GiB(1)
#define BASE GiB(1)

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const struct pt_prop rw = { .flags = PT_PROP_RW, .cache = PT_CACHE_WB };

static void clear_w(struct pt_prop *p, void *arg)
{
	(void)arg;
	p->flags &= (uint16_t)~PT_PROP_W;
}

/* ns for a memset of `bytes`, best of a few runs (the same PTE bytes the ops write). */
static double memset_ns(size_t bytes)
{
	static uint8_t *buf;
	double best = 1e18;

	if (!buf)
		buf = aligned_alloc(4096, SPACE / PAGE_SIZE * 8);
	for (int r = 0; r < 5; r++) {
		double t0 = now_ns();

		memset(buf, r, bytes);
		__asm__ __volatile__("" ::"r"(buf) : "memory");
		best = MIN(best, now_ns() - t0);
	}
	return best;
}

static void map_all(struct pt_table *t, uint64_t base, uint64_t leaf, struct pt_flush_batch *b)
{
	struct pt_cursor c;

	CHECK(pt_cursor_begin(&c, t, VA(base), VA(base + SPACE), b) == 0);
	for (uint64_t off = 0; off < SPACE; off += leaf)
		CHECK(pt_cursor_map(&c, PA(GiB(64) + off), leaf, rw) == 0);
	pt_cursor_end(&c);
}

static void bench_leaf(uint64_t leaf)
{
	struct pt_table t;
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it;
	uint64_t pages = SPACE / PAGE_SIZE, ptes = SPACE / leaf;
	double t0, map, query, prot, unmap, ms = memset_ns(ptes * 8);

	CHECK(pt_table_init(&t, &pt_format_x86_64, NULL) == 0);
	pt_flush_batch_init(&b, NULL, NULL);
	t0 = now_ns();
	map_all(&t, BASE, leaf, &b);
	map = now_ns() - t0;

	CHECK(pt_cursor_begin(&c, &t, VA(BASE), VA(BASE + SPACE), &b) == 0);
	t0 = now_ns();
	for (uint64_t off = 0; off < SPACE; off += leaf) {
		CHECK(pt_cursor_jump(&c, VA(BASE + off)) == 0);
		CHECK(pt_cursor_query(&c, &it) == 0 && it.kind == PT_ITEM_LEAF);
	}
	query = now_ns() - t0;
	CHECK(pt_cursor_jump(&c, VA(BASE)) == 0);
	t0 = now_ns();
	CHECK(pt_cursor_protect(&c, SPACE, clear_w, NULL) == 0);
	prot = now_ns() - t0;
	CHECK(pt_cursor_jump(&c, VA(BASE)) == 0);
	t0 = now_ns();
	CHECK(pt_cursor_unmap(&c, SPACE) == 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	unmap = now_ns() - t0;

	if (leaf == PAGE_SIZE) {
		double mr;

		t0 = now_ns();
		CHECK(pt_cursor_begin(&c, &t, VA(BASE), VA(BASE + SPACE), &b) == 0);
		/* pa off by 4K: map_range must use 4K leaves throughout */
		CHECK(pt_cursor_map_range(&c, SPACE, PA(GiB(64) + PAGE_SIZE), rw) == 0);
		pt_cursor_end(&c);
		mr = now_ns() - t0;
		printf("4K    leaves via map_range: %8.3f ns/page (%5.1fx memset)\n", mr / pages,
		       mr / ms);
		CHECK(pt_cursor_begin(&c, &t, VA(BASE), VA(BASE + SPACE), &b) == 0);
		CHECK(pt_cursor_unmap(&c, SPACE) == 0);
		pt_cursor_end(&c);
		pt_flush_batch_finish(&b);
	}
	printf("%-5s leaves (%7" PRIu64 " PTEs): memset %8.3f ns/page | map %8.3f (%5.1fx) "
	       "query %8.3f (%5.1fx) protect %8.3f (%5.1fx) unmap %8.3f (%5.1fx)\n",
	       leaf == PAGE_SIZE ? "4K" : leaf == SIZE_2M ? "2M" : "1G", ptes, ms / pages,
	       map / pages, map / ms, query / pages, query / ms, prot / pages, prot / ms,
	       unmap / pages, unmap / ms);
	pt_table_fini(&t, &b);
	pt_flush_batch_finish(&b);
}

struct par {
	struct pt_table *t;
	uint64_t base;
	unsigned cpu;
};

static void *par_map(void *arg)
{
	struct par *p = arg;
	struct pt_flush_batch b;

	fake_arch_set_cpu(p->cpu);
	pt_flush_batch_init(&b, NULL, NULL);
	map_all(p->t, p->base, PAGE_SIZE, &b);
	return NULL;
}

static void bench_parallel(void)
{
	struct pt_table t;
	struct pt_flush_batch b;
	struct par p[2];
	pthread_t th[2];
	double t0, one, two;

	CHECK(pt_table_init(&t, &pt_format_x86_64, NULL) == 0);
	pt_flush_batch_init(&b, NULL, NULL);
	t0 = now_ns();
	map_all(&t, BASE, PAGE_SIZE, &b);
	map_all(&t, BASE + SPACE, PAGE_SIZE, &b);
	one = now_ns() - t0;
	pt_table_fini(&t, &b);
	pt_flush_batch_finish(&b);

	CHECK(pt_table_init(&t, &pt_format_x86_64, NULL) == 0);
	t0 = now_ns();
	for (int i = 0; i < 2; i++) {
		p[i] = (struct par){ &t, BASE + i * SPACE, (unsigned)i + 1 };
		CHECK(pthread_create(&th[i], NULL, par_map, &p[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	two = now_ns() - t0;
	pt_table_fini(&t, &b);
	pt_flush_batch_finish(&b);
	printf("map 2 x 1 GiB of 4K leaves: 1 thread %.1f ms, 2 threads (disjoint) %.1f ms, "
	       "speed-up %.2fx\n", one / 1e6, two / 1e6, one / two);
}

int main(void)
{
	fake_arch_init();
	printf("# bench_pt: x86-64 format, 1 GiB, ns per 4 KiB page (ratio to memset of the "
	       "same PTE bytes)\n");
	bench_leaf(PAGE_SIZE);
	bench_leaf(SIZE_2M);
	bench_leaf(SIZE_1G);
	bench_parallel();
	return 0;
}
