/*
 * The I/O APIC's registers and routing as pure functions (ioapic_model.c), so they are
 * host-tested (tests/host/test_ioapic.c); ioapic.c puts them behind the MMIO page, a
 * lock and the delivery to vCPUs. Bit layouts: 82093AA I/O APIC datasheet 3.2
 * (IOAPICID, IOAPICVER, IOAPICARB) and 3.2.4 (redirection table entries).
 */
#ifndef VMM_DEV_IOAPIC_MODEL_H
#define VMM_DEV_IOAPIC_MODEL_H

#include <keel/types.h>

#define IOAPIC_PINS 24u
/* Version 0x20 (with the EOI register), as QEMU's `pc` machine has it by default. */
#define IOAPIC_VERSION (0x20u | (IOAPIC_PINS - 1) << 16)

#define IOAPIC_RTE_MASK (1ull << 16)

struct ioapic_model {
	uint32_t id;  /* IOAPICID: bits 27:24 */
	uint32_t sel; /* IOREGSEL: bits 7:0 */
	uint64_t rte[IOAPIC_PINS];
};

/* The state at reset: ID 0, every entry masked (datasheet 3.2.4). */
void ioapic_model_reset(struct ioapic_model *m);

/*
 * An access of size bytes at offset off of the page (IOREGSEL at 0x00, IOWIN at 0x10,
 * EOI at 0x40; the registers repeat every 256 bytes, as on QEMU). Inside IOREGSEL's or
 * IOWIN's dword, 1, 2 or 4 bytes read or write those bytes (a narrow write merges into
 * the register); a dword write to EOI ends the level-triggered interrupt of that vector
 * (clears remote IRR); other offsets read 0 and ignore writes. Returns 0, or -EINVAL
 * for a bad width (8 bytes, or crossing a dword): nothing done.
 */
int ioapic_model_read(const struct ioapic_model *m, uint64_t off, unsigned size, uint64_t *val);
int ioapic_model_write(struct ioapic_model *m, uint64_t off, unsigned size, uint64_t val);

/* Where redirection entry rte sends its interrupt among vcpu_count vCPUs. */
struct ioapic_route {
	unsigned vector;
	bool level;	  /* trigger mode */
	bool lowest;	  /* lowest priority: the first vCPU of `targets` that takes it */
	uint64_t targets; /* bit i: vCPU i (APIC ID i) */
};

/*
 * Decodes rte: false if it delivers nothing (masked, a delivery mode other than fixed or
 * lowest priority, a vector below 16, or no vCPU named). Physical destination mode: the
 * APIC ID in bits 63:56 (0xFF: all); logical: a bit per vCPU (the flat model, LDR =
 * 1 << APIC ID) for the first 8.
 */
bool ioapic_model_route(uint64_t rte, unsigned vcpu_count, struct ioapic_route *out);

#endif
