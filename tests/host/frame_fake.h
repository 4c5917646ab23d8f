/* Fake physical memory for host tests of kernel/frame.c: see frame_fake.c. */
#ifndef KEEL_TESTS_FRAME_FAKE_H
#define KEEL_TESTS_FRAME_FAKE_H

#include "fake_cpu.h"
#include <keel/types.h>

/* Physical address of the arena's first byte: nothing below 1 MiB is backed. */
#define FAKE_PHYS_BASE MiB(1)

/* Reserves (lazily) size bytes of fake physical memory starting at FAKE_PHYS_BASE. */
void fake_arena_init(uint64_t size);
/* Drops the arena's contents (zero again) so big tests do not keep host memory. */
void fake_arena_discard(void);
/* When true (the default), printk output is dropped. */
extern bool fake_quiet;

/* Runs fn in a forked child (stderr silenced); true if it aborted (CHECK/panic). */
bool fake_child_panics(void (*fn)(void));

/* ---- the harness the frame and heap host tests share ---- */
struct fake_test {
	const char *name;
	bool (*fn)(void);
};
extern char fake_why[256]; /* why the running test failed */

/* Fails the running test (which returns bool) with file, line and expression. */
#define T_ASSERT(cond)                                                                        \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			snprintf(fake_why, sizeof(fake_why), "%s:%d: %s", __FILE__, __LINE__, \
				 #cond);                                                      \
			return false;                                                         \
		}                                                                             \
	} while (0)

/* Deterministic PRNG (xorshift64*): set fake_rng_state to seed it (non-zero). */
extern uint64_t fake_rng_state;
uint64_t fake_rng_next(void);

/*
 * Runs the tests as TAP. Arguments: -v shows printk output; any other word runs only the
 * tests whose name contains it (the others print "# SKIP"). before_each (may be NULL)
 * runs before every test. Returns the process exit status.
 */
int fake_run_tests(const struct fake_test *tests, size_t count, int argc, char **argv,
		   void (*before_each)(void));

#endif
