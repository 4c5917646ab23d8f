/*
 * Host tests of the local APIC model (vmm/dev/lapic.c): reset state, priority (TPR,
 * PPR, ISR), IRR -> ISR -> EOI, the timer in its three modes against a fake clock,
 * ICR decoding and destination matching, x2APIC register rules. Expected values come
 * from the SDM Vol 3A chapter 11, not from the model's own constants.
 */
#include <stdio.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "frame_fake.h"
#include "lapic.h"

#define T0 1000000ull /* the fake clock's start (TSC cycles) */

/* A software-enabled xAPIC (SVR = 0x1FF) with ID id. */
static void enabled(struct lapic *l, uint32_t id)
{
	lapic_init(l, id);
	if (lapic_write(l, 0x0F, 0x1FF, T0))
		l->svr = 0; /* makes every later check fail */
}

static uint64_t rd(const struct lapic *l, unsigned reg, uint64_t now)
{
	uint64_t v = 0xDEAD;
	if (lapic_read(l, reg, now, &v))
		return 0xBAD0BAD0BAD0ull;
	return v;
}

static bool irr_has(const struct lapic *l, unsigned v)
{
	return (rd(l, 0x20 + v / 32, T0) >> (v % 32)) & 1;
}

static bool isr_has(const struct lapic *l, unsigned v)
{
	return (rd(l, 0x10 + v / 32, T0) >> (v % 32)) & 1;
}

static bool reset_state_per_sdm(void)
{
	struct lapic l;
	lapic_init(&l, 3);
	T_ASSERT(rd(&l, 0x02, T0) == 3u << 24); /* xAPIC ID in 31:24 */
	T_ASSERT(rd(&l, 0x03, T0) == 0x00050014);
	T_ASSERT(rd(&l, 0x0F, T0) == 0xFF); /* software-disabled */
	T_ASSERT(rd(&l, 0x0E, T0) == 0xFFFFFFFF);
	for (unsigned r = 0x32; r <= 0x37; r++)
		T_ASSERT(rd(&l, r, T0) == 1u << 16);
	T_ASSERT(!lapic_sw_enabled(&l));
	T_ASSERT(!lapic_accept(&l, 0x40, false)); /* disabled: refused */
	T_ASSERT(lapic_pending(&l) == -1);
	uint64_t v;
	T_ASSERT(lapic_read(&l, 0x01, T0, &v) == -EINVAL); /* reserved */
	T_ASSERT(lapic_read(&l, 0x0B, T0, &v) == -EINVAL); /* EOI: write-only */
	T_ASSERT(lapic_read(&l, 0x3F, T0, &v) == -EINVAL); /* SELF IPI: x2APIC only */
	return true;
}

static bool lvt_writes_keep_mask_while_disabled(void)
{
	struct lapic l;
	lapic_init(&l, 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x40, T0) == 0);
	T_ASSERT(rd(&l, 0x32, T0) == 0x10040); /* still masked (11.4.7.2) */
	T_ASSERT(lapic_write(&l, 0x0F, 0x100, T0) == 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x1040 | (1u << 14), T0) == 0);
	T_ASSERT(rd(&l, 0x32, T0) == 0x40);		 /* delivery status, bit 14: not writable */
	T_ASSERT(lapic_write(&l, 0x0F, 0x0FF, T0) == 0); /* software disable masks all */
	T_ASSERT(rd(&l, 0x32, T0) & (1u << 16));
	return true;
}

static bool highest_irr_goes_first_and_eoi_ends_it(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_accept(&l, 0x31, false) && lapic_accept(&l, 0x51, false));
	T_ASSERT(lapic_pending(&l) == 0x51);
	lapic_ack(&l, 0x51);
	T_ASSERT(!irr_has(&l, 0x51) && isr_has(&l, 0x51));
	T_ASSERT(rd(&l, 0x0A, T0) == 0x50); /* PPR = ISRV class */
	T_ASSERT(lapic_pending(&l) == -1);  /* 0x31 is below the in-service class */
	T_ASSERT(lapic_accept(&l, 0x52, false));
	T_ASSERT(lapic_pending(&l) == -1); /* same class as in service: waits too */
	T_ASSERT(lapic_accept(&l, 0x61, false));
	T_ASSERT(lapic_pending(&l) == 0x61); /* higher class nests */
	lapic_ack(&l, 0x61);
	T_ASSERT(lapic_write(&l, 0x0B, 0, T0) == 0); /* EOI: 0x61 done */
	T_ASSERT(!isr_has(&l, 0x61) && isr_has(&l, 0x51));
	T_ASSERT(lapic_write(&l, 0x0B, 0, T0) == 0); /* EOI: 0x51 done */
	T_ASSERT(rd(&l, 0x0A, T0) == 0);
	T_ASSERT(lapic_pending(&l) == 0x52);
	return true;
}

