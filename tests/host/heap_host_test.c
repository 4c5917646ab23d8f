/*
 * Host unit test of the kernel heap: kernel/heap.c and kernel/frame.c compiled
 * unchanged (-DKEEL_HOST) over the fake physical arena of frame_fake.c. Prints TAP.
 * Build: as frame_host_test.c says, with heap_host_test.c and kernel/heap.c added.
 */
#include "frame_fake.h"

#include <keel/boot.h>
#include <keel/frame.h>
#include <keel/heap.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct boot_info bi;

/* 64 MiB of fake RAM at 1 MiB, kernel image in the first 2 MiB. */
static void heap_setup(void)
{
	memset(&bi, 0, sizeof(bi));
	bi.direct_map_end = MiB(65);
	bi.mem[0] = (struct boot_mem_region){ MiB(1), MiB(64), BOOT_MEM_USABLE };
	bi.mem_count = 1;
	bi.kernel_start = PA(MiB(1));
	bi.kernel_end = PA(MiB(3));
	frame_init(&bi);
}

static uint8_t fill_byte(unsigned id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + 1);
}

#define OBJ_MAX 4000
static struct {
	uint8_t *p;
	size_t size;
	unsigned id;
} objs[OBJ_MAX];

/* Random sizes, pattern filled, verified, freed in random order: no frame leaks. */
static bool stress_random_sizes_no_overlap_no_leak(void)
{
	uint64_t start = frame_free_count();
	unsigned n = 0;

	fake_rng_state = 7;
	for (unsigned round = 0; round < 4; round++) {
		while (n < OBJ_MAX) {
			uint64_t r = fake_rng_next();
			size_t size =
			    r % 8 == 0 ? (size_t)((r >> 8) % 40000) : (size_t)((r >> 8) % 600);
			uint8_t *p = kmalloc(size);

			T_ASSERT(p != NULL);
			T_ASSERT(IS_ALIGNED((uintptr_t)p, HEAP_ALIGN));
			T_ASSERT(kmalloc_usable_size(p) >= size);
			for (size_t i = 0; i < size; i++)
				p[i] = fill_byte(n + round * OBJ_MAX, i);
			objs[n].p = p;
			objs[n].size = size;
			objs[n].id = n + round * OBJ_MAX;
			n++;
		}
		for (unsigned i = 0; i < n; i++)
			for (size_t b = 0; b < objs[i].size; b++)
				T_ASSERT(objs[i].p[b] == fill_byte(objs[i].id, b));
		/* Free a random half (all in the last round), keep the rest live. */
		for (unsigned k = round == 3 ? n : n / 2; k > 0; k--) {
			unsigned i = (unsigned)(fake_rng_next() % n);

			for (size_t b = 0; b < objs[i].size; b++)
				T_ASSERT(objs[i].p[b] == fill_byte(objs[i].id, b));
			kfree(objs[i].p);
			objs[i] = objs[--n];
		}
	}
	T_ASSERT(n == 0);
	T_ASSERT(frame_free_count() == start);
	return true;
}

static bool kzalloc_zeroes_reused_memory(void)
{
	for (size_t size = 1; size <= 5000; size = size * 3 + 1) {
		uint8_t *p = kmalloc(size), *q;

		T_ASSERT(p != NULL);
		memset(p, 0xcc, size);
		kfree(p);
		q = kzalloc(size);
		T_ASSERT(q != NULL);
		for (size_t i = 0; i < size; i++)
			T_ASSERT(q[i] == 0);
		kfree(q);
	}
	return true;
}

static bool krealloc_keeps_contents(void)
{
	uint8_t *p = kmalloc(10), *q;
	uint64_t start;

	T_ASSERT(p != NULL);
	start = frame_free_count();
	for (unsigned i = 0; i < 10; i++)
		p[i] = (uint8_t)i;
	q = krealloc(p, 16); /* same class: same pointer */
	T_ASSERT(q == p);
	q = krealloc(p, 9000);
	T_ASSERT(q != NULL && q != p);
	for (unsigned i = 0; i < 10; i++)
		T_ASSERT(q[i] == i);
	T_ASSERT(krealloc(q, 0) == NULL);
	T_ASSERT(frame_free_count() == start + 1); /* p's slab went away too */
	return true;
}

static bool kfree_null_is_noop(void)
{
	uint64_t start = frame_free_count();

	kfree(NULL);
	T_ASSERT(frame_free_count() == start);
	return true;
}

