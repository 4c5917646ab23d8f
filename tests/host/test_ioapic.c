/*
 * Host tests of the I/O APIC's register model and routing (vmm/dev/ioapic_model.c),
 * against the 82093AA datasheet (3.2: ID, version, arbitration; 3.2.4: redirection
 * entries) and the width rules of ioapic.h. Offsets are decoded from a reference model
 * written here (a dword per register, bytes picked by shifts), for every offset of the
 * first 0x40 bytes and every size 1-8.
 */
#include <stdio.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "ioapic_model.h"

static uint32_t sel_read(struct ioapic_model *m, uint8_t reg)
{
	uint64_t v = 0;
	(void)ioapic_model_write(m, 0, 4, reg);
	(void)ioapic_model_read(m, 0x10, 4, &v);
	return (uint32_t)v;
}

static void sel_write(struct ioapic_model *m, uint8_t reg, uint32_t val)
{
	(void)ioapic_model_write(m, 0, 4, reg);
	(void)ioapic_model_write(m, 0x10, 4, val);
}

static bool reset_state_and_identity(void)
{
	struct ioapic_model m;
	ioapic_model_reset(&m);
	T_ASSERT(sel_read(&m, 1) == 0x00170020); /* version 0x20, max entry 23 */
	T_ASSERT(sel_read(&m, 0) == 0 && sel_read(&m, 2) == 0);
	for (unsigned i = 0; i < IOAPIC_PINS; i++) {
		T_ASSERT(sel_read(&m, (uint8_t)(0x10 + 2 * i)) == 0x00010000); /* masked */
		T_ASSERT(sel_read(&m, (uint8_t)(0x11 + 2 * i)) == 0);
	}
	sel_write(&m, 0, 0xFFFFFFFF);
	T_ASSERT(sel_read(&m, 0) == 0x0F000000 && sel_read(&m, 2) == 0x0F000000);
	sel_write(&m, 1, 0);
	T_ASSERT(sel_read(&m, 1) == 0x00170020); /* read-only */
	sel_write(&m, 0x40, 0x1234);		 /* past entry 23: nothing */
	T_ASSERT(sel_read(&m, 0x40) == 0 && sel_read(&m, 0x3F) == 0);
	return true;
}

static bool entries_keep_read_only_bits(void)
{
	struct ioapic_model m;
	ioapic_model_reset(&m);
	for (unsigned i = 0; i < IOAPIC_PINS; i++) {
		sel_write(&m, (uint8_t)(0x10 + 2 * i), 0xFFFFFFFF);
		sel_write(&m, (uint8_t)(0x11 + 2 * i), 0xFFFFFFFF);
		/* bits 12 (delivery status) and 14 (remote IRR) read-only; the reserved
		 * bits keep what is written, as on QEMU */
		T_ASSERT(sel_read(&m, (uint8_t)(0x10 + 2 * i)) == 0xFFFFAFFF);
		T_ASSERT(sel_read(&m, (uint8_t)(0x11 + 2 * i)) == 0xFFFFFFFF);
		T_ASSERT(m.rte[i] == 0xFFFFFFFFFFFFAFFFull);
	}
	sel_write(&m, 0x12, 0x00008031);
	T_ASSERT(m.rte[1] == 0xFFFFFFFF00008031ull && m.rte[0] == 0xFFFFFFFFFFFFAFFFull);
	return true;
}

/* The reference: the page as dwords (IOREGSEL, IOWIN = the selected register). */
static uint64_t ref_read(const struct ioapic_model *m, uint64_t off, unsigned size)
{
	uint32_t dw = 0;
	if ((off & ~3ull) == 0)
		dw = m->sel;
	else if ((off & ~3ull) == 0x10 && m->sel >= 0x10 && m->sel < 0x40)
		dw = (uint32_t)(m->rte[(m->sel - 0x10) / 2] >> (m->sel & 1 ? 32 : 0));
	else if ((off & ~3ull) == 0x10 && m->sel == 1)
		dw = 0x00170020; /* version 0x20 (QEMU's default), 24 pins */
	else if ((off & ~3ull) == 0x10 && (m->sel == 0 || m->sel == 2))
		dw = m->id;
	uint64_t v = (uint64_t)dw >> (8 * (off & 3));
	return size >= 4 ? v : v & ((1ull << (8 * size)) - 1);
}

static bool every_offset_and_width(void)
{
	struct ioapic_model m;
	ioapic_model_reset(&m);
	sel_write(&m, 0x14, 0x0000A0B5); /* entry 2 low */
	(void)ioapic_model_write(&m, 0, 4, 0x14);
	for (uint64_t off = 0; off < 0x40; off++)
		for (unsigned size = 1; size <= 8; size++) {
			uint64_t v = 0x5A5A;
			int err = ioapic_model_read(&m, off, size, &v);
			bool ok = size <= 4 && (off & 3) + size <= 4;
			T_ASSERT(ok ? err == 0 : err == -EINVAL);
			T_ASSERT(!ok || v == ref_read(&m, off, size));
			T_ASSERT(ok || v == 0x5A5A); /* nothing written on refusal */
		}
	return true;
}