static bool tpr_blocks_classes_at_or_below(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_write(&l, 0x08, 0x45, T0) == 0);
	T_ASSERT(rd(&l, 0x0A, T0) == 0x45); /* PPR = TPR when no ISR */
	T_ASSERT(lapic_accept(&l, 0x4F, false));
	T_ASSERT(lapic_pending(&l) == -1);
	T_ASSERT(lapic_write(&l, 0x08, 0x30, T0) == 0);
	T_ASSERT(lapic_pending(&l) == 0x4F);
	lapic_ack(&l, 0x4F);
	T_ASSERT(rd(&l, 0x0A, T0) == 0x40); /* ISRV class 4 beats TPR 0x30 */
	return true;
}

static bool illegal_vector_sets_esr_after_write(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(!lapic_accept(&l, 15, false));
	T_ASSERT(rd(&l, 0x28, T0) == 0); /* not visible until ESR is written */
	T_ASSERT(lapic_write(&l, 0x28, 0, T0) == 0);
	T_ASSERT(rd(&l, 0x28, T0) == 1u << 6);
	T_ASSERT(lapic_write(&l, 0x28, 0, T0) == 0);
	T_ASSERT(rd(&l, 0x28, T0) == 0);
	return true;
}

static bool level_accept_sets_tmr(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_accept(&l, 0x70, true) && lapic_accept(&l, 0x71, false));
	T_ASSERT(((rd(&l, 0x18 + 3, T0) >> 16) & 3) == 1); /* TMR: 0x70 level, 0x71 edge */
	return true;
}

/* Divide configuration (11.5.4 figure 11-10): DCR value -> divisor. */
static bool divide_configuration_table(void)
{
	static const struct {
		uint32_t dcr, div;
	} t[] = { { 0x0, 2 },  { 0x1, 4 },  { 0x2, 8 },	  { 0x3, 16 },
		  { 0x8, 32 }, { 0x9, 64 }, { 0xA, 128 }, { 0xB, 1 } };
	for (unsigned i = 0; i < ARRAY_SIZE(t); i++) {
		struct lapic l;
		enabled(&l, 0);
		T_ASSERT(lapic_write(&l, 0x3E, t[i].dcr, T0) == 0);
		T_ASSERT(lapic_write(&l, 0x38, 10, T0) == 0);
		T_ASSERT(lapic_timer_next(&l) == T0 + 10ull * t[i].div);
	}
	return true;
}

static bool oneshot_counts_down_fires_once(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x40, T0) == 0); /* one-shot, vector 0x40 */
	T_ASSERT(lapic_write(&l, 0x3E, 0x0, T0) == 0);	/* divide by 2 */
	T_ASSERT(lapic_write(&l, 0x38, 100, T0) == 0);
	T_ASSERT(rd(&l, 0x39, T0) == 100);
	T_ASSERT(rd(&l, 0x39, T0 + 50) == 75);
	T_ASSERT(!lapic_timer_poll(&l, T0 + 199) && !irr_has(&l, 0x40));
	T_ASSERT(lapic_timer_poll(&l, T0 + 200) && irr_has(&l, 0x40));
	T_ASSERT(lapic_timer_next(&l) == 0 && rd(&l, 0x39, T0 + 201) == 0);
	T_ASSERT(!lapic_timer_poll(&l, T0 + 10000));
	T_ASSERT(lapic_write(&l, 0x38, 0, T0) == 0); /* count 0 stops */
	T_ASSERT(lapic_timer_next(&l) == 0);
	return true;
}

static bool periodic_rearms_and_coalesces_missed_periods(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x41 | (1u << 17), T0) == 0); /* periodic */
	T_ASSERT(lapic_write(&l, 0x3E, 0xB, T0) == 0);		     /* divide by 1 */
	T_ASSERT(lapic_write(&l, 0x38, 1000, T0) == 0);
	T_ASSERT(lapic_timer_poll(&l, T0 + 1000));
	T_ASSERT(lapic_timer_next(&l) == T0 + 2000);
	T_ASSERT(rd(&l, 0x39, T0 + 1250) == 750);
	lapic_ack(&l, 0x41);
	T_ASSERT(lapic_timer_poll(&l, T0 + 5500)); /* 3.5 periods late: one interrupt */
	T_ASSERT(lapic_timer_next(&l) == T0 + 6000);
	T_ASSERT(l.timer_fires == 2 && irr_has(&l, 0x41));
	T_ASSERT(lapic_timer_wake(&l) == 0); /* its vector still waits: no exit for it */
	lapic_ack(&l, 0x41);
	T_ASSERT(lapic_timer_wake(&l) == T0 + 6000);
	return true;
}

