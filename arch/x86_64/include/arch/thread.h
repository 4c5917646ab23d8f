/* Per-thread x86 state (arch/x86_64/thread.c). */
#ifndef ARCH_THREAD_H
#define ARCH_THREAD_H

#include <keel/errno.h>
#include <keel/sched.h>

/* The FXSAVE area (SDM Vol 1 10.5.1, Table 10-2): the fields the kernel sets. */
struct fxsave_area {
	uint16_t fcw, fsw;
	uint8_t ftw, reserved0;
	uint16_t fop;
	uint64_t fip, fdp;
	uint32_t mxcsr, mxcsr_mask;
	uint8_t regs[480];
} __aligned(16);
_Static_assert(sizeof(struct fxsave_area) == 512, "FXSAVE area");

struct arch_thread_state {
	struct fxsave_area fx;
};

/* Top of t's kernel stack (its own, or its CPU's boot stack). */
uint64_t arch_thread_stack_top(const struct thread *t);

#endif
