/*
 * The I/O APIC's registers and routing (ioapic_model.h): pure, no lock, no vCPU.
 */
#include <keel/errno.h>

#include "ioapic_model.h"

#define REG_ID 0x00
#define REG_VER 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10
#define OFF_SEL 0x00
#define OFF_WIN 0x10
#define OFF_EOI 0x40
#define OFF_ALIAS 0xFFull /* the registers repeat every 256 bytes of the page */

#define RTE_VECTOR 0xFFull
#define RTE_DM_SHIFT 8
#define RTE_DESTMODE (1ull << 11)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
/* Read-only: delivery status (bit 12) and remote IRR (bit 14). The reserved bits keep
 * what is written, as on QEMU (the datasheet leaves them undefined). */
#define RTE_WRITABLE (~(1ull << 12 | RTE_REMOTE_IRR))
#define ID_MASK 0x0F000000u

enum { DM_FIXED = 0, DM_LOWEST = 1 };

void ioapic_model_reset(struct ioapic_model *m)
{
	*m = (struct ioapic_model){ 0 };
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		m->rte[i] = IOAPIC_RTE_MASK;
}

static bool is_redir(unsigned idx)
{
	return idx >= REG_REDIR && idx < REG_REDIR + 2 * IOAPIC_PINS;
}

/* The 32-bit register idx (IOREGSEL's value); unknown ones read 0. */
static uint32_t reg_read(const struct ioapic_model *m, unsigned idx)
{
	if (idx == REG_ID || idx == REG_ARB)
		return m->id;
	if (idx == REG_VER)
		return IOAPIC_VERSION;
	if (is_redir(idx))
		return (uint32_t)(m->rte[(idx - REG_REDIR) / 2] >> (idx & 1 ? 32 : 0));
	return 0;
}

/* Writes the 32-bit register idx; read-only bits keep their value. */
static void reg_write(struct ioapic_model *m, unsigned idx, uint32_t val)
{
	if (idx == REG_ID)
		m->id = val & ID_MASK;
	if (!is_redir(idx))
		return;
	uint64_t *e = &m->rte[(idx - REG_REDIR) / 2];
	uint64_t v =
	    idx & 1 ? (uint64_t)val << 32 | (*e & 0xFFFFFFFFull) : (*e & ~0xFFFFFFFFull) | val;
	*e = (*e & ~RTE_WRITABLE) | (v & RTE_WRITABLE);
}

/* The dword at page offset dw as the guest sees it: IOREGSEL, IOWIN, or nothing. */
static uint32_t dword_read(const struct ioapic_model *m, uint64_t dw)
{
	return dw == OFF_SEL ? m->sel : dw == OFF_WIN ? reg_read(m, m->sel) : 0;
}

/* An EOI for vector: its level-triggered entries may interrupt again (82093AA v0x20). */
static void eoi(struct ioapic_model *m, unsigned vector)
{
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		if ((m->rte[i] & RTE_VECTOR) == vector)
			m->rte[i] &= ~RTE_REMOTE_IRR;
}

static bool width_ok(uint64_t off, unsigned size)
{
	return size && size <= 4 && (off & 3) + size <= 4;
}

int ioapic_model_read(const struct ioapic_model *m, uint64_t off, unsigned size, uint64_t *val)
{
	if (!width_ok(off, size))
		return -EINVAL;
	uint64_t v = dword_read(m, off & OFF_ALIAS & ~3ull) >> (8 * (off & 3));
	*val = size == 4 ? v : v & ((1ull << (8 * size)) - 1);
	return 0;
}

int ioapic_model_write(struct ioapic_model *m, uint64_t off, unsigned size, uint64_t val)
{
	if (!width_ok(off, size))
		return -EINVAL;
	uint64_t dw = off & OFF_ALIAS & ~3ull;
	if (dw == OFF_EOI && size == 4)
		eoi(m, (unsigned)val & 0xFF);
	unsigned sh = 8 * (unsigned)(off & 3);
	uint32_t mask = (uint32_t)(((1ull << (8 * size)) - 1) << sh);
	uint32_t v = (dword_read(m, dw) & ~mask) | ((uint32_t)(val << sh) & mask);
	if (dw == OFF_SEL)
		m->sel = v & 0xFF;
	else if (dw == OFF_WIN)
		reg_write(m, m->sel, v);
	return 0;
}

bool ioapic_model_route(uint64_t rte, unsigned vcpu_count, struct ioapic_route *out)
{
	unsigned dm = (unsigned)(rte >> RTE_DM_SHIFT) & 7, dest = (unsigned)(rte >> 56);
	uint64_t all = vcpu_count >= 64 ? ~0ull : (1ull << vcpu_count) - 1, t;
	if (rte & RTE_DESTMODE) /* logical, flat model */
		t = dest;
	else
		t = dest == 0xFF ? all : dest < 64 ? 1ull << dest : 0;
	*out = (struct ioapic_route){ .vector = (unsigned)(rte & RTE_VECTOR),
				      .level = rte & RTE_LEVEL,
				      .lowest = dm == DM_LOWEST,
				      .targets = t & all };
	return !(rte & IOAPIC_RTE_MASK) && (dm == DM_FIXED || dm == DM_LOWEST) &&
	       out->vector >= 16 && out->targets;
}
