/*
 * Kernel tests of the heap (kernel/heap.c): sizes, alignment, contents, and that
 * everything it took from the frame allocator goes back.
 */
#include <keel/frame.h>
#include <keel/heap.h>
#include <keel/ktest.h>
#include <keel/smp.h>
#include <keel/string.h>

#define HT_OBJS 1500

static uint64_t ht_rng;

static uint64_t ht_rand(void)
{
	ht_rng ^= ht_rng << 13;
	ht_rng ^= ht_rng >> 7;
	ht_rng ^= ht_rng << 17;
	return ht_rng;
}

static uint8_t ht_byte(unsigned id, size_t i)
{
	return (uint8_t)(id * 151 + i * 13 + 1);
}

static struct {
	uint8_t *p;
	size_t size;
	unsigned id;
} ht_objs[HT_OBJS];

/*
 * Bytes of an object that carry its pattern: all of a small one; for a large one,
 * every HEAP_ALIGN-th byte and the last, which still meets any other object lying
 * inside it (objects start HEAP_ALIGN aligned) at a fraction of Bochs' time.
 */
static size_t ht_next(size_t size, size_t b)
{
	if (size <= 512 || b + HEAP_ALIGN >= size)
		return b + 1;
	return b + HEAP_ALIGN;
}

static void ht_fill(unsigned i)
{
	for (size_t b = 0; b < ht_objs[i].size; b = ht_next(ht_objs[i].size, b))
		ht_objs[i].p[b] = ht_byte(ht_objs[i].id, b);
}

static bool ht_intact(unsigned i)
{
	for (size_t b = 0; b < ht_objs[i].size; b = ht_next(ht_objs[i].size, b))
		if (ht_objs[i].p[b] != ht_byte(ht_objs[i].id, b))
			return false;
	return true;
}

/*
 * Many random sizes (mostly slab classes, some whole-frame blocks), each filled with
 * its own pattern: all intact after all are allocated (no overlap), freed in random
 * order with half refilled in between, and the frame free count is back at the end.
 */
KTEST(heap_stress_random_sizes)
{
	uint64_t start = frame_free_count();
	unsigned n = 0, id = 0;
	bool ok = true;

	ht_rng = 0xdeadbeefcafef00dull;
	for (int round = 0; round < 3 && ok; round++) {
		while (n < HT_OBJS) {
			uint64_t r = ht_rand();
			size_t size =
			    r % 16 == 0 ? (size_t)((r >> 8) % 40000) : (size_t)((r >> 8) % 2100);
			uint8_t *p = kmalloc(size);

			KT_ASSERT(p != NULL); /* a leak here is fine: the test failed anyway */
			KT_ASSERT(IS_ALIGNED((uintptr_t)p, HEAP_ALIGN));
			KT_ASSERT(kmalloc_usable_size(p) >= size);
			ht_objs[n].p = p;
			ht_objs[n].size = size;
			ht_objs[n].id = id++;
			ht_fill(n);
			n++;
		}
		for (unsigned i = 0; i < n && ok; i++)
			ok = ht_intact(i);
		for (unsigned k = round == 2 ? n : n / 2; k > 0; k--) {
			unsigned i = (unsigned)(ht_rand() % n);

			ok = ok && ht_intact(i);
			kfree(ht_objs[i].p);
			ht_objs[i] = ht_objs[--n];
		}
	}
	while (n)
		kfree(ht_objs[--n].p);
	KT_ASSERT(ok);
	KT_ASSERT_EQ(frame_free_count(), start);
}

/* Every size up to two pages gets a 16-byte aligned object at least that big. */
KTEST(heap_sizes_and_alignment)
{
	uint64_t start = frame_free_count();

	for (size_t size = 0; size <= 2 * PAGE_SIZE + 1; size += size < 64 ? 1 : 37) {
		uint8_t *p = kmalloc(size);

		KT_ASSERT(p != NULL);
		KT_ASSERT(IS_ALIGNED((uintptr_t)p, HEAP_ALIGN));
		KT_ASSERT(kmalloc_usable_size(p) >= size);
		if (size > HEAP_SLAB_MAX)
			KT_ASSERT(IS_ALIGNED((uintptr_t)p, PAGE_SIZE));
		memset(p, 0xab, size);
		kfree(p);
	}
	KT_ASSERT_EQ(frame_free_count(), start);
}

