/*
 * The local APIC model (lapic.h): registers, priority, IRR/ISR, the timer, ICR
 * decoding. Pure: no VMCS, no vCPU, no clock; host-tested. SDM Vol 3A chapter 11.
 */
#include <keel/errno.h>
#include <keel/string.h>

#include "lapic.h"

/* Writable bits of each LVT (11.5.1 figure 11-8): vector, delivery mode, polarity,
 * trigger mode, mask, timer mode. Delivery status and remote IRR are read-only. */
static const uint32_t lvt_writable[LAPIC_LVT_COUNT] = {
	0x000700FF, /* timer: vector, mask, mode 18:17 */
	0x000107FF, /* thermal: vector, delivery mode, mask */
	0x000107FF, /* performance counters */
	0x0001A7FF, /* LINT0: + polarity, trigger */
	0x0001A7FF, /* LINT1 */
	0x000100FF, /* error: vector, mask */
};
#define ICR_LOW_WRITABLE 0x000CCFFFu /* 11.6.1: all but delivery status and reserved */
#define SVR_WRITABLE 0x000003FFu     /* vector, APIC enable, focus check disable */

/* ---- 256-bit vector sets (IRR, ISR, TMR): eight 32-bit words, vector v in word v/32. */

/* Sets or clears vector v; returns whether it was set before. */
static bool vset_set_atomic(uint32_t *set, unsigned v)
{
	uint32_t bit = 1u << (v % 32);
	return __atomic_fetch_or(&set[v / 32], bit, __ATOMIC_SEQ_CST) & bit;
}

static bool vset_clear_atomic(uint32_t *set, unsigned v)
{
	uint32_t bit = 1u << (v % 32);
	return __atomic_fetch_and(&set[v / 32], ~bit, __ATOMIC_SEQ_CST) & bit;
}

/* The highest vector in the set, or -1. */
static int vset_highest(const uint32_t *set)
{
	for (int w = 7; w >= 0; w--) {
		uint32_t bits = __atomic_load_n(&set[w], __ATOMIC_SEQ_CST);
		if (bits)
			return w * 32 + 31 - __builtin_clz(bits);
	}
	return -1;
}

/* ---- state */

void lapic_reset(struct lapic *l)
{
	uint32_t id = l->id;
	bool x2apic = l->x2apic, hw = l->hw_enabled;
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->x2apic = x2apic;
	l->hw_enabled = hw;
	l->dfr = 0xFFFFFFFF;
	l->svr = 0xFF;
	for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
		l->lvt[i] = LAPIC_LVT_MASKED;
}

void lapic_init(struct lapic *l, uint32_t id)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->hw_enabled = true;
	lapic_reset(l);
}

bool lapic_sw_enabled(const struct lapic *l)
{
	return l->hw_enabled && (l->svr & LAPIC_SVR_ENABLE);
}

/* x2APIC LDR, derived from the ID (11.12.10.2): cluster in 31:16, 1 << ID[3:0]. */
static uint32_t x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xF));
}

/* ---- priority (11.8.3.1) and acceptance (11.8.4) */

uint32_t lapic_ppr(const struct lapic *l)
{
	int isrv = vset_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
	return (l->tpr & 0xF0) >= isr_class ? l->tpr & 0xFF : isr_class;
}

int lapic_pending(const struct lapic *l)
{
	if (lapic_irr_empty(l))
		return -1;
	int v = vset_highest(l->irr);
	if (v < 0 || !lapic_sw_enabled(l))
		return -1;
	return ((uint32_t)v & 0xF0) > (lapic_ppr(l) & 0xF0) ? v : -1;
}

bool lapic_accept(struct lapic *l, unsigned vector, bool level)
{
	if (!lapic_sw_enabled(l) || vector > 255)
		return false;
	if (vector < 16) {
		__atomic_fetch_or(&l->esr_pending, LAPIC_ESR_RECV_ILLEGAL, __ATOMIC_SEQ_CST);
		return false;
	}
	if (level)
		(void)vset_set_atomic(l->tmr, vector);
	else
		(void)vset_clear_atomic(l->tmr, vector);
	if (!vset_set_atomic(l->irr, vector)) /* counted once visible in IRR */
		__atomic_fetch_add(&l->irr_count, 1, __ATOMIC_SEQ_CST);
	return true;
}

