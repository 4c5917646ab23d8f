/*
 * Fake arch for host tests (see fake_arch.h). The frame allocator is a bitmap over
 * FAKE_FRAME_COUNT frames, first fit for naturally aligned blocks from the calling
 * CPU's slice (below), under one pthread mutex: slow but simple and obviously right. Freed page-table nodes are poisoned, so
 * a walker reading a node after it was freed reads garbage and trips a CHECK.
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <keel/check.h>
#include <keel/errno.h>

#include "fake_arch.h"
#include "fake_cpu.h"

static uint8_t *fake_mem; /* host backing of the fake RAM */
static struct frame fake_frames[FAKE_FRAME_COUNT];
static uint64_t fake_bitmap[FAKE_FRAME_COUNT / 64];
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fake_in_use, fake_nodes;
static long fake_fail_countdown = -1;

void fake_arch_init(void)
{
	pthread_mutex_lock(&fake_lock);
	if (!fake_mem) {
		fake_mem = mmap(NULL, (size_t)FAKE_FRAME_COUNT * PAGE_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		CHECK(fake_mem != MAP_FAILED);
	}
	fake_fail_countdown = -1;
	pthread_mutex_unlock(&fake_lock);
}

void *arch_pa_to_kva(paddr_t pa)
{
	CHECK(pa.v >= FAKE_PA_BASE && pa.v < FAKE_PA_BASE + (uint64_t)FAKE_FRAME_COUNT * PAGE_SIZE);
	return fake_mem + (pa.v - FAKE_PA_BASE);
}

paddr_t arch_kva_to_pa(const void *kva)
{
	const uint8_t *p = kva;

	CHECK(p >= fake_mem && p < fake_mem + (size_t)FAKE_FRAME_COUNT * PAGE_SIZE);
	return PA(FAKE_PA_BASE + (uint64_t)(p - fake_mem));
}

/* Writes every page of [p, p + len) without changing it: the page is then the process's. */
static void fake_touch(void *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += PAGE_SIZE)
		__atomic_fetch_or((uint8_t *)p + off, 0, __ATOMIC_RELAXED);
}

void fake_arch_prefault(void)
{
	fake_arch_init();
	fake_touch(fake_mem, (uint64_t)FAKE_FRAME_COUNT * PAGE_SIZE);
	fake_touch(fake_frames, sizeof(fake_frames));
	fake_touch(fake_bitmap, sizeof(fake_bitmap));
}

struct frame *frame_lookup(paddr_t pa)
{
	uint64_t i = (pa.v - FAKE_PA_BASE) >> PAGE_SHIFT;

	return pa.v >= FAKE_PA_BASE && i < FAKE_FRAME_COUNT ? &fake_frames[i] : NULL;
}

struct frame *frame_of(paddr_t pa)
{
	uint64_t i = (pa.v - FAKE_PA_BASE) >> PAGE_SHIFT;

	CHECK(pa.v >= FAKE_PA_BASE && i < FAKE_FRAME_COUNT);
	return &fake_frames[i];
}

paddr_t frame_pa(const struct frame *f)
{
	return PA(FAKE_PA_BASE + ((uint64_t)(f - fake_frames) << PAGE_SHIFT));
}

static bool fake_range_free(uint64_t first, uint64_t count)
{
	for (uint64_t i = first; i < first + count; i++) {
		if (fake_bitmap[i / 64] & (1ull << (i % 64)))
			return false;
	}
	return true;
}

static void fake_range_mark(uint64_t first, uint64_t count, bool used)
{
	for (uint64_t i = first; i < first + count; i++) {
		if (used)
			fake_bitmap[i / 64] |= 1ull << (i % 64);
		else
			fake_bitmap[i / 64] &= ~(1ull << (i % 64));
	}
}

/*
 * Each CPU's search starts in its own slice of the fake RAM and wraps around, so threads
 * standing in for CPUs that allocate at the same time get frames far apart, as per-CPU
 * free lists give a kernel. From one common start their frames interleave: each
 * thread's new nodes then share struct frame cache lines (the node lock the map path
 * takes at once) and bitmap words with the other's, and bench_pt's two threads on
 * disjoint ranges slowed each other down by 10-20%.
 */
#define FAKE_CPU_SLICES 8