/* kzalloc returns zeroes even where a freed object left data behind. */
KTEST(heap_kzalloc_zeroes_recycled_memory)
{
	for (size_t size = 1; size <= 3 * PAGE_SIZE; size = size * 2 + 3) {
		uint8_t *p = kmalloc(size), *q;
		bool zero = true;

		KT_ASSERT(p != NULL);
		memset(p, 0xee, size);
		kfree(p);
		q = kzalloc(size);
		KT_ASSERT(q != NULL);
		for (size_t i = 0; i < size; i++)
			zero = zero && q[i] == 0;
		kfree(q);
		KT_ASSERT(zero);
	}
}

KTEST(heap_kfree_null_is_noop)
{
	uint64_t start = frame_free_count();

	kfree(NULL);
	KT_ASSERT_EQ(frame_free_count(), start);
}

/* krealloc keeps the contents when it moves an object, and grows in place when it fits. */
KTEST(heap_krealloc_keeps_contents)
{
	uint8_t *p = kmalloc(40), *q;
	bool same = true;

	KT_ASSERT(p != NULL);
	for (unsigned i = 0; i < 40; i++)
		p[i] = (uint8_t)(i + 1);
	q = krealloc(p, 64);
	KT_ASSERT(q == p);
	q = krealloc(p, 3 * PAGE_SIZE);
	KT_ASSERT(q != NULL);
	for (unsigned i = 0; i < 40; i++)
		same = same && q[i] == i + 1;
	KT_ASSERT(krealloc(q, 0) == NULL);
	KT_ASSERT(same);
}

/* ---- all CPUs at once ---- */

#define HT_CPU_LIVE 48
#define HT_CPU_OPS 2000

static const char *ht_cpu_bad[MAX_CPUS];

/* Runs on every CPU at once (interrupts off): kmalloc/fill/verify/kfree. */
static void ht_cpu_churn(void *arg)
{
	unsigned cpu = this_cpu_id();
	struct {
		uint8_t *p;
		size_t size;
		uint8_t tag;
	} mine[HT_CPU_LIVE];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (cpu + 1);
	unsigned live = 0;

	(void)arg;
	for (int op = 0; op < HT_CPU_OPS; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (live < HT_CPU_LIVE && (live == 0 || rng % 3 != 0)) {
			size_t size = (rng >> 8) % 64 == 0 ? (size_t)((rng >> 16) % 9000)
							   : (size_t)((rng >> 16) % 300);
			uint8_t *p = kmalloc(size), tag = (uint8_t)(cpu * 37 + op);

			if (!p) {
				ht_cpu_bad[cpu] = "kmalloc failed";
				break;
			}
			memset(p, tag, size);
			mine[live].p = p;
			mine[live].size = size;
			mine[live].tag = tag;
			live++;
		} else {
			unsigned i = (unsigned)((rng >> 8) % live);

			for (size_t b = 0; b < mine[i].size && !ht_cpu_bad[cpu]; b++)
				if (mine[i].p[b] != mine[i].tag)
					ht_cpu_bad[cpu] = "object overwritten by another CPU";
			kfree(mine[i].p);
			mine[i] = mine[--live];
		}
	}
	while (live)
		kfree(mine[--live].p);
}

/* Every online CPU uses the heap concurrently: objects stay private, nothing leaks. */
KTEST(heap_concurrent_churn_all_cpus)
{
	uint64_t start = frame_free_count();
	unsigned n;

	memset(ht_cpu_bad, 0, sizeof(ht_cpu_bad));
	n = smp_call(smp_online_mask(), ht_cpu_churn, NULL, true);
	KT_ASSERT_EQ(n, smp_cpu_online_count());
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		if (ht_cpu_bad[c]) {
			ktest_fail(t, __FILE__, __LINE__, "cpu %u: %s", c, ht_cpu_bad[c]);
			return;
		}
	}
	KT_ASSERT_EQ(frame_free_count(), start);
}