void lapic_ack(struct lapic *l, unsigned vector)
{
	if (vset_clear_atomic(l->irr, vector))
		__atomic_fetch_sub(&l->irr_count, 1, __ATOMIC_SEQ_CST);
	l->isr[vector / 32] |= 1u << (vector % 32);
}

/* EOI (11.8.5): the highest in-service vector is done. */
static void lapic_eoi(struct lapic *l)
{
	int v = vset_highest(l->isr);
	if (v >= 0)
		l->isr[v / 32] &= ~(1u << (v % 32));
}

/* ---- the timer (11.5.4) */

static enum lapic_timer_mode timer_mode(const struct lapic *l)
{
	return (enum lapic_timer_mode)((l->lvt[0] >> 17) & 3);
}

/* Divide configuration (11.5.4 figure 11-10): bits 3,1:0 = v; divide by 2^((v+1)&7). */
static unsigned timer_shift(const struct lapic *l)
{
	unsigned v = ((l->timer_dcr >> 1) & 4) | (l->timer_dcr & 3);
	return (v + 1) & 7;
}

static uint64_t timer_period(const struct lapic *l)
{
	return (uint64_t)l->timer_initial << timer_shift(l);
}

/* Starts counting down from the initial count at now (0: the timer stops). */
static void timer_start(struct lapic *l, uint64_t now)
{
	l->timer_start = now;
	l->timer_next = l->timer_initial ? now + timer_period(l) : 0;
}

static uint32_t timer_current(const struct lapic *l, uint64_t now)
{
	if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE || !l->timer_next || now >= l->timer_next)
		return 0;
	uint64_t left = l->timer_next - now;
	return (uint32_t)((left + (1ull << timer_shift(l)) - 1) >> timer_shift(l));
}

/* The timer's interrupt, unless the LVT masks it (it still expires, 11.5.1). */
static void timer_fire(struct lapic *l)
{
	l->timer_fires++;
	if (!(l->lvt[0] & LAPIC_LVT_MASKED))
		(void)lapic_accept(l, l->lvt[0] & 0xFF, false);
}

bool lapic_timer_poll(struct lapic *l, uint64_t now)
{
	if (!l->timer_next || now < l->timer_next)
		return false;
	timer_fire(l);
	if (timer_mode(l) == LAPIC_TIMER_PERIODIC && timer_period(l)) {
		uint64_t p = timer_period(l), missed = (now - l->timer_next) / p;
		l->timer_start = l->timer_next + missed * p; /* one interrupt for all missed */
		l->timer_next = l->timer_start + p;
	} else {
		l->timer_next = 0;
		if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE)
			l->tsc_deadline = 0;
	}
	return true;
}

void lapic_tsc_deadline_write(struct lapic *l, uint64_t val)
{
	if (timer_mode(l) != LAPIC_TIMER_TSC_DEADLINE)
		return;
	l->tsc_deadline = val;
	l->timer_next = val;
}

uint64_t lapic_tsc_deadline_read(const struct lapic *l)
{
	return timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
}

/* An LVT timer write: a change of mode disarms the timer (11.5.4.1). */
static void lvt_timer_write(struct lapic *l, uint32_t val)
{
	enum lapic_timer_mode old = timer_mode(l);
	l->lvt[0] = val;
	if (timer_mode(l) != old) {
		l->timer_next = 0;
		l->tsc_deadline = 0;
		l->timer_initial = 0;
	}
}

/* ---- ICR (11.6.1) and destinations (11.6.2, 11.12.10) */

struct lapic_ipi lapic_icr_decode(uint32_t low, uint32_t high, bool x2apic)
{
	return (struct lapic_ipi){
		.vector = (uint8_t)low,
		.mode = (enum lapic_dm)((low >> 8) & 7),
		.logical = (low >> 11) & 1,
		.level = (low >> 14) & 1,
		.trig_lvl = (low >> 15) & 1,
		.shorthand = (enum lapic_shorthand)((low >> 18) & 3),
		.dest = x2apic ? high : high >> 24,
		.x2apic = x2apic,
	};
}

