/*
 * The fake architecture of the host unit tests: fake physical memory (addresses that
 * are NOT host pointers: FAKE_PA_BASE is non-canonical on x86-64 hosts, so using a
 * physical address as a pointer faults), a frame allocator implementing
 * include/keel/frame.h over it with failure injection and counters, thread-backed
 * "CPUs" (arch_cpu_id from a thread-local index) and no-op interrupt control.
 */
#ifndef KEEL_TESTS_FAKE_ARCH_H
#define KEEL_TESTS_FAKE_ARCH_H

#include "fake_cpu.h"
#include <keel/arch.h>
#include <keel/frame.h>

#define FAKE_PA_BASE (1ull << 51)   /* 2 PiB: non-canonical as a host pointer */
#define FAKE_FRAME_COUNT (1u << 16) /* 256 MiB of fake RAM */

/* Sets up (or resets, when everything is free) the fake memory. Idempotent. */
void fake_arch_init(void);

/*
 * fake_arch_init, then writes (unchanged) a byte of every page of the fake memory, the
 * frame metadata and the allocator's bitmap, so that no host first-touch page fault
 * happens later (benchmarks). Changes no content.
 */
void fake_arch_prefault(void);

/* Frames allocated now (blocks count 2^order frames). */
uint64_t fake_frames_in_use(void);
/* Allocations of FRAME_PT_NODE frames now live. */
uint64_t fake_pt_nodes_in_use(void);
/* frame_alloc_raw fills blocks with 0xa5 (default: unwritten bytes show) or, when false
 * (the benchmark), leaves them as they are. */
extern bool fake_raw_poison;
/* frame_free fills freed page-table nodes with 0xdb (default: a walker reading a freed
 * node trips a CHECK) or, when false (the benchmark, like kernel/frame.c), not. */
extern bool fake_free_poison;
/*
 * Failure injection: after `n` more successful frame_alloc calls, every call fails
 * until fake_fail_off(). n = 0 fails the next call.
 */
void fake_fail_after(long n);
void fake_fail_off(void);

#endif
