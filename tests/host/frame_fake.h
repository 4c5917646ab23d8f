/* Fake physical memory for host tests of kernel/frame.c: see frame_fake.c. */
#ifndef KEEL_TESTS_FRAME_FAKE_H
#define KEEL_TESTS_FRAME_FAKE_H

#include <keel/types.h>

/* Physical address of the arena's first byte: nothing below 1 MiB is backed. */
#define FAKE_PHYS_BASE MiB(1)

/* Reserves (lazily) size bytes of fake physical memory starting at FAKE_PHYS_BASE. */
void fake_arena_init(uint64_t size);
/* Drops the arena's contents (zero again) so big tests do not keep host memory. */
void fake_arena_discard(void);
/* Sets the CPU number arch_cpu_id() reports on the calling thread (default 0). */
void fake_set_cpu(unsigned cpu);
/* When true (the default), printk output is dropped. */
extern bool fake_quiet;

/* Runs fn in a forked child (stderr silenced); true if it aborted (CHECK/panic). */
bool fake_child_panics(void (*fn)(void));

#endif