struct lapic_ipi lapic_icr_ipi(const struct lapic *l)
{
	return lapic_icr_decode(l->icr_low, l->icr_high, l->x2apic);
}

/* Logical destination match in xAPIC mode: flat (DFR model 0xF) or cluster (0x0). */
static bool xapic_logical_match(const struct lapic *l, uint32_t dest)
{
	uint32_t ldr = l->ldr >> 24;
	if ((l->dfr >> 28) == 0xF)
		return (ldr & dest) != 0;
	return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xF);
}

bool lapic_matches_dest(const struct lapic *l, const struct lapic_ipi *ipi)
{
	if (ipi->x2apic) {
		if (ipi->dest == 0xFFFFFFFF)
			return true;
		if (!ipi->logical)
			return ipi->dest == l->id;
		uint32_t ldr = x2apic_ldr(l->id);
		return (ipi->dest >> 16) == (ldr >> 16) && (ipi->dest & ldr & 0xFFFF);
	}
	uint32_t dest = ipi->dest & 0xFF;
	if (dest == 0xFF)
		return true;
	return ipi->logical ? xapic_logical_match(l, dest) : dest == (l->id & 0xFF);
}

/* ---- register access */

/* A 256-bit set read 32 bits at a time (ISR, TMR, IRR). */
static uint32_t vset_word(const uint32_t *set, unsigned w)
{
	return __atomic_load_n(&set[w], __ATOMIC_SEQ_CST);
}

/* Registers that read the same in both modes (lapic_read handles the others). */
static int read_common(const struct lapic *l, unsigned reg, uint64_t now, uint64_t *val)
{
	if (reg >= LAPIC_ISR0 && reg < LAPIC_ISR0 + 8)
		return *val = vset_word(l->isr, reg - LAPIC_ISR0), 0;
	if (reg >= LAPIC_TMR0 && reg < LAPIC_TMR0 + 8)
		return *val = vset_word(l->tmr, reg - LAPIC_TMR0), 0;
	if (reg >= LAPIC_IRR0 && reg < LAPIC_IRR0 + 8)
		return *val = vset_word(l->irr, reg - LAPIC_IRR0), 0;
	if (reg >= LAPIC_LVT_TIMER && reg < LAPIC_LVT_TIMER + LAPIC_LVT_COUNT)
		return *val = l->lvt[reg - LAPIC_LVT_TIMER], 0;
	switch (reg) {
	case LAPIC_VER:
		return *val = LAPIC_VERSION, 0;
	case LAPIC_TPR:
		return *val = l->tpr, 0;
	case LAPIC_APR:
		return *val = 0, 0; /* arbitration priority: not modelled (no bus) */
	case LAPIC_PPR:
		return *val = lapic_ppr(l), 0;
	case LAPIC_SVR:
		return *val = l->svr, 0;
	case LAPIC_ESR:
		return *val = l->esr, 0;
	case LAPIC_TIMER_INIT:
		return *val = l->timer_initial, 0;
	case LAPIC_TIMER_CUR:
		return *val = timer_current(l, now), 0;
	case LAPIC_TIMER_DCR:
		return *val = l->timer_dcr, 0;
	}
	return -EINVAL;
}

int lapic_read(const struct lapic *l, unsigned reg, uint64_t now, uint64_t *val)
{
	if (!read_common(l, reg, now, val))
		return 0;
	if (l->x2apic) {
		switch (reg) {
		case LAPIC_ID:
			return *val = l->id, 0;
		case LAPIC_LDR:
			return *val = x2apic_ldr(l->id), 0;
		case LAPIC_ICR:
			return *val = ((uint64_t)l->icr_high << 32) | l->icr_low, 0;
		}
		return -EINVAL;
	}
	switch (reg) {
	case LAPIC_ID:
		return *val = l->id << 24, 0;
	case LAPIC_LDR:
		return *val = l->ldr, 0;
	case LAPIC_DFR:
		return *val = l->dfr, 0;
	case LAPIC_ICR:
		return *val = l->icr_low, 0; /* delivery status 0: delivered at once */
	case LAPIC_ICR_HIGH:
		return *val = l->icr_high, 0;
	}
	return -EINVAL;
}