static bool masked_timer_expires_without_interrupt(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x42 | (1u << 16), T0) == 0);
	T_ASSERT(lapic_write(&l, 0x38, 5, T0) == 0);
	T_ASSERT(lapic_timer_poll(&l, T0 + 100));
	T_ASSERT(!irr_has(&l, 0x42) && lapic_pending(&l) == -1);
	return true;
}

static bool tsc_deadline_mode(void)
{
	struct lapic l;
	enabled(&l, 0);
	lapic_tsc_deadline_write(&l, T0 + 10); /* one-shot mode: ignored */
	T_ASSERT(lapic_timer_next(&l) == 0 && lapic_tsc_deadline_read(&l) == 0);
	T_ASSERT(lapic_write(&l, 0x32, 0x43 | (2u << 17), T0) == 0);
	T_ASSERT(lapic_write(&l, 0x38, 50, T0) == 0); /* initial count: ignored */
	T_ASSERT(rd(&l, 0x38, T0) == 0 && lapic_timer_next(&l) == 0);
	lapic_tsc_deadline_write(&l, T0 + 300);
	T_ASSERT(lapic_tsc_deadline_read(&l) == T0 + 300);
	T_ASSERT(!lapic_timer_poll(&l, T0 + 299));
	T_ASSERT(lapic_timer_poll(&l, T0 + 300) && irr_has(&l, 0x43));
	T_ASSERT(lapic_tsc_deadline_read(&l) == 0); /* 11.5.4.1: reads 0 once fired */
	lapic_tsc_deadline_write(&l, T0 + 900);
	T_ASSERT(lapic_write(&l, 0x32, 0x43, T0) == 0); /* back to one-shot: disarmed */
	T_ASSERT(lapic_timer_next(&l) == 0);
	return true;
}

static bool icr_decoding(void)
{
	/* vector 0x30, NMI(4), logical, level assert, trigger level, shorthand others */
	uint32_t low = 0x30 | (4u << 8) | (1u << 11) | (1u << 14) | (1u << 15) | (3u << 18);
	struct lapic_ipi x = lapic_icr_decode(low, 0x05000000, false);
	T_ASSERT(x.vector == 0x30 && x.mode == LAPIC_DM_NMI && x.logical && x.level && x.trig_lvl &&
		 x.shorthand == LAPIC_SH_OTHERS && x.dest == 5 && !x.x2apic);
	struct lapic_ipi y = lapic_icr_decode(0x600 | 0x9A, 0x12345678, true);
	T_ASSERT(y.vector == 0x9A && y.mode == LAPIC_DM_SIPI && !y.logical &&
		 y.shorthand == LAPIC_SH_NONE && y.dest == 0x12345678 && y.x2apic);
	return true;
}

static bool icr_writes_in_both_modes(void)
{
	struct lapic l;
	enabled(&l, 0);
	T_ASSERT(lapic_write(&l, 0x31, 0x02FFFFFF, T0) == 0);
	T_ASSERT(rd(&l, 0x31, T0) == 0x02000000); /* only 31:24 */
	T_ASSERT(lapic_write(&l, 0x30, 0x4035 | (1u << 12), T0) == LAPIC_WRITE_IPI);
	T_ASSERT(rd(&l, 0x30, T0) == 0x4035); /* delivery status reads idle */
	struct lapic_ipi i = lapic_icr_ipi(&l);
	T_ASSERT(i.dest == 2 && i.vector == 0x35);
	l.x2apic = true;
	T_ASSERT(lapic_write(&l, 0x30, (7ull << 32) | 0x4036, T0) == LAPIC_WRITE_IPI);
	T_ASSERT(rd(&l, 0x30, T0) == ((7ull << 32) | 0x4036));
	T_ASSERT(lapic_icr_ipi(&l).dest == 7);
	T_ASSERT(lapic_write(&l, 0x30, 0x1000 | 0x36, T0) == -EINVAL); /* reserved bit 12 */
	return true;
}

