/*
 * x86-64 side of timekeeping (arch/x86_64/time.c): the TSC and PIT details that
 * generic code does not see (it uses include/keel/time.h).
 */
#ifndef ARCH_TIME_H
#define ARCH_TIME_H

#include <keel/types.h>

/* a * b / c with a 128-bit intermediate (MUL, then DIV of RDX:RAX). The quotient
 * must fit in 64 bits and c must be nonzero. */
static inline uint64_t muldiv64(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t lo = a, hi, q, r;
	__asm__("mulq %2" : "+a"(lo), "=d"(hi) : "rm"(b) : "cc");
	__asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(c) : "cc");
	(void)r;
	return q;
}

/* Busy-waits about us microseconds on PIT channel 2 (no TSC calibration needed). */
void pit_delay_us(uint64_t us);

/* Starts the periodic tick on an AP (after apic_init_ap); time_init does it on
 * the boot CPU. */
void time_init_ap(void);

/* TSC value at time_init (time_ns counts from it). */
extern uint64_t time_tsc_base;

#endif
