/*
 * fuzz: KEEL_FUZZ_CALLS hypercalls with random numbers (known, unknown and past the
 * table) and random arguments: zero, one, all ones, wild 64-bit values, unaligned,
 * wrapping and huge lengths, addresses in the page-table area, in MMIO (the LAPIC and
 * I/O APIC pages), just below and above the end of RAM. Every call must come back with
 * the result a model of the ABI predicts (which error, or success and its value, from
 * the arguments alone); Keel must neither fault nor end the guest.
 * The seed is arg= (0: a fixed default) and printed first, so a run is reproducible.
 * Only what would destroy the guest itself is kept away: exit is never called, timers
 * are cancelled at once (interrupts stay off: no IDT), and calls that write guest RAM
 * (mem_release, mem_op's destination, exit_stats' buffer) get SCRATCH instead of an
 * address inside RAM below it. Run with mem=8M.
 * Expected: TAP all ok, exit status 0.
 */
#include "keel_guest.h"

#define CALLS 10000u
#define RAM (8u << 20)
#define SCRATCH 0x400000u /* [4 MiB, 8 MiB - stacks): the guest's own rubble */
#define SCRATCH_END 0x700000u

static uint64_t state;
static unsigned issued; /* hypercalls made */
static unsigned odd;	/* answers the model did not predict */
static uint64_t desc[4];