#define THREADS 4
#define THREAD_OPS 20000
#define THREAD_LIVE 64

struct churn {
	unsigned cpu;
	const char *bad;
};

/* One "CPU": kmalloc random sizes, fill with its own byte, verify, kfree. */
static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	struct {
		uint8_t *p;
		size_t size;
		uint8_t tag;
	} mine[THREAD_LIVE];
	uint64_t rng = 0x2545f4914f6cdd1dull * (c->cpu + 1);
	unsigned live = 0;

	fake_set_cpu(c->cpu);
	for (unsigned op = 0; op < THREAD_OPS && !c->bad; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (live < THREAD_LIVE && (live == 0 || rng % 3 != 0)) {
			size_t size = (rng >> 8) % 32 == 0 ? (size_t)((rng >> 16) % 9000)
							   : (size_t)((rng >> 16) % 700);
			uint8_t *p = kmalloc(size), tag = (uint8_t)(c->cpu * 61 + op);

			if (!p) {
				c->bad = "kmalloc failed";
				break;
			}
			memset(p, tag, size);
			mine[live].p = p;
			mine[live].size = size;
			mine[live].tag = tag;
			live++;
		} else {
			unsigned k = (unsigned)((rng >> 8) % live);

			for (size_t b = 0; b < mine[k].size; b++)
				if (mine[k].p[b] != mine[k].tag)
					c->bad = "object written by another thread";
			kfree(mine[k].p);
			mine[k] = mine[--live];
		}
	}
	while (live)
		kfree(mine[--live].p);
	return NULL;
}

/* Four threads playing CPUs use the heap at once: objects stay private, no leak. */
static bool concurrent_threads_churn(void)
{
	uint64_t start = frame_free_count();
	pthread_t th[THREADS];
	struct churn c[THREADS];

	for (unsigned i = 0; i < THREADS; i++) {
		c[i] = (struct churn){ i + 1, NULL };
		T_ASSERT(pthread_create(&th[i], NULL, churn_thread, &c[i]) == 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < THREADS; i++) {
		if (c[i].bad) {
			snprintf(fake_why, sizeof(fake_why), "thread %u: %s", i, c[i].bad);
			return false;
		}
	}
	T_ASSERT(frame_free_count() == start);
	return true;
}

static void misuse_double_free_slab(void)
{
	void *keep = kmalloc(64), *p = kmalloc(64); /* keep: the slab stays alive */

	(void)keep;
	kfree(p);
	kfree(p);
}

static void misuse_double_free_empty_slab(void)
{
	void *p = kmalloc(64);

	kfree(p); /* the slab went back to the frame allocator */
	kfree(p);
}

static void misuse_interior_pointer(void)
{
	uint8_t *p = kmalloc(64);

	kfree(p + 32);
}

static void misuse_inside_large(void)
{
	uint8_t *p = kmalloc(3 * PAGE_SIZE);

	kfree(p + PAGE_SIZE);
}

static void misuse_not_heap_frame(void)
{
	struct frame *f = frame_alloc(0, FRAME_KERNEL);

	kfree(frame_kva(f));
}

static void misuse_unaligned(void)
{
	uint8_t *p = kmalloc(64);

	kfree(p + 8);
}

static bool misuse_panics(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{ "double free", misuse_double_free_slab },
		{ "double free of an emptied slab", misuse_double_free_empty_slab },
		{ "pointer inside an object", misuse_interior_pointer },
		{ "pointer inside a large block", misuse_inside_large },
		{ "frame not from the heap", misuse_not_heap_frame },
		{ "unaligned pointer", misuse_unaligned },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!fake_child_panics(cases[i].fn)) {
			snprintf(fake_why, sizeof(fake_why), "%s did not panic", cases[i].name);
			return false;
		}
	}
	return true;
}

static const struct fake_test tests[] = {
	{ "stress_random_sizes_no_overlap_no_leak", stress_random_sizes_no_overlap_no_leak },
	{ "kzalloc_zeroes_reused_memory", kzalloc_zeroes_reused_memory },
	{ "krealloc_keeps_contents", krealloc_keeps_contents },
	{ "kfree_null_is_noop", kfree_null_is_noop },
	{ "concurrent_threads_churn", concurrent_threads_churn },
	{ "misuse_panics", misuse_panics },
};

int main(int argc, char **argv)
{
	fake_arena_init(MiB(64));
	heap_setup();
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