/* First free naturally aligned block of 2^order frames, or -1. Lock held. */
static int64_t fake_find(unsigned order)
{
	uint64_t count = 1ull << order, slice = FAKE_FRAME_COUNT / FAKE_CPU_SLICES;
	uint64_t start = ALIGN_DOWN((arch_cpu_id() % FAKE_CPU_SLICES) * slice, count);

	for (uint64_t n = 0; n < FAKE_FRAME_COUNT; n += count) {
		uint64_t i = (start + n) % FAKE_FRAME_COUNT;

		if (order == 0 && fake_bitmap[i / 64] == ~0ull) {
			n += 63; /* whole word used (i is a word's first frame: start is) */
			continue;
		}
		if (fake_range_free(i, count))
			return (int64_t)i;
	}
	return -1;
}

bool fake_raw_poison = true;
bool fake_free_poison = true;

/* fill < 0: leaves the bytes as they are (frame_alloc_raw). */
static struct frame *fake_alloc(unsigned order, enum frame_type type, int fill)
{
	struct frame *f = NULL;
	int64_t i;

	CHECK(order <= FRAME_ORDER_MAX && type != FRAME_FREE);
	pthread_mutex_lock(&fake_lock);
	if (fake_fail_countdown == 0)
		goto out;
	if (fake_fail_countdown > 0)
		fake_fail_countdown--;
	i = fake_find(order);
	if (i < 0)
		goto out;
	fake_range_mark((uint64_t)i, 1ull << order, true);
	fake_in_use += 1ull << order;
	fake_nodes += type == FRAME_PT_NODE;
	f = &fake_frames[i];
	memset(f, 0, sizeof(*f));
	f->refcount = 1;
	f->type = (uint8_t)type;
	f->order = (uint8_t)order;
	for (uint64_t t = 1; t < (1ull << order); t++) /* as kernel/frame.c: frame_head */
		f[t] = (struct frame){ .type = (uint8_t)type, .order = FRAME_ORDER_TAIL };
	spin_init(&f->lock);
	list_init(&f->link);
out:
	pthread_mutex_unlock(&fake_lock);
	/* Zeroed outside the lock: the block is ours once marked, and threads standing in
	 * for CPUs must not serialise on each other's zeroing (bench_pt's parallel case). */
	if (f && fill >= 0)
		memset(fake_mem + ((uint64_t)i << PAGE_SHIFT), fill, PAGE_SIZE << order);
	return f;
}

struct frame *frame_alloc(unsigned order, enum frame_type type)
{
	return fake_alloc(order, type, 0);
}

struct frame *frame_alloc_raw(unsigned order, enum frame_type type)
{
	return fake_alloc(order, type, fake_raw_poison ? 0xa5 : -1);
}

void frame_free(struct frame *f, unsigned order)
{
	uint64_t i = (uint64_t)(f - fake_frames);

	CHECK(i < FAKE_FRAME_COUNT && f->type != FRAME_FREE && f->order == order);
	CHECK(f->refcount <= 1);
	pthread_mutex_lock(&fake_lock);
	CHECK(!fake_range_free(i, 1ull << order) && (i & ((1ull << order) - 1)) == 0);
	if (f->type == FRAME_PT_NODE) {
		fake_nodes--;
		if (fake_free_poison)
			memset(fake_mem + (i << PAGE_SHIFT), 0xdb, PAGE_SIZE);
	}
	for (uint64_t t = 0; t < (1ull << order); t++)
		f[t].type = FRAME_FREE;
	fake_range_mark(i, 1ull << order, false);
	fake_in_use -= 1ull << order;
	pthread_mutex_unlock(&fake_lock);
}

uint64_t frame_free_count(void)
{
	return FAKE_FRAME_COUNT - fake_frames_in_use();
}

uint64_t frame_total_count(void)
{
	return FAKE_FRAME_COUNT;
}

uint64_t fake_frames_in_use(void)
{
	uint64_t n;

	pthread_mutex_lock(&fake_lock);
	n = fake_in_use;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

uint64_t fake_pt_nodes_in_use(void)
{
	uint64_t n;

	pthread_mutex_lock(&fake_lock);
	n = fake_nodes;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

void fake_fail_after(long n)
{
	pthread_mutex_lock(&fake_lock);
	fake_fail_countdown = n;
	pthread_mutex_unlock(&fake_lock);
}

void fake_fail_off(void)
{
	fake_fail_after(-1);
}

const char *errno_name(int err)
{
	switch (err) {
	case 0:
		return "0";
	case -ENOMEM:
		return "-ENOMEM";
	case -EINVAL:
		return "-EINVAL";
	case -EEXIST:
		return "-EEXIST";
	case -ENOENT:
		return "-ENOENT";
	case -ENOTSUP:
		return "-ENOTSUP";
	case -EBUSY:
		return "-EBUSY";
	default:
		return "-E?";
	}
}
