/* Fake TLB hooks and smp_call for host tests (see fake_tlb.h). One mutex guards the log. */
#include <pthread.h>

#include <keel/check.h>

#include "fake_arch.h"
#include "fake_tlb.h"

static pthread_mutex_t fake_tlb_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_tlb_event fake_tlb_log[FAKE_TLB_EVENTS_MAX];
static unsigned fake_tlb_logged;
static unsigned fake_tlb_counts[MAX_CPUS][3];
static unsigned fake_smp_calls;
static cpumask_t fake_smp_asked;
static void (*fake_ack_hook)(unsigned cpu, void *ctx);
static void *fake_ack_ctx;
static void (*fake_observer)(const struct fake_tlb_event *e);
static uint64_t fake_tag_count = VM_SPACE_TAG_COUNT_MAX;

void fake_tlb_set_observer(void (*observer)(const struct fake_tlb_event *e))
{
	__atomic_store_n(&fake_observer, observer, __ATOMIC_RELEASE);
}

static void fake_tlb_record(enum fake_tlb_kind kind, const struct vm_space *s, uint64_t va,
			    uint64_t len)
{
	struct fake_tlb_event e = {
		.cpu = arch_cpu_id(), .kind = kind, .space = s, .va = va, .len = len
	};
	void (*observer)(const struct fake_tlb_event *) =
	    __atomic_load_n(&fake_observer, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&fake_tlb_lock);
	if (fake_tlb_logged < FAKE_TLB_EVENTS_MAX)
		fake_tlb_log[fake_tlb_logged++] = e;
	fake_tlb_counts[e.cpu][kind]++;
	pthread_mutex_unlock(&fake_tlb_lock);
	if (observer)
		observer(&e);
}

void fake_tlb_set_tag_count(uint64_t count)
{
	__atomic_store_n(&fake_tag_count, count, __ATOMIC_RELAXED);
}

uint64_t arch_vm_space_tag_count(enum vm_space_kind kind)
{
	return kind == VM_SPACE_HOST_USER ? __atomic_load_n(&fake_tag_count, __ATOMIC_RELAXED) : 0;
}

void arch_tlb_flush_range(struct vm_space *s, vaddr_t va, uint64_t len)
{
	/* the contract (tlb.h) is the format's capability, not the space's kind */
	CHECK(!s->table.fmt->no_addr_invalidate && len && IS_ALIGNED(va.v | len, PAGE_SIZE));
	fake_tlb_record(FAKE_TLB_RANGE, s, va.v, len);
}

void arch_tlb_flush_all(struct vm_space *s)
{
	fake_tlb_record(FAKE_TLB_ALL, s, 0, 0);
}

void arch_vm_space_load(struct vm_space *s)
{
	fake_tlb_record(FAKE_TLB_LOAD, s, 0, 0);
}

void fake_tlb_reset(void)
{
	pthread_mutex_lock(&fake_tlb_lock);
	fake_tlb_logged = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		for (unsigned k = 0; k < 3; k++)
			fake_tlb_counts[c][k] = 0;
	fake_smp_calls = 0;
	fake_smp_asked = CPUMASK_NONE;
	fake_ack_hook = NULL;
	fake_ack_ctx = NULL;
	pthread_mutex_unlock(&fake_tlb_lock);
}

unsigned fake_tlb_event_count(void)
{
	unsigned n;

	pthread_mutex_lock(&fake_tlb_lock);
	n = fake_tlb_logged;
	pthread_mutex_unlock(&fake_tlb_lock);
	return n;
}

struct fake_tlb_event fake_tlb_event_at(unsigned i)
{
	struct fake_tlb_event e;

	pthread_mutex_lock(&fake_tlb_lock);
	CHECK(i < fake_tlb_logged);
	e = fake_tlb_log[i];
	pthread_mutex_unlock(&fake_tlb_lock);
	return e;
}

unsigned fake_tlb_count(unsigned cpu, enum fake_tlb_kind kind)
{
	unsigned n;

	pthread_mutex_lock(&fake_tlb_lock);
	n = fake_tlb_counts[cpu][kind];
	pthread_mutex_unlock(&fake_tlb_lock);
	return n;
}

unsigned fake_smp_call_count(void)
{
	unsigned n;

	pthread_mutex_lock(&fake_tlb_lock);
	n = fake_smp_calls;
	pthread_mutex_unlock(&fake_tlb_lock);
	return n;
}

cpumask_t fake_smp_asked_mask(void)
{
	cpumask_t m;

	pthread_mutex_lock(&fake_tlb_lock);
	m = fake_smp_asked;
	pthread_mutex_unlock(&fake_tlb_lock);
	return m;
}

void fake_smp_set_ack_hook(void (*hook)(unsigned cpu, void *ctx), void *ctx)
{
	pthread_mutex_lock(&fake_tlb_lock);
	fake_ack_hook = hook;
	fake_ack_ctx = ctx;
	pthread_mutex_unlock(&fake_tlb_lock);
}

/*
 * CPUs 0 .. FAKE_TLB_CPUS - 1 are online (smp_online_mask) and any CPU can be called. Runs fn on behalf of each target in turn (the caller's own
 * CPU directly), then its ack hook, and returns after the last one: wait semantics
 * whatever `wait` says, which is stronger than the contract.
 */
unsigned smp_call(cpumask_t cpus, smp_call_fn fn, void *arg, bool wait)
{
	unsigned me = arch_cpu_id(), cpu, n = 0;
	void (*hook)(unsigned, void *);
	void *ctx;

	(void)wait;
	pthread_mutex_lock(&fake_tlb_lock);
	fake_smp_calls++;
	fake_smp_asked = cpumask_or(fake_smp_asked, cpus);
	hook = fake_ack_hook;
	ctx = fake_ack_ctx;
	pthread_mutex_unlock(&fake_tlb_lock);
	cpumask_for_each (cpu, cpus) {
		fake_set_cpu(cpu);
		fn(arg);
		fake_set_cpu(me);
		if (hook)
			hook(cpu, ctx);
		n++;
	}
	return n;
}

cpumask_t smp_online_mask(void)
{
	return cpumask_first_n(FAKE_TLB_CPUS);
}

/* Calls run synchronously in smp_call: nothing is ever queued. */
void smp_call_poll(void)
{
}
