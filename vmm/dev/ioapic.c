/*
 * The I/O APIC (ioapic.h): its registers behind IOREGSEL/IOWIN and the routing of a
 * raised pin to vCPUs. Bit layouts: 82093AA I/O APIC datasheet 3.2 (IOAPICID, IOAPICVER,
 * IOAPICARB) and 3.2.4 (redirection table entries). Lock: the device's own spinlock, a
 * leaf (taken with interrupts off, nothing inside; delivery happens after it is let go).
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/spinlock.h>

#include "ioapic.h"

#define REG_ID 0x00
#define REG_VER 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10
#define OFF_SEL 0x00
#define OFF_WIN 0x10

#define RTE_VECTOR 0xFFull
#define RTE_DM_SHIFT 8
#define RTE_DESTMODE (1ull << 11)
#define RTE_MASK (1ull << 16)
/* Writable: vector, delivery mode, destination mode, polarity, trigger mode, mask,
 * destination (delivery status, bit 12, and remote IRR, bit 14, are read-only). */
#define RTE_WRITABLE (0xFFFull | 1ull << 13 | 1ull << 15 | RTE_MASK | 0xFFull << 56)
#define ID_MASK 0x0F000000u

enum { DM_FIXED = 0, DM_LOWEST = 1 };

/* [l] lock */
struct ioapic {
	spinlock_t lock;
	uint32_t id;  /* [l] IOAPICID: bits 27:24 */
	uint32_t sel; /* [l] IOREGSEL: bits 7:0 */
	uint64_t rte[IOAPIC_PINS];
	uint64_t raised, undelivered; /* [l] pins raised; raised but reaching no vCPU */
};

/* The 32-bit register idx (IOREGSEL's value). Caller holds the lock. */
static uint32_t reg_read(const struct ioapic *io, unsigned idx)
{
	if (idx == REG_ID || idx == REG_ARB)
		return io->id;
	if (idx == REG_VER)
		return IOAPIC_VERSION;
	if (idx >= REG_REDIR && idx < REG_REDIR + 2 * IOAPIC_PINS)
		return (uint32_t)(io->rte[(idx - REG_REDIR) / 2] >> (idx & 1 ? 32 : 0));
	return 0;
}

/* Writes the 32-bit register idx; read-only bits keep their value. Caller holds the lock. */
static void reg_write(struct ioapic *io, unsigned idx, uint32_t val)
{
	if (idx == REG_ID)
		io->id = val & ID_MASK;
	if (idx < REG_REDIR || idx >= REG_REDIR + 2 * IOAPIC_PINS)
		return;
	uint64_t *e = &io->rte[(idx - REG_REDIR) / 2];
	uint64_t v =
	    idx & 1 ? (uint64_t)val << 32 | (*e & 0xFFFFFFFFull) : (*e & ~0xFFFFFFFFull) | val;
	*e = (*e & ~RTE_WRITABLE) | (v & RTE_WRITABLE);
}

/* The dword at offset off & ~3 as the guest sees it: IOREGSEL, IOWIN, or nothing. */
static uint32_t dword_read(const struct ioapic *io, uint64_t dw)
{
	return dw == OFF_SEL ? io->sel : dw == OFF_WIN ? reg_read(io, io->sel) : 0;
}

static void dword_write(struct ioapic *io, uint64_t dw, uint32_t val)
{
	if (dw == OFF_SEL)
		io->sel = val & 0xFF;
	else if (dw == OFF_WIN)
		reg_write(io, io->sel, val);
}

static enum exit_action bad_width(struct vcpu *v, uint64_t off, unsigned size)
{
	return guest_kill(
	    v->guest,
	    "I/O APIC: bad width: %u-byte access at offset 0x%llx (its registers are 32-bit)", size,
	    (unsigned long long)off);
}

static bool width_ok(uint64_t off, unsigned size)
{
	return size <= 4 && (off & 3) + size <= 4;
}

