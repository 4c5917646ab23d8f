/*
 * gdbme: the guest of the scripted gdb session (scripts/debug-test.sh). gdb_stop_here
 * computes square_plus(seed * 3); the session breaks there, reads `local`, steps into
 * square_plus, writes POKE_MAGIC into `poke`, single-steps and detaches; with arg=1
 * this guest then checks it saw the write. Without a debugger (arg=0) it checks only
 * the arithmetic. Expected: exit status 0.
 */
#include "keel_guest.h"

#define POKE_MAGIC 0x600dcafeu

volatile uint32_t poke; /* written by the debugger */

/* Unoptimised, so every local lives where the debug information says. */
#define DEBUGGABLE __attribute__((noinline, optimize("O0")))

DEBUGGABLE static int square_plus(int x)
{
	int y = x * x;
	return y + 1;
}

DEBUGGABLE static int gdb_stop_here(int seed)
{
	int local = seed * 3;
	int r = square_plus(local);
	return r;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)vcpu, (void)vcpu_count;
	tap_plan(arg ? 2 : 1);
	int r = gdb_stop_here(4);
	tap_ok(r == 145, "square_plus(12) = %d (want 145)", r);
	if (arg)
		tap_ok(poke == POKE_MAGIC, "the debugger's write is seen: poke = 0x%x (want 0x%x)",
		       (unsigned)poke, POKE_MAGIC);
	return tap_done();
}