static bool narrow_writes_merge(void)
{
	struct ioapic_model m;
	ioapic_model_reset(&m);
	(void)ioapic_model_write(&m, 0, 1, 0x16); /* byte IOREGSEL: entry 3 low */
	T_ASSERT(m.sel == 0x16);
	(void)ioapic_model_write(&m, 1, 1, 0xFF); /* upper IOREGSEL bytes: ignored */
	T_ASSERT(m.sel == 0x16);
	T_ASSERT(ioapic_model_write(&m, 0x10, 1, 0x41) == 0);
	T_ASSERT(m.rte[3] == 0x00010041);
	T_ASSERT(ioapic_model_write(&m, 0x12, 2, 0x0000) == 0); /* unmask through bits 31:16 */
	T_ASSERT(m.rte[3] == 0x00000041);
	T_ASSERT(ioapic_model_write(&m, 0x11, 1, 0x81) == 0); /* level, fixed; bit 8: lowest */
	T_ASSERT(m.rte[3] == 0x00008141);
	T_ASSERT(ioapic_model_write(&m, 0x10, 8, ~0ull) == -EINVAL && m.rte[3] == 0x00008141);
	T_ASSERT(ioapic_model_write(&m, 0x12, 4, ~0ull) == -EINVAL && m.rte[3] == 0x00008141);
	T_ASSERT(ioapic_model_write(&m, 0x20, 4, 5) == 0 && m.rte[3] == 0x00008141);
	return true;
}

/* QEMU's model: the registers repeat every 256 bytes; a dword EOI write clears the
 * remote IRR of the entries with that vector (and nothing else). */
static bool aliases_and_eoi(void)
{
	struct ioapic_model m;
	uint64_t v = 0;
	ioapic_model_reset(&m);
	T_ASSERT(ioapic_model_write(&m, 0x300, 4, 1) == 0 && m.sel == 1);
	T_ASSERT(ioapic_model_read(&m, 0x710, 4, &v) == 0 && v == 0x00170020);
	m.rte[5] = 0x0000000000005031ull; /* level, remote IRR set, vector 0x31 */
	m.rte[6] = 0x0000000000005032ull;
	T_ASSERT(ioapic_model_write(&m, 0x40, 2, 0x31) == 0 && m.rte[5] == 0x5031);
	T_ASSERT(ioapic_model_write(&m, 0x40, 4, 0x31) == 0);
	T_ASSERT(m.rte[5] == 0x1031 && m.rte[6] == 0x5032);
	T_ASSERT(ioapic_model_read(&m, 0x40, 4, &v) == 0 && v == 0);
	return true;
}

static bool routing_by_destination_and_mode(void)
{
	struct ioapic_route r;
	/* physical, fixed, vector 0x40, APIC 2 of 4 */
	T_ASSERT(ioapic_model_route(0x0200000000000040ull, 4, &r));
	T_ASSERT(r.vector == 0x40 && r.targets == 4 && !r.lowest && !r.level);
	T_ASSERT(!ioapic_model_route(0x0400000000000040ull, 4, &r)); /* APIC 4: none */
	T_ASSERT(ioapic_model_route(0xFF00000000000040ull, 3, &r) && r.targets == 7); /* all */
	/* logical flat: bits 0 and 2; lowest priority; level */
	T_ASSERT(ioapic_model_route(0x0500000000008940ull, 4, &r));
	T_ASSERT(r.targets == 5 && r.lowest && r.level);
	T_ASSERT(ioapic_model_route(0xF000000000000840ull, 5, &r) && r.targets == 0x10);
	T_ASSERT(!ioapic_model_route(0x0000000000010040ull, 1, &r)); /* masked */
	T_ASSERT(!ioapic_model_route(0x000000000000040Full, 1, &r)); /* vector < 16 */
	for (unsigned dm = 2; dm < 8; dm++) /* SMI, NMI, INIT, ExtINT, reserved */
		T_ASSERT(!ioapic_model_route(0x40ull | (uint64_t)dm << 8, 1, &r));
	T_ASSERT(!ioapic_model_route(0x0000000000000840ull, 8, &r)); /* logical, no bit */
	return true;
}

static const struct fake_test tests[] = {
	{ "reset_state_and_identity", reset_state_and_identity },
	{ "entries_keep_read_only_bits", entries_keep_read_only_bits },
	{ "every_offset_and_width", every_offset_and_width },
	{ "narrow_writes_merge", narrow_writes_merge },
	{ "aliases_and_eoi", aliases_and_eoi },
	{ "routing_by_destination_and_mode", routing_by_destination_and_mode },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
