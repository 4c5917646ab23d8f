/*
 * Sets of CPUs by dense index (0 .. MAX_CPUS-1), one bit each. A one-member struct so
 * a mask is never confused with a plain integer. Plain functions work on private
 * copies; the _atomic ones on masks that several CPUs update (online CPUs, the CPUs
 * running an address space). No arch details here: host tests use it as is.
 */
#ifndef KEEL_CPUMASK_H
#define KEEL_CPUMASK_H

#include <keel/arch.h>
#include <keel/compiler.h>

_Static_assert(MAX_CPUS <= 64, "cpumask_t holds at most 64 CPUs");

typedef struct {
	uint64_t bits;
} cpumask_t;

#define CPUMASK_NONE ((cpumask_t){ 0 })

static inline cpumask_t cpumask_of(unsigned cpu)
{
	return (cpumask_t){ 1ull << cpu };
}

/* CPUs 0 .. n-1. */
static inline cpumask_t cpumask_first_n(unsigned n)
{
	return (cpumask_t){ n >= 64 ? ~0ull : (1ull << n) - 1 };
}

static inline bool cpumask_test(cpumask_t m, unsigned cpu)
{
	return cpu < 64 && (m.bits >> cpu) & 1;
}
static inline void cpumask_set(cpumask_t *m, unsigned cpu)
{
	m->bits |= 1ull << cpu;
}
static inline void cpumask_clear(cpumask_t *m, unsigned cpu)
{
	m->bits &= ~(1ull << cpu);
}
static inline bool cpumask_is_empty(cpumask_t m)
{
	return m.bits == 0;
}
static inline unsigned cpumask_weight(cpumask_t m)
{
	/* SWAR popcount: the kernel is built without POPCNT and without libgcc */
	uint64_t x = m.bits - ((m.bits >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}
static inline cpumask_t cpumask_and(cpumask_t a, cpumask_t b)
{
	return (cpumask_t){ a.bits & b.bits };
}
static inline cpumask_t cpumask_or(cpumask_t a, cpumask_t b)
{
	return (cpumask_t){ a.bits | b.bits };
}
/* a without the CPUs in b. */
static inline cpumask_t cpumask_andnot(cpumask_t a, cpumask_t b)
{
	return (cpumask_t){ a.bits & ~b.bits };
}
static inline bool cpumask_equal(cpumask_t a, cpumask_t b)
{
	return a.bits == b.bits;
}

/* Lowest CPU in m at or above from, or MAX_CPUS if none. */
static inline unsigned cpumask_next(cpumask_t m, unsigned from)
{
	if (from >= 64)
		return MAX_CPUS;
	uint64_t rest = m.bits & (~0ull << from);
	return rest ? (unsigned)__builtin_ctzll(rest) : MAX_CPUS;
}

#define cpumask_for_each(cpu, m) \
	for ((cpu) = cpumask_next((m), 0); (cpu) < MAX_CPUS; (cpu) = cpumask_next((m), (cpu) + 1))

/* Shared masks: single-bit atomic updates, and an untorn snapshot. */
static inline void cpumask_set_atomic(cpumask_t *m, unsigned cpu)
{
	__atomic_fetch_or(&m->bits, 1ull << cpu, __ATOMIC_ACQ_REL);
}
static inline void cpumask_clear_atomic(cpumask_t *m, unsigned cpu)
{
	__atomic_fetch_and(&m->bits, ~(1ull << cpu), __ATOMIC_ACQ_REL);
}
static inline cpumask_t cpumask_read(const cpumask_t *m)
{
	return (cpumask_t){ __atomic_load_n(&m->bits, __ATOMIC_ACQUIRE) };
}

#endif
