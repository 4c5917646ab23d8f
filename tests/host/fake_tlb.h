/*
 * Fake TLB and cross-CPU calls for the vm_space/TLB host tests: the arch_tlb_* and
 * arch_vm_space_load hooks record every request per fake CPU, and smp_call runs the
 * function directly on behalf of each target CPU (the calling thread takes the
 * target's CPU id while it runs), recording which CPUs were asked; smp_call_poll does
 * nothing (no call is ever queued). An ack hook runs
 * after each target's function and before smp_call returns: a test can look at the
 * world while that acknowledgement is held.
 */
#ifndef KEEL_TESTS_FAKE_TLB_H
#define KEEL_TESTS_FAKE_TLB_H

#include <keel/cpumask.h>
#include <keel/smp.h>

#include "mm/vm_space.h"

enum fake_tlb_kind { FAKE_TLB_RANGE, FAKE_TLB_ALL, FAKE_TLB_LOAD };

struct fake_tlb_event {
	unsigned cpu;
	enum fake_tlb_kind kind;
	const struct vm_space *space;
	uint64_t va, len; /* FAKE_TLB_RANGE */
};

#define FAKE_TLB_EVENTS_MAX 4096
#define FAKE_TLB_CPUS 4 /* smp_online_mask: the kernel table's flush targets */

/* arch_vm_space_tag_count for host spaces from now on (initially 4096; 0: untagged). */
void fake_tlb_set_tag_count(uint64_t count);

/* Forgets every recorded event and call; removes the ack hook. */
void fake_tlb_reset(void);
/* Events recorded so far (oldest first; at most FAKE_TLB_EVENTS_MAX kept). */
unsigned fake_tlb_event_count(void);
struct fake_tlb_event fake_tlb_event_at(unsigned i);
/* Events of one kind on one CPU (any space). */
unsigned fake_tlb_count(unsigned cpu, enum fake_tlb_kind kind);

/* smp_call invocations, and the union / last of the CPU sets they were asked to run on. */
unsigned fake_smp_call_count(void);
cpumask_t fake_smp_asked_mask(void);

/*
 * observer(event) runs for every recorded flush or load, on the thread doing it and
 * with the event's cpu set to the CPU it acts for (a model TLB can follow it).
 * Survives fake_tlb_reset; NULL removes it.
 */
void fake_tlb_set_observer(void (*observer)(const struct fake_tlb_event *e));

/* hook(cpu, ctx) runs after each target's function, before its acknowledgement. */
void fake_smp_set_ack_hook(void (*hook)(unsigned cpu, void *ctx), void *ctx);

#endif
