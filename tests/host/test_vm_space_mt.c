/*
 * Threaded host tests of vm_space pinning and flushing (built with ThreadSanitizer).
 * Each thread is a fake CPU. Ordering is shown with flags and joins, never with sleeps.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <keel/errno.h>

#include "fake_sched.h"
#include "fake_tlb.h"
#include "pt_test.h"

#define BASE 0x40000000ull
#define PG PAGE_SIZE

static struct vm_space S;
static uint64_t frames_at_start;

static struct pt_prop rw(void)
{
	return PT_PROP(PT_PROP_RW | PT_PROP_USER);
}

static bool mapped(uint64_t va)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it;

	pt_flush_batch_init(&b, NULL, NULL);
	CHECK(pt_cursor_begin(&c, &S.table, VA(va), VA(va + PG), &b) == 0);
	CHECK(pt_cursor_query(&c, &it) == 0);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	return it.kind == PT_ITEM_LEAF;
}

/* ---- a blocking unmap returns only after the unpin */

static int unpin_started;	   /* [a] set by the pinning thread just before it unpins */
static int unmapper_in;		   /* [a] the unmapping thread is about to call unmap */
static int unmap_done;		   /* [a] */
static int unpin_seen_by_unmapper; /* written by the unmapper after unmap returned */
static int unmap_rc;