static uint64_t next(void)
{
	state ^= state << 13; /* xorshift64 */
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* A value from a mix of the shapes that break parsers. */
static uint64_t value(void)
{
	static const uint64_t special[] = { 0,		1,	    4095,	4096,
					    0x1000,	0x3FF8,	    0xFEE00000, 0xFEC00000,
					    RAM - 8,	RAM,	    RAM + 4096, 0x7FFFFFFF,
					    0xFFFFFFFF, 1ull << 32, 1ull << 47, ~0ull,
					    ~0ull - 7,	1ull << 63, 0x100000,	KEEL_MEM_OP_MAX };
	uint64_t r = next();
	switch (r % 4) {
	case 0:
		return special[(r >> 8) % ARRAY_SIZE(special)];
	case 1:
		return next(); /* wild */
	case 2:
		return (r >> 8) % RAM; /* somewhere in RAM, any alignment */
	default:
		return ((r >> 8) % (RAM / 4096)) * 4096; /* a page of RAM */
	}
}

/* An address the call may write: inside RAM below SCRATCH becomes SCRATCH's. */
static uint64_t writable(uint64_t a)
{
	if (a < SCRATCH)
		return SCRATCH + (a & 0xFFFF);
	if (a >= SCRATCH_END && a < RAM)
		return SCRATCH + (a & 0xFFFF);
	return a;
}

#define EFAULT_RET (-14)
#define EINVAL_RET (-22)
#define ENOSYS_RET (-38)
#define EPERM_RET (-1)
#define UNPREDICTED (-1000) /* the model makes no claim */

/* Is [a, a + len) inside RAM (and not wrapping)? */
static bool in_ram(uint64_t a, uint64_t len)
{
	return a < RAM && len <= RAM - a;
}

/* mem_op's answer for the descriptor words w (include/uapi/hypercalls.tab). */
static long model_mem_op(const uint64_t *w)
{
	uint64_t op = w[0], dst = w[1], src = w[2], len = w[3];
	if ((op != KEEL_MEM_OP_COPY && op != KEEL_MEM_OP_FILL) || !len || len > KEEL_MEM_OP_MAX ||
	    !in_ram(dst, len))
		return EINVAL_RET;
	if (op == KEEL_MEM_OP_FILL)
		return src <= 0xFF ? (long)len : EINVAL_RET;
	if (!in_ram(src, len) || !(src + len <= dst || dst + len <= src))
		return EINVAL_RET;
	return (long)len;
}

/* What the ABI says call nr with a0, a1 returns (64-bit guest). */
static long model(unsigned nr, uint64_t a0, uint64_t a1)
{
	switch (nr) {
	case KEEL_HC_CONSOLE_WRITE:
	case KEEL_HC_EXIT_STATS: {
		uint64_t max =
		    nr == KEEL_HC_CONSOLE_WRITE ? KEEL_HC_CONSOLE_MAX : KEEL_EXIT_STATS_BYTES;
		if (a1 > max)
			return EINVAL_RET;
		return !a1 ? 0 : in_ram(a0, a1) ? (long)a1 : EFAULT_RET;
	}
	case KEEL_HC_NOP:
	case KEEL_HC_VCPU_INFO:
		return 0;
	case KEEL_HC_TIMER_SET:
		return a0 > 60000000 || a1 < 32 || a1 > 255 ? EINVAL_RET : 0;
	case KEEL_HC_MEM_RELEASE:
		return ((a0 | a1) & 4095) || !a1 || !in_ram(a0, a1) ? EINVAL_RET : 0;
	case KEEL_HC_MEM_OP:
		if (!in_ram(a0, KEEL_MEM_OP_DESC_BYTES))
			return EFAULT_RET;
		return a0 == (uintptr_t)desc ? model_mem_op(desc) : UNPREDICTED;
	case KEEL_HC_GUEST_PAGES:
		return UNPREDICTED; /* > 0, checked below */
	case KEEL_HC_TEST_BAD_STATE:
		return EPERM_RET; /* no hooks=1 */
	case KEEL_HC_TEST_IRQ:
		return a0 > 23 ? EINVAL_RET : EPERM_RET; /* bounds first, then no hooks=1 */
	}
	return ENOSYS_RET;
}

/*
 * dump(what, buf, len): every dump prints pages of Keel's console, so `what` is mostly
 * out of its bounds and otherwise only the exit statistics (sometimes with the EPT
 * ranges into a scratch buffer); len stays within its maximum, whose refusal the
 * other buffers already exercise.
 */
static long call_dump(void)
{
	uint64_t what = value(), buf = writable(value()), len = value() % (KEEL_DUMP_BUF_MAX + 1);
	if (what >= 1 && what <= 7)
		what = (next() % 64) ? 8 + (what & 0xFF) : KEEL_DUMP_EXITS;
	if (what == KEEL_DUMP_EXITS && (next() & 1))
		what |= KEEL_DUMP_EPT;
	issued++;
	long rc = keel_hypercall(KEEL_HC_DUMP, what, buf, len);
	long want = what < 1 || what > 7       ? EINVAL_RET
		    : len && !in_ram(buf, len) ? EFAULT_RET
		    : (what & KEEL_DUMP_EPT)   ? (rc > 0 ? rc : 1) /* ranges: > 0 */
					       : 0;
	if (rc != want && ++odd <= 5)
		printf("# dump(0x%llx, 0x%llx, %llu) returned %ld, the ABI says %ld\n",
		       (unsigned long long)what, (unsigned long long)buf, (unsigned long long)len,
		       rc, want);
	return rc;
}

static long call(unsigned nr)
{
	uint64_t a0 = value(), a1 = value();
	switch (nr) {
	case KEEL_HC_DUMP:
		return call_dump();
	case KEEL_HC_EXIT:
		nr = KEEL_HC_NOP; /* exit would end the guest */
		break;
	case KEEL_HC_CONSOLE_WRITE:
		if (a0 < RAM && a1 <= KEEL_HC_CONSOLE_MAX)
			a1 &= 15; /* keep the log readable */
		break;
	case KEEL_HC_MEM_RELEASE:
	case KEEL_HC_EXIT_STATS:
		a0 = writable(a0);
		break;
	case KEEL_HC_MEM_OP:
		for (unsigned i = 0; i < 4; i++)
			desc[i] = value();
		desc[0] = next() % 4;
		desc[1] = writable(desc[1]);
		if ((next() & 3) == 0)
			desc[3] &= 0xFFFF; /* some plausible lengths */
		a0 = (next() & 1) ? (uintptr_t)desc : a0;
		break;
	case KEEL_HC_TIMER_SET: {
		long rc = keel_hypercall(nr, a0, a1, value());
		keel_hypercall(KEEL_HC_TIMER_SET, 0, 32, 0); /* cancel at once */
		issued += 2;
		return rc;
	}
	}
	issued++;
	long rc = keel_hypercall(nr, a0, a1, value());
	long want = model(nr, a0, a1);
	if (want != UNPREDICTED && rc != want) {
		if (++odd <= 5)
			printf("# call %u(0x%llx, 0x%llx) returned %ld, the ABI says %ld\n", nr,
			       (unsigned long long)a0, (unsigned long long)a1, rc, want);
	} else if (nr == KEEL_HC_GUEST_PAGES && rc <= 0) {
		odd++;
	} else if (want == UNPREDICTED && rc < 0 && rc != EINVAL_RET && rc != EFAULT_RET) {
		odd++; /* a descriptor of random memory: refused, or done */
	}
	return rc;
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)vcpu;
	(void)vcpu_count;
	state = arg ? arg : 0x9E3779B97F4A7C15ull;
	printf("fuzz: seed %llu (arg=%llu reproduces this run)\n", (unsigned long long)state,
	       (unsigned long long)state);
	tap_plan(2);
	unsigned ok = 0, errors = 0, unknown_nr = 0;
	for (unsigned i = 0; i < CALLS; i++) {
		unsigned nr = (unsigned)(next() % (KEEL_HC_COUNT + 3));
		long rc = call(nr);
		ok += rc >= 0;
		errors += rc < 0;
		unknown_nr += nr >= KEEL_HC_COUNT && rc == ENOSYS_RET;
	}
	keel_console_write("\n", 1); /* ends a line of random console bytes */
	tap_ok(odd == 0 && issued >= CALLS,
	       "%u random hypercalls answered as the ABI says: %u succeeded, %u refused, %u not",
	       issued, ok, errors, odd);
	tap_ok(unknown_nr > 0, "unknown numbers get -ENOSYS (%u times)", unknown_nr);
	return tap_done();
}