static enum exit_action ioapic_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t *val)
{
	struct ioapic *io = state;
	if (!width_ok(off, size))
		return bad_width(v, off, size);
	unsigned long fl = spin_lock_irqsave(&io->lock);
	uint32_t dw = dword_read(io, off & ~3ull);
	spin_unlock_irqrestore(&io->lock, fl);
	*val = dw >> (8 * (off & 3));
	return EXIT_RESUME;
}

/* A narrow write merges its bytes into the dword (read-modify-write under the lock). */
static enum exit_action ioapic_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				     uint64_t val)
{
	struct ioapic *io = state;
	if (!width_ok(off, size))
		return bad_width(v, off, size);
	unsigned sh = 8 * (unsigned)(off & 3);
	uint32_t mask = (uint32_t)vdev_size_mask(size) << sh;
	unsigned long fl = spin_lock_irqsave(&io->lock);
	uint32_t dw = dword_read(io, off & ~3ull);
	dword_write(io, off & ~3ull, (dw & ~mask) | ((uint32_t)val << sh & mask));
	spin_unlock_irqrestore(&io->lock, fl);
	return EXIT_RESUME;
}

static const struct vdev_ops ioapic_ops = { "ioapic", ioapic_read, ioapic_write };

int ioapic_attach(struct vdev_bus *bus)
{
	struct ioapic *io = kzalloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	spin_init(&io->lock);
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASK; /* 82093AA 3.2.4: masked at reset */
	return vdev_register(bus, VDEV_MMIO, IOAPIC_BASE, IOAPIC_SIZE, &ioapic_ops, io);
}

/*
 * THE ONE FUNCTION TO SWITCH AT MERGE with the `lapic` branch: hands vector to vCPU t.
 * Until vmm/dev/lapic.h is on main this uses the existing injection path: the vector
 * becomes t->irq_pending if nothing is pending there (else it is lost, false), taken by
 * t's CPU before its next entry; t is not kicked, so a running t sees it at its next
 * exit and a t blocked in HLT at its timer. With the LAPIC: lapic_accept(&t->lapic,
 * vector, level) and a kick of t, as dev/vlapic.c delivers an IPI.
 */
static bool ioapic_deliver(struct vcpu *t, unsigned vector, bool level)
{
	(void)level;
	int none = -1;
	return __atomic_compare_exchange_n(&t->irq_pending, &none, (int)vector, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Is vCPU i named by destination dest (bits 63:56) in the entry's destination mode? */
static bool names_vcpu(uint64_t rte, unsigned i)
{
	unsigned dest = (unsigned)(rte >> 56);
	if (rte & RTE_DESTMODE) /* logical, flat model: one bit per APIC */
		return i < 8 && (dest >> i & 1);
	return dest == 0xFF || dest == i; /* physical: APIC ID = vCPU index */
}

/* Delivers entry rte to the vCPUs it names; returns how many took it. */
static int route(struct guest *g, uint64_t rte)
{
	unsigned dm = (unsigned)(rte >> RTE_DM_SHIFT) & 7, vector = (unsigned)(rte & RTE_VECTOR);
	bool level = rte >> 15 & 1;
	int reached = 0;
	if ((dm != DM_FIXED && dm != DM_LOWEST) || vector < 16)
		return 0;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		if (!names_vcpu(rte, i) || !ioapic_deliver(&g->vcpus[i], vector, level))
			continue;
		reached++;
		if (dm == DM_LOWEST)
			break;
	}
	return reached;
}

int ioapic_raise(struct guest *g, unsigned pin)
{
	const struct vdev_range *r = vdev_find(g->devices, VDEV_MMIO, IOAPIC_BASE);
	if (!r || r->ops != &ioapic_ops)
		return -ENODEV;
	if (pin >= IOAPIC_PINS)
		return -EINVAL;
	struct ioapic *io = r->state;
	unsigned long fl = spin_lock_irqsave(&io->lock);
	uint64_t rte = io->rte[pin];
	io->raised++;
	spin_unlock_irqrestore(&io->lock, fl);
	int reached = (rte & RTE_MASK) ? 0 : route(g, rte);
	if (!reached) {
		fl = spin_lock_irqsave(&io->lock);
		io->undelivered++;
		spin_unlock_irqrestore(&io->lock, fl);
	}
	return reached;
}
