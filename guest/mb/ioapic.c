/*
 * ioapic: the I/O APIC at 0xFEC00000 as a kernel written for QEMU's `pc` finds it (paging
 * off, so the page is reached directly): the version register (0x20, 24 entries), the ID
 * and arbitration registers, a redirection entry written and read back with its read-only
 * bits (delivery status, remote IRR) kept, a byte write to IOREGSEL, and the registers
 * repeating every 256 bytes. Dword accesses to IOWIN only: narrower ones differ between
 * QEMU (read as 0) and Keel (the bytes), a difference no correct kernel sees.
 */
#include "mb.h"

#define IOAPIC 0xFEC00000u

static void wr(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(IOAPIC + off) = v;
}

static uint32_t rd(uint32_t off)
{
	return *(volatile uint32_t *)(IOAPIC + off);
}

static uint32_t reg_get(uint32_t reg)
{
	wr(0x00, reg);
	return rd(0x10);
}

static void reg_set(uint32_t reg, uint32_t v)
{
	wr(0x00, reg);
	wr(0x10, v);
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(6);
	printf("# entry 0 at start: %08x %08x\n", reg_get(0x11), reg_get(0x10));
	uint32_t ver = reg_get(0x01);
	tap_ok(ver == 0x00170020, "version register %08x (version 0x20, 24 entries)", ver);
	reg_set(0x00, 0x0A000000);
	tap_ok(reg_get(0x00) == 0x0A000000 && reg_get(0x02) == 0x0A000000,
	       "ID 10 written; ID and arbitration read it back");
	reg_set(0x10 + 2 * 23, 0x0001B0F1); /* masked, level, low polarity, bit 12 set */
	reg_set(0x11 + 2 * 23, 0x03000000);
	uint32_t lo = reg_get(0x10 + 2 * 23), hi = reg_get(0x11 + 2 * 23);
	tap_ok(lo == 0x0001A0F1, "entry 23 low reads back without delivery status (%08x)", lo);
	tap_ok(hi == 0x03000000, "entry 23 destination reads back (%08x)", hi);
	*(volatile uint8_t *)IOAPIC = 0x01;
	tap_ok(rd(0x10) == 0x00170020, "a byte write to IOREGSEL selects the version");
	wr(0x100, 0x10 + 2 * 23);
	tap_ok(rd(0x310) == 0x0001A0F1, "the registers repeat every 256 bytes");
	return tap_done();
}
