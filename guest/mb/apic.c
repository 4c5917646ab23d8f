/*
 * apic: one CPU's local APIC as a kernel for QEMU's `pc` machine uses it (SDM Vol 3A
 * chapter 11), through x2APIC MSRs when CPUID offers them, else the xAPIC page:
 * IA32_APIC_BASE, ID and version, self-IPIs by the ICR shorthand, delivery order by
 * priority class, TPR holding a class back (11.8.3.1), and the timer one-shot and
 * periodic (11.5.4), each interrupt counted by its handler.
 */
#include "apic.h"

#define V_SELF 0x50
#define V_LOW 0x51
#define V_HIGH 0x61
#define V_TPR 0x55
#define V_ONESHOT 0x70
#define V_PERIODIC 0x71
#define WAIT_LOOPS 10000000u

static volatile unsigned count[256];
static volatile unsigned order[4], order_len;

#define HANDLER(v)                                                         \
	__attribute__((interrupt)) static void on_##v(struct irq_frame *f) \
	{                                                                  \
		(void)f;                                                   \
		count[v]++;                                                \
		if (order_len < ARRAY_SIZE(order))                         \
			order[order_len++] = v;                            \
		apic_write(APIC_EOI, 0);                                   \
	}
HANDLER(V_SELF)
HANDLER(V_LOW)
HANDLER(V_HIGH)
HANDLER(V_TPR)
HANDLER(V_ONESHOT)
HANDLER(V_PERIODIC)

/* HLT with interrupts on until count[v] reaches n (bounded). */
static unsigned wait_count(unsigned v, unsigned n)
{
	for (unsigned i = 0; count[v] < n && i < WAIT_LOOPS; i++)
		sti_hlt();
	cli();
	return count[v];
}

static void self_ipi(unsigned vector)
{
	apic_send(0, vector | ICR_ASSERT | ICR_SELF);
}

static void check_identity(void)
{
	uint64_t base = rdmsr(0x1B);
	tap_ok((base & 0xFFFFF000u) == 0xFEE00000u && (base & (1u << 11)) && (base & (1u << 8)),
	       "IA32_APIC_BASE: base 0xFEE00000, enabled, BSP");
	apic_init();
	uint32_t ver = apic_read(APIC_VERSION);
	printf("# APIC ID %u, version 0x%x\n", apic_id(), ver);
	tap_ok(apic_id() == 0, "the BSP's APIC ID is 0");
	tap_ok((ver & 0xFF) >= 0x10 && ((ver >> 16) & 0xFF) >= 3,
	       "an integrated APIC (version 0x1X) with at least 4 LVT entries");
}

static void check_ipis(void)
{
	self_ipi(V_SELF);
	tap_ok(wait_count(V_SELF, 1) == 1, "a self-IPI arrives once");
	order_len = 0;
	self_ipi(V_LOW); /* interrupts off: both wait in IRR */
	self_ipi(V_HIGH);
	bool in_irr = (apic_read(APIC_IRR0 + 0x10 * (V_HIGH / 32)) >> (V_HIGH % 32)) & 1;
	wait_count(V_LOW, 1);
	tap_ok(in_irr && order_len == 2 && order[0] == V_HIGH && order[1] == V_LOW,
	       "two pending vectors arrive higher class first");
	apic_write(APIC_TPR, 0x60);
	self_ipi(V_TPR);
	for (unsigned i = 0; i < 1000; i++)
		__asm__ volatile("sti; nop; cli");
	bool held = count[V_TPR] == 0;
	apic_write(APIC_TPR, 0);
	tap_ok(held && wait_count(V_TPR, 1) == 1, "TPR 0x60 holds vector 0x55 back until cleared");
}

/* No timing assumptions: the clock may be real time (QEMU) or instructions (Bochs). */
static void check_timer(void)
{
	apic_write(APIC_TIMER_DCR, 0xB); /* divide by 1 */
	apic_write(APIC_LVT_TIMER, V_ONESHOT);
	apic_write(APIC_TIMER_INIT, 1000000);
	uint32_t c1 = apic_read(APIC_TIMER_CUR), c2 = apic_read(APIC_TIMER_CUR);
	unsigned n = wait_count(V_ONESHOT, 1);
	for (unsigned i = 0; i < 100000; i++)
		cpu_pause();
	tap_ok(c1 <= 1000000 && c2 <= c1 && n == 1 && count[V_ONESHOT] == 1 &&
		   apic_read(APIC_TIMER_CUR) == 0,
	       "one-shot timer: counts down, one interrupt, then current count 0");
	apic_write(APIC_LVT_TIMER, V_PERIODIC | (1u << 17));
	apic_write(APIC_TIMER_INIT, 500000);
	n = wait_count(V_PERIODIC, 3);
	apic_write(APIC_TIMER_INIT, 0);
	tap_ok(n >= 3, "periodic timer: it fires again and again (3 waited for)");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	idt_set(V_SELF, on_V_SELF);
	idt_set(V_LOW, on_V_LOW);
	idt_set(V_HIGH, on_V_HIGH);
	idt_set(V_TPR, on_V_TPR);
	idt_set(V_ONESHOT, on_V_ONESHOT);
	idt_set(V_PERIODIC, on_V_PERIODIC);
	idt_load();
	tap_plan(8);
	check_identity();
	check_ipis();
	check_timer();
	return tap_done();
}
