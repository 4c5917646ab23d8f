/*
 * Epoch-based grace periods for lock-free page-table walkers (kernel/mm only).
 *
 * A reader (a cursor descending without locks) brackets its accesses with
 * epoch_read_lock/epoch_read_unlock on its CPU's slot. epoch_synchronize returns only
 * when every reader that might have seen memory unpublished before the call has left its
 * section, so that memory can then be freed and reused. Per-CPU slots (MAX_CPUS) nest.
 *
 * Rules: the reader must not migrate CPUs inside a section; epoch_synchronize must not be
 * called inside a section on the same CPU (it would wait for itself) nor while holding a
 * spinlock that a reader may spin on, nor with interrupts disabled and a spinlock held.
 */
#ifndef KEEL_MM_EPOCH_H
#define KEEL_MM_EPOCH_H

#include <keel/compiler.h>

/* Enters a read section on this CPU; returns the slot to pass to epoch_read_unlock. */
unsigned epoch_read_lock(void);
void epoch_read_unlock(unsigned slot);
/* Waits for a grace period (see above). */
void epoch_synchronize(void);
/* Statistics for tests: grace periods completed. */
uint64_t epoch_grace_count(void);

#endif
