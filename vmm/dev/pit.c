/*
 * The 8254 PIT (Intel 8254 data sheet): three counters at 0x40-0x42 and the control
 * word at 0x43 (counter latch, read-back with count and status latches, the access
 * modes LSB/MSB/LSB-then-MSB, modes 0-5), and port 0x61 (bit 0 gate of counter 2, bit
 * 1 speaker data, read: bit 4 refresh toggle, bit 5 OUT of counter 2). Counts move
 * with guest time: the TSC converted to the 1.193182 MHz input clock, from when the
 * count was written (or the gate of counter 2 rose). A gate held low freezes the
 * count. Counter 0's OUT drives IRQ 0 of the PIC: vpit_poll, called before each entry,
 * raises it for every terminal count passed (at an exit, so a guest that never exits
 * sees its tick at its next exit; HLT wakes for it through vpit_next_irq). BCD counting
 * is not emulated (binary is used).
 */
#include <keel/heap.h>
#include <keel/spinlock.h>
#include <keel/time.h>

#include "pic.h"
#include "pit.h"

#define PIT_RW_LATCH 0
#define PIT_RW_LSB 1
#define PIT_RW_MSB 2
#define PIT_RW_BOTH 3
#define PORT61_GATE2 0x01
#define PORT61_SPEAKER 0x02
#define PORT61_REFRESH 0x10
#define PORT61_OUT2 0x20

struct pit_chan {
	uint8_t mode, rw, bcd;
	uint32_t reload; /* 1..65536 */
	uint64_t start;	 /* TSC when counting began; 0: not counting (no count yet) */
	uint16_t frozen; /* the count while the gate is low */
	bool gate;
	bool latched, status_latched, read_msb, write_msb;
	uint16_t latch;
	uint8_t status, write_lsb;
	uint64_t irqs; /* terminal counts already raised as IRQ 0 (counter 0) */
};

/* Lock legend: [l] lock (interrupts off; taken alone, only printk inside). */
struct vpit {
	spinlock_t lock;
	struct pit_chan ch[3]; /* [l] */
	uint8_t port61;	       /* [l] bits 0-1 as written */
};

uint16_t vpit_count(unsigned mode, uint32_t reload, uint64_t ticks, bool *out)
{
	uint32_t n = reload ? reload : 0x10000;
	mode = mode > 5 ? mode - 4 : mode;
	if (mode == 2) {
		uint64_t phase = ticks % n;
		*out = phase != n - 1;
		return (uint16_t)(n - phase);
	}
	if (mode == 3) {
		uint64_t phase = ticks % n;
		uint32_t half = (n + 1) / 2;
		*out = phase < half;
		uint64_t in_half = *out ? phase : phase - half;
		return (uint16_t)((n - 2 * in_half) & 0xFFFE);
	}
	*out = ticks >= n; /* modes 0, 1, 4, 5: one pass, then wraps on */
	return (uint16_t)(n - (ticks % 0x10000));
}

static uint64_t pit_ticks(uint64_t since)
{
	uint64_t hz = time_cycles_hz(), d = rdtsc() - since;
	if (!hz)
		return 0;
	return d / hz * PIT_HZ + d % hz * PIT_HZ / hz;
}

/* The channel's count and OUT now. */
static uint16_t chan_now(const struct pit_chan *c, bool *out)
{
	if (!c->start) { /* mode set, no count yet: OUT is high but in mode 0 */
		*out = c->mode != 0;
		return c->frozen;
	}
	if (!c->gate) {
		*out = c->mode != 0 && c->mode != 1;
		return c->frozen;
	}
	return vpit_count(c->mode, c->reload, pit_ticks(c->start), out);
}

static void chan_latch_status(struct pit_chan *c)
{
	bool out;
	(void)chan_now(c, &out);
	c->status =
	    (uint8_t)(out << 7 | (c->start ? 0 : 1u << 6) | c->rw << 4 | c->mode << 1 | c->bcd);
	c->status_latched = true;
}

static void chan_latch_count(struct pit_chan *c)
{
	bool out;
	if (!c->latched)
		c->latch = chan_now(c, &out);
	c->latched = true;
}

/* The control word (port 0x43): read-back, counter latch, or a new mode for a counter. */
static void pit_control(struct vpit *p, uint8_t val)
{
	unsigned sel = val >> 6, rw = (val >> 4) & 3;
	if (sel == 3) { /* read-back: bit 5 clear latches counts, bit 4 clear statuses */
		for (unsigned i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x10))
				chan_latch_status(&p->ch[i]);
			if (!(val & 0x20))
				chan_latch_count(&p->ch[i]);
		}
		return;
	}
	struct pit_chan *c = &p->ch[sel];
	if (rw == PIT_RW_LATCH) {
		chan_latch_count(c);
		return;
	}
	c->mode = (val >> 1) & 7;
	c->mode = c->mode > 5 ? c->mode - 4 : c->mode;
	c->rw = (uint8_t)rw;
	c->bcd = val & 1;
	c->start = 0;
	c->irqs = 0;
	c->latched = c->status_latched = c->read_msb = c->write_msb = false;
}

/* A byte written to a counter: with the whole count in, counting begins. */
static void chan_write(struct pit_chan *c, uint8_t val)
{
	uint32_t n;
	if (c->rw == PIT_RW_BOTH && !c->write_msb) {
		c->write_lsb = val;
		c->write_msb = true;
		return;
	}
	if (c->rw == PIT_RW_BOTH)
		n = (uint32_t)val << 8 | c->write_lsb;
	else
		n = c->rw == PIT_RW_MSB ? (uint32_t)val << 8 : val;
	c->write_msb = false;
	c->reload = n ? n : 0x10000;
	c->frozen = (uint16_t)n;
	c->start = rdtsc() | 1; /* never 0: 0 means "no count" */
	c->irqs = 0;
}

