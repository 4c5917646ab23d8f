/*
 * Port I/O exits: decodes the qualification (SDM Vol 3C 28.2.1 table 28-5: bits 2:0
 * size - 1, 3 direction in, 4 string, 31:16 port) and hands the access to the device
 * bus (dev/dev.h). Ports no device claims read all ones and ignore writes.
 */
#include "dev/dev.h"
#include "exit_handlers.h"
#include "vcpu.h"

enum exit_action exit_io(struct vcpu *v)
{
	uint64_t q = v->exit_qual;
	unsigned port = (unsigned)(q >> 16) & 0xFFFF;
	bool in = (q >> 3) & 1;
	unsigned size = (unsigned)(q & 7) + 1;
	if (q & (1u << 4))
		return guest_kill(v->guest, "string I/O on port 0x%x is not emulated", port);
	uint64_t mask = vdev_size_mask(size), val = v->regs.rax & mask;
	enum exit_action a = EXIT_RESUME;
	if (!vdev_access(v, VDEV_PIO, port, size, !in, &val, &a) && in)
		val = mask; /* no device: all ones */
	if (a != EXIT_RESUME)
		return a;
	/* A 32-bit IN zero-extends into RAX; 8/16-bit ones keep the rest. */
	if (in)
		v->regs.rax = size == 4 ? val : (v->regs.rax & ~mask) | val;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}
