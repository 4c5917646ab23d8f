/*
 * Two 8259A programmable interrupt controllers, master and slave (Intel 8259A data
 * sheet): the initialization sequence ICW1-ICW4, OCW1 (the mask, read back from the
 * odd port), OCW2 (non-specific and specific EOI; rotation is taken as plain EOI),
 * OCW3 (IRR or ISR on the even port), auto-EOI, fully nested fixed priority (IRQ 0
 * highest), the slave on the master's IRQ 2. Edge-triggered requests only; the ELCR
 * (0x4D0/0x4D1) is kept and read back, not acted on. Special mask mode, poll command
 * and priority rotation are not emulated.
 */
#include <keel/heap.h>
#include <keel/spinlock.h>

#include "pic.h"

#define ICW1_INIT 0x10
#define ICW1_IC4 0x01
#define ICW1_SNGL 0x02
#define OCW3_SEL 0x08
#define OCW3_RR 0x02
#define OCW3_RIS 0x01
#define ICW4_AEOI 0x02
#define OCW2_EOI 0x20
#define OCW2_SL 0x40

struct i8259 {
	uint8_t irr, isr, imr, base; /* base: ICW2's vector base (bits 7:3) */
	uint8_t init_step;	     /* 0 ready; 2, 3, 4: the next ICW expected */
	bool icw4, single, auto_eoi, read_isr;
	uint8_t elcr;
};

/* Lock legend: [l] lock (interrupts off; taken alone, only printk inside). */
struct vpic {
	spinlock_t lock;
	struct i8259 chip[2]; /* [l] master, slave */
};

/* The lowest-numbered bit of x, or 8 if none. */
static unsigned lowest(uint8_t x)
{
	return x ? (unsigned)__builtin_ctz(x) : 8;
}

/* The request a chip would signal (requests of the master include the slave's on IRQ
 * 2): an unmasked IRR bit of higher priority than anything in service, or 8. */
static unsigned chip_pending(const struct i8259 *c, uint8_t extra)
{
	unsigned req = lowest((uint8_t)((c->irr | extra) & ~c->imr));
	return req < lowest(c->isr) ? req : 8;
}

static void chip_ack(struct i8259 *c, unsigned irq)
{
	c->irr &= (uint8_t) ~(1u << irq);
	if (!c->auto_eoi)
		c->isr |= (uint8_t)(1u << irq);
}

/* The vector INTA would give now, acknowledging it; -1 if none. */
static int pic_ack(struct vpic *p)
{
	struct i8259 *m = &p->chip[0], *s = &p->chip[1];
	unsigned sreq = chip_pending(s, 0);
	unsigned mreq = chip_pending(m, sreq < 8 ? 1u << 2 : 0);
	if (mreq == 8)
		return -1;
	chip_ack(m, mreq);
	if (mreq != 2 || sreq == 8)
		return (m->base & 0xF8) + (int)mreq;
	chip_ack(s, sreq);
	return (s->base & 0xF8) + (int)sreq;
}

void vpic_poll(struct vcpu *v)
{
	struct vpic *p = v->guest->pic;
	if (!p || v->index != 0 || v->irq_pending >= 0)
		return;
	/* No request latched: nothing to look at (every entry asks). A request raised
	 * after this read is seen at the next entry, as one raised after the lock. */
	if (!(__atomic_load_n(&p->chip[0].irr, __ATOMIC_RELAXED) |
	      __atomic_load_n(&p->chip[1].irr, __ATOMIC_RELAXED)))
		return;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	int vec = pic_ack(p);
	spin_unlock_irqrestore(&p->lock, flags);
	if (vec >= 0)
		v->irq_pending = vec;
}

void vpic_raise(struct guest *g, unsigned irq)
{
	struct vpic *p = g->pic;
	if (!p || irq > 15)
		return;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	p->chip[irq >> 3].irr |= (uint8_t)(1u << (irq & 7));
	spin_unlock_irqrestore(&p->lock, flags);
}

/* A write to the even port: ICW1, OCW2 or OCW3. */
static void chip_write_cmd(struct i8259 *c, uint8_t val)
{
	if (val & ICW1_INIT) {
		*c = (struct i8259){ .init_step = 2,
				     .icw4 = val & ICW1_IC4,
				     .single = val & ICW1_SNGL,
				     .elcr = c->elcr };
	} else if (val & OCW3_SEL) {
		if (val & OCW3_RR)
			c->read_isr = val & OCW3_RIS;
	} else if (val & OCW2_EOI) {
		unsigned irq = val & OCW2_SL ? (val & 7u) : lowest(c->isr);
		if (irq < 8)
			c->isr &= (uint8_t) ~(1u << irq);
	}
}

/* A write to the odd port: the next ICW while initializing, else OCW1 (the mask). */
static void chip_write_data(struct i8259 *c, uint8_t val)
{
	switch (c->init_step) {
	case 2:
		c->base = val & 0xF8;
		c->init_step = c->single ? (c->icw4 ? 4 : 0) : 3;
		break;
	case 3: /* ICW3: the cascade wiring, fixed here */
		c->init_step = c->icw4 ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = val & ICW4_AEOI;
		c->init_step = 0;
		break;
	default:
		c->imr = val;
	}
}

static enum exit_action pic_read(struct vpic *p, unsigned chip, uint64_t off, uint64_t *val)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);
	const struct i8259 *c = &p->chip[chip];
	*val = off & 1 ? c->imr : c->read_isr ? c->isr : c->irr;
	spin_unlock_irqrestore(&p->lock, flags);
	return EXIT_RESUME;
}

static enum exit_action pic_write(struct vpic *p, unsigned chip, uint64_t off, uint64_t val)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);
	struct i8259 *c = &p->chip[chip];
	if (off & 1)
		chip_write_data(c, (uint8_t)val);
	else
		chip_write_cmd(c, (uint8_t)val);
	spin_unlock_irqrestore(&p->lock, flags);
	return EXIT_RESUME;
}

static enum exit_action master_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t *val)
{
	return pic_read(state, 0, off, val);
}

static enum exit_action master_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				     uint64_t val)
{
	return pic_write(state, 0, off, val);
}

static enum exit_action slave_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t *val)
{
	return pic_read(state, 1, off, val);
}

static enum exit_action slave_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t val)
{
	return pic_write(state, 1, off, val);
}

static enum exit_action elcr_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t *val)
{
	struct vpic *p = state;
	*val = __atomic_load_n(&p->chip[off & 1].elcr, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static enum exit_action elcr_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t val)
{
	struct vpic *p = state;
	__atomic_store_n(&p->chip[off & 1].elcr, (uint8_t)val, __ATOMIC_RELAXED);
	return EXIT_RESUME;
}

static const struct vdev_ops master_ops = { "8259 PIC master", master_read, master_write };
static const struct vdev_ops slave_ops = { "8259 PIC slave", slave_read, slave_write };
static const struct vdev_ops elcr_ops = { "8259 ELCR", elcr_read, elcr_write };

int vpic_attach(struct guest *g, struct vdev_bus *bus)
{
	struct vpic *p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	spin_init(&p->lock);
	/* The bus owns p through the first range; the others share it with no owner. */
	int err = vdev_register(bus, VDEV_PIO, 0x4D0, 2, &elcr_ops, p);
	if (err)
		return err;
	g->pic = p;
	err = vdev_register_shared(bus, VDEV_PIO, 0x20, 2, &master_ops, p);
	if (!err)
		err = vdev_register_shared(bus, VDEV_PIO, 0xA0, 2, &slave_ops, p);
	return err;
}