/* A byte read from a counter: a latched status, a latched count, or the count now;
 * LSB then MSB in mode LSB-then-MSB. */
static uint8_t chan_read(struct pit_chan *c)
{
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	bool out;
	uint16_t v = c->latched ? c->latch : chan_now(c, &out);
	bool msb = c->rw == PIT_RW_MSB || (c->rw == PIT_RW_BOTH && c->read_msb);
	if (c->rw == PIT_RW_BOTH)
		c->read_msb = !c->read_msb;
	if (c->latched && (c->rw != PIT_RW_BOTH || !c->read_msb))
		c->latched = false; /* the whole latched value was read */
	return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static enum exit_action pit_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				 uint64_t *val)
{
	struct vpit *p = state;
	if (off == 3)
		return EXIT_RESUME; /* the control word is write-only */
	unsigned long flags = spin_lock_irqsave(&p->lock);
	*val = chan_read(&p->ch[off]);
	spin_unlock_irqrestore(&p->lock, flags);
	return EXIT_RESUME;
}

static enum exit_action pit_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				  uint64_t val)
{
	struct vpit *p = state;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	if (off == 3)
		pit_control(p, (uint8_t)val);
	else
		chan_write(&p->ch[off], (uint8_t)val);
	spin_unlock_irqrestore(&p->lock, flags);
	return EXIT_RESUME;
}

/* Port 0x61: the refresh bit toggles every 15.085 us (18 input-clock periods). */
static enum exit_action port61_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t *val)
{
	struct vpit *p = state;
	bool out;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	(void)chan_now(&p->ch[2], &out);
	uint8_t r = p->port61 | (out ? PORT61_OUT2 : 0);
	spin_unlock_irqrestore(&p->lock, flags);
	*val = r | ((pit_ticks(0) / 18) & 1 ? PORT61_REFRESH : 0);
	return EXIT_RESUME;
}

/* Gate 2 low freezes counter 2's count; rising, it starts counting again from its
 * reload value (modes 1-3, 5 retrigger; mode 0 is taken the same way). */
static enum exit_action port61_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				     uint64_t val)
{
	struct vpit *p = state;
	struct pit_chan *c = &p->ch[2];
	bool out, gate = val & PORT61_GATE2;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	p->port61 = val & (PORT61_GATE2 | PORT61_SPEAKER);
	if (c->gate && !gate)
		c->frozen = chan_now(c, &out);
	else if (!c->gate && gate && c->start)
		c->start = rdtsc() | 1;
	c->gate = gate;
	spin_unlock_irqrestore(&p->lock, flags);
	return EXIT_RESUME;
}

/* Terminal counts counter c has reached: one per period in modes 2 and 3, at most one
 * in the others. */
static uint64_t chan_terminal_counts(const struct pit_chan *c)
{
	if (!c->start || !c->gate)
		return c->irqs;
	uint64_t t = pit_ticks(c->start);
	if (c->mode == 2 || c->mode == 3)
		return t / c->reload;
	return t >= c->reload ? 1 : 0;
}

/* Counter 0 not counting (most guests never program it): no IRQ 0 to look for. Read
 * without the lock: a count started meanwhile is seen at the next entry. */
static bool pit0_idle(const struct vpit *p)
{
	return !p || !__atomic_load_n(&p->ch[0].start, __ATOMIC_RELAXED);
}

void vpit_poll(struct guest *g)
{
	struct vpit *p = g->pit;
	if (pit0_idle(p))
		return;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	struct pit_chan *c = &p->ch[0];
	uint64_t n = chan_terminal_counts(c);
	bool edge = n > c->irqs;
	c->irqs = n > c->irqs ? n : c->irqs;
	spin_unlock_irqrestore(&p->lock, flags);
	if (edge)
		vpic_raise(g, 0);
}

/* ticks of the input clock as TSC cycles (no 64-bit overflow for any count here). */
static uint64_t ticks_to_tsc(uint64_t t)
{
	uint64_t hz = time_cycles_hz();
	return t / PIT_HZ * hz + t % PIT_HZ * hz / PIT_HZ;
}

uint64_t vpit_next_irq(struct guest *g)
{
	struct vpit *p = g->pit;
	uint64_t at = 0;
	if (pit0_idle(p))
		return 0;
	unsigned long flags = spin_lock_irqsave(&p->lock);
	const struct pit_chan *c = &p->ch[0];
	bool periodic = c->mode == 2 || c->mode == 3;
	if (c->start && c->gate && (periodic || !c->irqs))
		at = c->start + ticks_to_tsc((c->irqs + 1) * c->reload);
	spin_unlock_irqrestore(&p->lock, flags);
	return at;
}

static const struct vdev_ops pit_ops = { "8254 PIT", pit_read, pit_write };
static const struct vdev_ops port61_ops = { "port 0x61", port61_read, port61_write };

int vpit_attach(struct guest *g, struct vdev_bus *bus)
{
	struct vpit *p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	spin_init(&p->lock);
	p->ch[0].gate = p->ch[1].gate = true; /* wired high on the PC */
	int err = vdev_register(bus, VDEV_PIO, 0x40, 4, &pit_ops, p);
	if (err)
		return err;
	g->pit = p;
	return vdev_register_shared(bus, VDEV_PIO, 0x61, 1, &port61_ops, p);
}
