/*
 * The vCPU scheduler (sched.c): one run queue shared by every CPU with VMX on, and the
 * loop that enters a vCPU, dispatches its exits and decides when it gives its CPU up.
 */
#ifndef VMM_SCHED_H
#define VMM_SCHED_H

#include "guest.h"

/* Called once per guest, on the CPU whose vCPU retired last, when all its vCPUs have. */
typedef void (*sched_guest_done_fn)(struct guest *g);

/* Queues every vCPU of g (state GUEST_NEW -> GUEST_RUNNING when the run starts). */
void sched_add_guest(struct guest *g);
/* Runs every queued vCPU on every CPU with VMX on until all guests ended, calling
 * done for each guest as it finishes. Boot CPU. */
void sched_run(sched_guest_done_fn done);

#endif