/* SVR write: clearing the enable bit masks every LVT (11.4.7.2). */
static void svr_write(struct lapic *l, uint32_t val)
{
	l->svr = val & SVR_WRITABLE;
	if (!(l->svr & LAPIC_SVR_ENABLE))
		for (unsigned i = 0; i < LAPIC_LVT_COUNT; i++)
			l->lvt[i] |= LAPIC_LVT_MASKED;
}

static void lvt_write(struct lapic *l, unsigned i, uint32_t val)
{
	uint32_t w = lvt_writable[i];
	val = (l->lvt[i] & ~w) | (val & w);
	if (!lapic_sw_enabled(l))
		val |= LAPIC_LVT_MASKED;
	if (i == 0)
		lvt_timer_write(l, val);
	else
		l->lvt[i] = val;
}

/* Registers written the same way in both modes. */
static int write_common(struct lapic *l, unsigned reg, uint32_t val, uint64_t now)
{
	if (reg >= LAPIC_LVT_TIMER && reg < LAPIC_LVT_TIMER + LAPIC_LVT_COUNT)
		return lvt_write(l, reg - LAPIC_LVT_TIMER, val), 0;
	switch (reg) {
	case LAPIC_TPR:
		return l->tpr = val & 0xFF, 0;
	case LAPIC_SVR:
		return svr_write(l, val), 0;
	case LAPIC_ESR: /* 11.5.3: a write latches the errors seen since the last one */
		l->esr = __atomic_exchange_n(&l->esr_pending, 0, __ATOMIC_SEQ_CST);
		return 0;
	case LAPIC_TIMER_INIT:
		if (timer_mode(l) != LAPIC_TIMER_TSC_DEADLINE) {
			l->timer_initial = val;
			timer_start(l, now);
		}
		return 0;
	case LAPIC_TIMER_DCR: /* applies from the next initial-count write */
		return l->timer_dcr = val & 0xB, 0;
	}
	return -EINVAL;
}

/* x2APIC-only rules (11.12.1.2, 11.12.9): EOI and SELF IPI take a value, ICR is 64 bits,
 * ID and LDR are read-only, DFR and ICR high do not exist; reserved bits #GP. */
static int write_x2apic(struct lapic *l, unsigned reg, uint64_t val, uint64_t now)
{
	if (reg == LAPIC_ICR) {
		if (val & 0xFFF33000ull) /* reserved bits of the low half */
			return -EINVAL;
		l->icr_low = (uint32_t)val;
		l->icr_high = (uint32_t)(val >> 32);
		return LAPIC_WRITE_IPI;
	}
	if (val >> 32)
		return -EINVAL;
	switch (reg) {
	case LAPIC_EOI:
		return val ? -EINVAL : (lapic_eoi(l), 0);
	case LAPIC_SELF_IPI:
		if (val > 0xFF)
			return -EINVAL;
		(void)lapic_accept(l, (unsigned)val, false);
		return 0;
	case LAPIC_TPR:
		if (val > 0xFF)
			return -EINVAL;
		break;
	}
	return write_common(l, reg, (uint32_t)val, now);
}

static int write_xapic(struct lapic *l, unsigned reg, uint32_t val, uint64_t now)
{
	switch (reg) {
	case LAPIC_ID:
		return l->id = val >> 24, 0;
	case LAPIC_EOI:
		return lapic_eoi(l), 0;
	case LAPIC_LDR:
		return l->ldr = val & 0xFF000000, 0;
	case LAPIC_DFR:
		return l->dfr = val | 0x0FFFFFFF, 0;
	case LAPIC_ICR:
		l->icr_low = val & ICR_LOW_WRITABLE;
		return LAPIC_WRITE_IPI;
	case LAPIC_ICR_HIGH:
		return l->icr_high = val & 0xFF000000, 0;
	}
	return write_common(l, reg, val, now);
}

int lapic_write(struct lapic *l, unsigned reg, uint64_t val, uint64_t now)
{
	if (reg >= LAPIC_REG_COUNT)
		return -EINVAL;
	return l->x2apic ? write_x2apic(l, reg, val, now) : write_xapic(l, reg, (uint32_t)val, now);
}
