/*
 * The I/O APIC device (ioapic.h): the register model of ioapic_model.c behind the MMIO
 * page and a lock, and the delivery of a raised pin to vCPUs. Lock: the device's own
 * spinlock, a leaf (taken with interrupts off, nothing inside; delivery happens after
 * it is let go).
 */
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/spinlock.h>

#include "ioapic.h"
#include "lapic.h"

struct ioapic {
	spinlock_t lock;
	struct ioapic_model m; /* [l] lock */
};

static enum exit_action bad_width(struct vcpu *v, uint64_t off, unsigned size)
{
	return guest_kill(
	    v->guest,
	    "I/O APIC: bad width: %u-byte access at offset 0x%llx (its registers are 32-bit)", size,
	    (unsigned long long)off);
}

static enum exit_action ioapic_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t *val)
{
	struct ioapic *io = state;
	unsigned long fl = spin_lock_irqsave(&io->lock);
	int err = ioapic_model_read(&io->m, off, size, val);
	spin_unlock_irqrestore(&io->lock, fl);
	return err ? bad_width(v, off, size) : EXIT_RESUME;
}

static enum exit_action ioapic_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				     uint64_t val)
{
	struct ioapic *io = state;
	unsigned long fl = spin_lock_irqsave(&io->lock);
	int err = ioapic_model_write(&io->m, off, size, val);
	spin_unlock_irqrestore(&io->lock, fl);
	return err ? bad_width(v, off, size) : EXIT_RESUME;
}

static const struct vdev_ops ioapic_ops = { "ioapic", ioapic_read, ioapic_write };

int ioapic_attach(struct vdev_bus *bus)
{
	struct ioapic *io = kzalloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	spin_init(&io->lock);
	ioapic_model_reset(&io->m);
	return vdev_register(bus, VDEV_MMIO, IOAPIC_BASE, IOAPIC_SIZE, &ioapic_ops, io);
}

/* Hands vector to vCPU t's local APIC (its IRR; TMR for level triggered) and wakes t,
 * as dev/vlapic.c delivers an IPI. False if t's APIC refused it (software-disabled, or
 * an illegal vector: SDM Vol 3A 11.4.7.2, 11.5.3). */
static bool ioapic_deliver(struct vcpu *t, unsigned vector, bool level)
{
	if (!lapic_accept(t->lapic, vector, level))
		return false;
	vcpu_kick(t);
	return true;
}

/* Delivers route r; returns how many vCPUs took it (lowest priority: one at most). */
static int deliver(struct guest *g, const struct ioapic_route *r)
{
	int reached = 0;
	for (unsigned i = 0; i < g->vcpu_count && i < 64; i++) {
		if (!(r->targets >> i & 1) || !ioapic_deliver(&g->vcpus[i], r->vector, r->level))
			continue;
		reached++;
		if (r->lowest)
			break;
	}
	return reached;
}

int ioapic_raise(struct guest *g, unsigned pin)
{
	const struct vdev_range *range = vdev_find(g->devices, VDEV_MMIO, IOAPIC_BASE);
	if (!range || range->ops != &ioapic_ops)
		return -ENODEV;
	if (pin >= IOAPIC_PINS)
		return -EINVAL;
	struct ioapic *io = range->state;
	unsigned long fl = spin_lock_irqsave(&io->lock);
	uint64_t rte = io->m.rte[pin];
	spin_unlock_irqrestore(&io->lock, fl);
	struct ioapic_route r;
	return ioapic_model_route(rte, g->vcpu_count, &r) ? deliver(g, &r) : 0;
}
