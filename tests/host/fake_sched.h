/*
 * Host threads as Keel threads (fake_sched.c): sched_self, sched_park and sched_unpark
 * over a mutex and condition variable per thread, time_ns from CLOCK_MONOTONIC.
 */
#ifndef TESTS_HOST_FAKE_SCHED_H
#define TESTS_HOST_FAKE_SCHED_H

#include <keel/types.h>

/* Times sched_park was called (a thread actually went to sleep, or found its permit). */
uint64_t fake_park_count(void);

#endif
