/*
 * lapic: the emulated local APIC of one vCPU through its x2APIC MSRs (SDM Vol 3A
 * chapter 11): IA32_APIC_BASE, ID and version, #GP for x2APIC MSRs before x2APIC mode
 * and for read-only ones, self-IPIs (SELF IPI register and ICR shorthand), priority
 * order and TPR masking (11.8.3.1), and the timer in one-shot, periodic and
 * TSC-deadline modes (11.5.4), each interrupt counted by its handler. Expected: exit
 * status 0 and every TAP line ok.
 */
#include "x2apic.h"

#define V_SELF 0x50
#define V_LOW 0x51
#define V_HIGH 0x61
#define V_TPR 0x55
#define V_ONESHOT 0x70
#define V_PERIODIC 0x71
#define V_DEADLINE 0x72
#define WAIT_SPINS 100000000u

static volatile unsigned count[256];
static volatile unsigned order[8], order_len;
static volatile unsigned gp_count;

#define HANDLER(v)                                                                         \
	__attribute__((interrupt)) static void on_##v(struct irq_frame *f)                 \
	{                                                                                  \
		(void)f;                                                                   \
		count[v]++;                                                                \
		if (order_len < ARRAY_SIZE(order))                                         \
			order[order_len++] = v;                                            \
		x2apic_eoi();                                                              \
	}
HANDLER(V_SELF)
HANDLER(V_LOW)
HANDLER(V_HIGH)
HANDLER(V_TPR)
HANDLER(V_ONESHOT)
HANDLER(V_PERIODIC)
HANDLER(V_DEADLINE)

/* #GP from RDMSR/WRMSR (2 bytes long): counted and skipped. */
__attribute__((interrupt)) static void on_gp(struct irq_frame *f, uint64_t code)
{
	(void)code;
	gp_count++;
	f->rip += 2;
}

static void setup_idt(void)
{
	idt_set(13, on_gp);
	idt_set(V_SELF, on_V_SELF);
	idt_set(V_LOW, on_V_LOW);
	idt_set(V_HIGH, on_V_HIGH);
	idt_set(V_TPR, on_V_TPR);
	idt_set(V_ONESHOT, on_V_ONESHOT);
	idt_set(V_PERIODIC, on_V_PERIODIC);
	idt_set(V_DEADLINE, on_V_DEADLINE);
	idt_load();
}

/* HLT with interrupts on until count[v] reaches n (bounded); returns count[v]. */
static unsigned wait_count(unsigned v, unsigned n)
{
	for (unsigned i = 0; count[v] < n && i < WAIT_SPINS; i++)
		sti_hlt();
	cli();
	return count[v];
}

static void check_base_and_ids(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	tap_ok((base & ~0xFFFull) == 0xFEE00000 && (base & APIC_BASE_EN) && (base & 0x100) &&
		       !(base & APIC_BASE_EXTD),
	       "IA32_APIC_BASE 0x%lx: base 0xFEE00000, enabled, BSP, xAPIC mode",
	       (unsigned long)base);
	unsigned gp = gp_count;
	(void)rdmsr(X2APIC_ID);
	tap_ok(gp_count == gp + 1, "x2APIC ID MSR before x2APIC mode: #GP");
	x2apic_enable();
	uint64_t id = rdmsr(X2APIC_ID), ver = rdmsr(X2APIC_VERSION);
	tap_ok(id == 0 && (ver & 0xFF) == 0x14 && ((ver >> 16) & 0xFF) == 5,
	       "x2APIC ID %lu, version 0x%lx (0x14, max LVT 5)", (unsigned long)id,
	       (unsigned long)ver);
	tap_ok(rdmsr(X2APIC_LDR) == 1, "x2APIC LDR of ID 0 is cluster 0, bit 0");
	gp = gp_count;
	wrmsr(X2APIC_ID, 5);
	wrmsr(X2APIC_EOI, 1);
	tap_ok(gp_count == gp + 2 && rdmsr(X2APIC_ID) == 0,
	       "writes to the read-only ID and a non-zero EOI: #GP");
}

static void check_self_ipis(void)
{
	wrmsr(X2APIC_SELF_IPI, V_SELF);
	tap_ok(wait_count(V_SELF, 1) == 1, "SELF IPI register: one interrupt");
	wrmsr(X2APIC_ICR, V_SELF | (1u << 14) | (1u << 18)); /* fixed, shorthand self */
	tap_ok(wait_count(V_SELF, 2) == 2, "ICR with the self shorthand: one more");
	order_len = 0;
	wrmsr(X2APIC_SELF_IPI, V_LOW); /* IF = 0: both wait in IRR */
	wrmsr(X2APIC_SELF_IPI, V_HIGH);
	bool both_in_irr = (rdmsr(X2APIC_IRR0 + V_LOW / 32) >> (V_LOW % 32)) & 1;
	wait_count(V_LOW, 1);
	tap_ok(both_in_irr && order_len == 2 && order[0] == V_HIGH && order[1] == V_LOW,
	       "pending 0x51 and 0x61 arrive highest first (order 0x%x 0x%x)", order[0],
	       order[1]);
	wrmsr(X2APIC_TPR, 0x60);
	wrmsr(X2APIC_SELF_IPI, V_TPR);
	for (unsigned i = 0; i < 1000; i++)
		sti();
	cli();
	bool held = count[V_TPR] == 0;
	wrmsr(X2APIC_TPR, 0);
	tap_ok(held && wait_count(V_TPR, 1) == 1,
	       "TPR 0x60 holds vector 0x55 back; TPR 0 lets it in");
}

static void check_timer(void)
{
	wrmsr(X2APIC_TIMER_DCR, 0xB); /* divide by 1 */
	wrmsr(X2APIC_LVT_TIMER, V_ONESHOT);
	wrmsr(X2APIC_TIMER_INIT, 200000);
	uint64_t cur = rdmsr(X2APIC_TIMER_CUR);
	unsigned n = wait_count(V_ONESHOT, 1);
	for (unsigned i = 0; i < 200; i++)
		keel_nop(); /* exits: a second expiry would show */
	tap_ok(n == 1 && count[V_ONESHOT] == 1 && cur > 0 && cur <= 200000 &&
		       rdmsr(X2APIC_TIMER_CUR) == 0,
	       "one-shot timer: one interrupt (current count %lu, then 0)", (unsigned long)cur);
	wrmsr(X2APIC_LVT_TIMER, V_PERIODIC | (1u << 17));
	wrmsr(X2APIC_TIMER_INIT, 100000);
	n = wait_count(V_PERIODIC, 3);
	wrmsr(X2APIC_TIMER_INIT, 0); /* stops it */
	tap_ok(n == 3, "periodic timer: %u interrupts, waited for 3", n);
	wrmsr(X2APIC_LVT_TIMER, V_DEADLINE | (2u << 17));
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + 100000);
	n = wait_count(V_DEADLINE, 1);
	tap_ok(n == 1 && rdmsr(MSR_TSC_DEADLINE) == 0,
	       "TSC-deadline timer: one interrupt, IA32_TSC_DEADLINE reads 0 after it");
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	(void)vcpu;
	(void)vcpu_count;
	setup_idt();
	tap_plan(12);
	check_base_and_ids();
	check_self_ipis();
	check_timer();
	return tap_done();
}
