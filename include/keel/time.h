/*
 * Time for generic code: a monotonic nanosecond clock, busy-wait delays and the
 * periodic tick. The x86-64 implementation (arch/x86_64/time.c) counts the TSC,
 * calibrated against the legacy PIT at boot, and ticks with the local APIC timer.
 */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <keel/types.h>

#define NSEC_PER_USEC 1000ull
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

/*
 * Calibrates the clock (prints the frequency found). Call once on the boot CPU,
 * after the console and before anything waits. Until then udelay still works (it
 * polls the PIT) and time_ns returns 0.
 */
void time_init(void);

/* Nanoseconds since time_init. Monotonic on each CPU; across CPUs as far as their
 * cycle counters agree (invariant, synchronised TSCs on current machines and in the
 * emulators). */
uint64_t time_ns(void);

/* Busy-waits at least us microseconds (or ms milliseconds). Any context. */
void udelay(uint64_t us);
void mdelay(uint64_t ms);

/* Cycle-counter frequency in Hz (0 before time_init). */
uint64_t time_cycles_hz(void);

/* Periodic tick: frequency, and how many ticks CPU cpu has taken so far. The tick
 * starts on each CPU when its interrupt controller is set up. */
unsigned time_tick_hz(void);
uint64_t time_tick_count(unsigned cpu);
/* Tick interrupt body (arch interrupt code calls it on every tick). */
void time_tick(void);

#endif