static bool destinations_physical_logical_broadcast(void)
{
	struct lapic l;
	enabled(&l, 2);
	struct lapic_ipi p = lapic_icr_decode(0, 2u << 24, false);
	T_ASSERT(lapic_matches_dest(&l, &p));
	p.dest = 3;
	T_ASSERT(!lapic_matches_dest(&l, &p));
	p.dest = 0xFF;
	T_ASSERT(lapic_matches_dest(&l, &p));
	/* flat logical: LDR bit 2 set, destination mask 0x06 */
	T_ASSERT(lapic_write(&l, 0x0D, 0x04000000, T0) == 0);
	struct lapic_ipi f = lapic_icr_decode(1u << 11, 0x06u << 24, false);
	T_ASSERT(lapic_matches_dest(&l, &f));
	f.dest = 0x01;
	T_ASSERT(!lapic_matches_dest(&l, &f));
	/* cluster logical (DFR model 0): cluster 1, member bit 2 */
	T_ASSERT(lapic_write(&l, 0x0E, 0x0FFFFFFF, T0) == 0);
	T_ASSERT(lapic_write(&l, 0x0D, 0x14000000, T0) == 0);
	f.dest = 0x14;
	T_ASSERT(lapic_matches_dest(&l, &f));
	f.dest = 0x24;
	T_ASSERT(!lapic_matches_dest(&l, &f));
	/* x2APIC logical: ID 0x13 -> cluster 1, bit 3 */
	struct lapic x;
	enabled(&x, 0x13);
	x.x2apic = true;
	T_ASSERT(rd(&x, 0x0D, T0) == 0x00010008);
	struct lapic_ipi c = lapic_icr_decode(1u << 11, 0x00010008, true);
	T_ASSERT(lapic_matches_dest(&x, &c));
	c.dest = 0x00020008;
	T_ASSERT(!lapic_matches_dest(&x, &c));
	c.logical = false;
	c.dest = 0x13;
	T_ASSERT(lapic_matches_dest(&x, &c));
	return true;
}

static bool x2apic_register_rules(void)
{
	struct lapic l;
	enabled(&l, 5);
	l.x2apic = true;
	uint64_t v;
	T_ASSERT(rd(&l, 0x02, T0) == 5);		       /* full 32-bit ID */
	T_ASSERT(lapic_write(&l, 0x02, 9, T0) == -EINVAL);     /* ID read-only */
	T_ASSERT(lapic_write(&l, 0x0D, 9, T0) == -EINVAL);     /* LDR read-only */
	T_ASSERT(lapic_read(&l, 0x0E, T0, &v) == -EINVAL);     /* no DFR */
	T_ASSERT(lapic_read(&l, 0x31, T0, &v) == -EINVAL);     /* no ICR high */
	T_ASSERT(lapic_write(&l, 0x0B, 1, T0) == -EINVAL);     /* EOI of non-zero */
	T_ASSERT(lapic_write(&l, 0x08, 0x100, T0) == -EINVAL); /* TPR reserved bits */
	T_ASSERT(lapic_write(&l, 0x3F, 0x45, T0) == 0);	       /* SELF IPI */
	T_ASSERT(lapic_pending(&l) == 0x45);
	T_ASSERT(lapic_write(&l, 0x3F, 0x145, T0) == -EINVAL);
	return true;
}

static bool reset_keeps_id_and_mode_clears_the_rest(void)
{
	struct lapic l;
	enabled(&l, 4);
	T_ASSERT(lapic_accept(&l, 0x80, false));
	lapic_ack(&l, 0x80);
	T_ASSERT(lapic_write(&l, 0x08, 0x20, T0) == 0);
	lapic_reset(&l);
	T_ASSERT(l.id == 4 && l.hw_enabled);
	T_ASSERT(!isr_has(&l, 0x80) && rd(&l, 0x08, T0) == 0 && rd(&l, 0x0F, T0) == 0xFF);
	return true;
}

static const struct fake_test tests[] = {
	{ "reset_state_per_sdm", reset_state_per_sdm },
	{ "lvt_writes_keep_mask_while_disabled", lvt_writes_keep_mask_while_disabled },
	{ "highest_irr_goes_first_and_eoi_ends_it", highest_irr_goes_first_and_eoi_ends_it },
	{ "tpr_blocks_classes_at_or_below", tpr_blocks_classes_at_or_below },
	{ "illegal_vector_sets_esr_after_write", illegal_vector_sets_esr_after_write },
	{ "level_accept_sets_tmr", level_accept_sets_tmr },
	{ "divide_configuration_table", divide_configuration_table },
	{ "oneshot_counts_down_fires_once", oneshot_counts_down_fires_once },
	{ "periodic_rearms_and_coalesces_missed_periods",
	  periodic_rearms_and_coalesces_missed_periods },
	{ "masked_timer_expires_without_interrupt", masked_timer_expires_without_interrupt },
	{ "tsc_deadline_mode", tsc_deadline_mode },
	{ "icr_decoding", icr_decoding },
	{ "icr_writes_in_both_modes", icr_writes_in_both_modes },
	{ "destinations_physical_logical_broadcast", destinations_physical_logical_broadcast },
	{ "x2apic_register_rules", x2apic_register_rules },
	{ "reset_keeps_id_and_mode_clears_the_rest", reset_keeps_id_and_mode_clears_the_rest },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