static void *unmapper(void *arg)
{
	(void)arg;
	fake_set_cpu(1);
	__atomic_store_n(&unmapper_in, 1, __ATOMIC_RELEASE);
	unmap_rc = vm_space_unmap(&S, VA(BASE), 2 * PG, 0);
	unpin_seen_by_unmapper = __atomic_load_n(&unpin_started, __ATOMIC_ACQUIRE);
	__atomic_store_n(&unmap_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void t_blocking_unmap_waits_for_unpin(const void *arg)
{
	struct vm_pin pin;
	pthread_t th;
	uint64_t parks;

	(void)arg;
	CHECK(vm_space_init(&S, VM_SPACE_HOST_USER, 0) == 0);
	CHECK(vm_space_add_demand_region(&S, VA(BASE), 2 * PG, rw()) == 0);
	T_EQ(vm_space_pin(&S, VA(BASE + PG), 16, VM_ACCESS_WRITE, &pin), 0);
	parks = fake_park_count();
	CHECK(pthread_create(&th, NULL, unmapper, NULL) == 0);
	/* wait until the unmapper sleeps (it can only sleep on our pin: nothing else runs) */
	while (!__atomic_load_n(&unmapper_in, __ATOMIC_ACQUIRE) || fake_park_count() == parks)
		sched_yield();
	T_EQ(__atomic_load_n(&unmap_done, __ATOMIC_ACQUIRE), 0);
	T_ASSERT(mapped(BASE + PG)); /* the pinned page is intact while it waits */
	__atomic_store_n(&unpin_started, 1, __ATOMIC_RELEASE);
	vm_space_unpin(&pin);
	pthread_join(th, NULL);
	T_EQ(unmap_rc, 0);
	T_EQ(unpin_seen_by_unmapper, 1); /* it returned only after the unpin began */
	T_ASSERT(!mapped(BASE + PG));
	vm_space_fini(&S);
	T_EQ(fake_frames_in_use(), frames_at_start);
}

/* ---- pins against unmaps, faults and flushes on several CPUs */

#define MT_CPUS 4
#define MT_ROUNDS 1000
#define MT_PAGES 8

static int mt_bad; /* [a] a pinned frame was freed or its bytes changed under the pin */

/* CPU 1..MT_CPUS: pins a page, stamps it through the pin, tries to unmap another page
 * and faults it back, checks the stamp, unpins, then unmaps the other page blocking;
 * activates and deactivates now and then. */
static void *mt_worker(void *arg)
{
	unsigned cpu = (unsigned)(uintptr_t)arg;

	fake_set_cpu(cpu);
	for (unsigned r = 0; r < MT_ROUNDS; r++) {
		uint64_t va = BASE + ((r + cpu) % MT_PAGES) * PG;
		uint64_t other = BASE + ((r * 3 + cpu * 5) % MT_PAGES) * PG;
		uint64_t stamp = ((uint64_t)cpu << 32) | r, back = 0;
		struct vm_pin pin;
		struct frame *f;

		if (r % 4 == 0)
			vm_space_activate(&S);
		CHECK(vm_space_pin(&S, VA(va + cpu * 8), 8, VM_ACCESS_WRITE, &pin) == 0);
		f = frame_of(pin.page[0]);
		CHECK(vm_pin_write(&pin, 0, &stamp, 8) == 0);
		/* holding a pin, only the non-blocking form (two pinners waiting for each
		 * other's pages would deadlock) */
		int rc = vm_space_unmap(&S, VA(other), PG, VM_NOWAIT);
		CHECK(rc == 0 || rc == -EBUSY);
		CHECK(other != va || rc == -EBUSY);
		CHECK(vm_space_handle_fault(&S, VA(other), VM_ACCESS_READ) == 0);
		CHECK(vm_pin_read(&pin, 0, &back, 8) == 0);
		if (back != stamp || f->type != FRAME_USER)
			__atomic_store_n(&mt_bad, 1, __ATOMIC_RELAXED);
		vm_space_unpin(&pin);
		CHECK(vm_space_unmap(&S, VA(other), PG, 0) == 0); /* blocking, no pin held */
		if (r % 4 == 3)
			vm_space_deactivate(&S);
	}
	return NULL;
}

static void t_pins_unmaps_faults_on_cpus(const void *arg)
{
	pthread_t th[MT_CPUS];
	struct tlb_stats st;

	(void)arg;
	CHECK(vm_space_init(&S, VM_SPACE_HOST_USER, 0) == 0);
	CHECK(vm_space_add_demand_region(&S, VA(BASE), MT_PAGES * PG, rw()) == 0);
	fake_tlb_reset();
	for (unsigned i = 0; i < MT_CPUS; i++)
		CHECK(pthread_create(&th[i], NULL, mt_worker, (void *)(uintptr_t)(i + 1)) == 0);
	for (unsigned i = 0; i < MT_CPUS; i++)
		pthread_join(th[i], NULL);
	T_EQ(__atomic_load_n(&mt_bad, __ATOMIC_RELAXED), 0);
	T_ASSERT(cpumask_is_empty(cpumask_read(&S.active)));
	tlb_stats_read(&S.stats, &st);
	T_ASSERT(st.dispatch_count > 0);
	T_ASSERT(st.call_count <= st.dispatch_count); /* at most one cross-call each */
	vm_space_fini(&S);
	T_EQ(fake_frames_in_use(), frames_at_start);
}

/*
 * ---- No CPU keeps a stale translation (the generation protocol under races)
 *
 * A model TLB per fake CPU: a CPU thread, while it runs the space, "walks" each page
 * under a cursor and caches it if mapped; the fake flush hooks clear the model. One
 * thread unmaps the pages one by one and marks each gone once vm_space_unmap returned.
 * Invariant checked by every CPU while it runs the space: a page marked gone is not in
 * its model TLB (it was either in the cross-call or flushed lazily at activation).
 */
#define GEN_CPUS 4
#define GEN_PAGES 64
#define GEN_ROUNDS 20

static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
static bool model_tlb[MAX_CPUS][GEN_PAGES]; /* [model_lock] */
static int gone[GEN_PAGES];		    /* [a] */
static int gen_unmapper_done;		    /* [a] */
static int gen_stale;			    /* [a] */

static void model_observe(const struct fake_tlb_event *e)
{
	pthread_mutex_lock(&model_lock);
	for (unsigned p = 0; p < GEN_PAGES; p++) {
		uint64_t va = BASE + p * PG;
		if (e->kind == FAKE_TLB_ALL ||
		    (e->kind == FAKE_TLB_RANGE && va >= e->va && va < e->va + e->len))
			model_tlb[e->cpu][p] = false;
	}
	pthread_mutex_unlock(&model_lock);
}

/* A hardware walk of page p on this CPU: under a cursor, so it is atomic with unmaps. */
static void model_walk(unsigned cpu, unsigned p)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	struct pt_item it;

	pt_flush_batch_init(&b, NULL, NULL);
	CHECK(pt_cursor_begin(&c, &S.table, VA(BASE + p * PG), VA(BASE + (p + 1) * PG), &b) == 0);
	CHECK(pt_cursor_query(&c, &it) == 0);
	if (it.kind == PT_ITEM_LEAF) {
		pthread_mutex_lock(&model_lock);
		model_tlb[cpu][p] = true;
		pthread_mutex_unlock(&model_lock);
	}
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
}

static void *gen_cpu(void *arg)
{
	unsigned cpu = (unsigned)(uintptr_t)arg, round = 0;

	fake_set_cpu(cpu);
	while (!__atomic_load_n(&gen_unmapper_done, __ATOMIC_ACQUIRE)) {
		vm_space_activate(&S);
		for (unsigned i = 0; i < 8; i++) /* fill a few pages */
			model_walk(cpu, (round * 8 + i * 7 + cpu) % GEN_PAGES);
		for (unsigned q = 0; q < GEN_PAGES; q++) {
			if (!__atomic_load_n(&gone[q], __ATOMIC_ACQUIRE))
				continue;
			pthread_mutex_lock(&model_lock);
			if (model_tlb[cpu][q])
				__atomic_store_n(&gen_stale, 1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&model_lock);
		}
		vm_space_deactivate(&S);
		/* run something else for a while: widens the windows, synchronises nothing */
		for (unsigned i = 0; i < (round * 13 + cpu) % 32; i++)
			sched_yield();
		round++;
	}
	return NULL;
}

static void t_no_stale_translation_after_unmap(const void *arg)
{
	pthread_t th[GEN_CPUS];
	struct tlb_stats st = { 0 };

	(void)arg;
	fake_tlb_set_observer(model_observe);
	for (unsigned round = 0; round < GEN_ROUNDS; round++) {
		CHECK(vm_space_init(&S, VM_SPACE_HOST_USER, 0) == 0);
		CHECK(vm_space_add_demand_region(&S, VA(BASE), GEN_PAGES * PG, rw()) == 0);
		for (unsigned p = 0; p < GEN_PAGES; p++) {
			CHECK(vm_space_handle_fault(&S, VA(BASE + p * PG), VM_ACCESS_READ) == 0);
			gone[p] = 0;
		}
		memset(model_tlb, 0, sizeof(model_tlb));
		gen_unmapper_done = 0;
		for (unsigned i = 0; i < GEN_CPUS; i++)
			CHECK(pthread_create(&th[i], NULL, gen_cpu, (void *)(uintptr_t)(i + 1)) ==
			      0);
		for (unsigned p = 0; p < GEN_PAGES; p++) { /* the unmapper is CPU 0 */
			CHECK(vm_space_unmap(&S, VA(BASE + p * PG), PG, 0) == 0);
			__atomic_store_n(&gone[p], 1, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&gen_unmapper_done, 1, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < GEN_CPUS; i++)
			pthread_join(th[i], NULL);
		st.call_count += S.stats.call_count;
		st.lazy_flush_count += S.stats.lazy_flush_count;
		vm_space_fini(&S);
	}
	fake_tlb_set_observer(NULL);
	printf("# %llu cross-calls, %llu lazy flushes\n", (unsigned long long)st.call_count,
	       (unsigned long long)st.lazy_flush_count);
	T_EQ(__atomic_load_n(&gen_stale, __ATOMIC_RELAXED), 0);
	T_EQ(fake_frames_in_use(), frames_at_start);
}

int main(void)
{
	fake_arch_init();
	frames_at_start = fake_frames_in_use();
	tap_run("blocking_unmap_waits_for_unpin", t_blocking_unmap_waits_for_unpin, NULL);
	tap_run("pins_unmaps_faults_on_cpus", t_pins_unmaps_faults_on_cpus, NULL);
	tap_run("no_stale_translation_after_unmap", t_no_stale_translation_after_unmap, NULL);
	return tap_finish();
}
