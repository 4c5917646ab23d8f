/*
 * lapic: what is x2APIC-specific in the emulated local APIC (SDM Vol 3A 11.12), through
 * its MSRs: IA32_APIC_BASE and the switch to x2APIC mode, ID, version and LDR, #GP for
 * x2APIC MSRs before that switch, for read-only registers and a non-zero EOI, the SELF
 * IPI register, the TSC-deadline timer (IA32_TSC_DEADLINE, 11.5.4.1), and a periodic
 * timer of one tick while interrupts are off: the vCPU keeps running and the expiries
 * merge into one interrupt (run with limit= so a livelock would end as a kill). Each
 * interrupt is counted by its handler. (Priority, TPR and the one-shot and periodic
 * timer are checked alike on QEMU and Keel by guest/mb/apic.c.) Expected: exit 0.
 */
#include "x2apic.h"

#define V_SELF 0x50
#define V_DEADLINE 0x72
#define V_FAST 0x73
#define WAIT_SPINS 100000000u

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static volatile unsigned count[256];
static volatile unsigned gp_count;

__attribute__((interrupt)) static void on_self(struct irq_frame *f)
{
	(void)f;
	count[V_SELF]++;
	x2apic_eoi();
}

__attribute__((interrupt)) static void on_fast(struct irq_frame *f)
{
	(void)f;
	count[V_FAST]++;
	x2apic_eoi();
}

__attribute__((interrupt)) static void on_deadline(struct irq_frame *f)
{
	(void)f;
	count[V_DEADLINE]++;
	x2apic_eoi();
}

/* #GP from RDMSR/WRMSR (2 bytes long): counted and skipped. */
__attribute__((interrupt)) static void on_gp(struct irq_frame *f, uint64_t code)
{
	(void)code;
	gp_count++;
	f->rip += 2;
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

static void check_self_ipi_and_deadline(void)
{
	wrmsr(X2APIC_SELF_IPI, V_SELF);
	tap_ok(wait_count(V_SELF, 1) == 1, "SELF IPI register: one interrupt");
	wrmsr(X2APIC_LVT_TIMER, V_DEADLINE); /* one-shot: deadline writes ignored */
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + 1000);
	tap_ok(rdmsr(MSR_TSC_DEADLINE) == 0, "IA32_TSC_DEADLINE outside TSC-deadline mode reads 0");
	wrmsr(X2APIC_LVT_TIMER, V_DEADLINE | (2u << 17));
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + 100000);
	unsigned n = wait_count(V_DEADLINE, 1);
	tap_ok(n == 1 && rdmsr(MSR_TSC_DEADLINE) == 0,
	       "TSC-deadline timer: one interrupt, IA32_TSC_DEADLINE reads 0 after it");
}

/* A periodic timer of 1 tick expires at every entry; with IF = 0 its interrupt waits
 * in IRR and further expiries merge with it, so the vCPU still runs; stopped, it
 * leaves that one interrupt. */
static void check_fast_timer(void)
{
	wrmsr(X2APIC_TIMER_DCR, 0xB);
	wrmsr(X2APIC_LVT_TIMER, V_FAST | (1u << 17));
	wrmsr(X2APIC_TIMER_INIT, 1);
	for (unsigned i = 0; i < 200; i++)
		keel_nop();
	wrmsr(X2APIC_TIMER_INIT, 0);
	unsigned held = count[V_FAST];
	unsigned n = wait_count(V_FAST, 1);
	for (unsigned i = 0; i < 100; i++)
		keel_nop();
	tap_ok(held == 0 && n == 1 && count[V_FAST] == 1,
	       "a 1-tick periodic timer with IF = 0: the vCPU runs on; its expiries merge "
	       "into one interrupt");
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	(void)vcpu;
	(void)vcpu_count;
	idt_set(13, on_gp);
	idt_set(V_SELF, on_self);
	idt_set(V_DEADLINE, on_deadline);
	idt_set(V_FAST, on_fast);
	idt_load();
	tap_plan(9);
	check_base_and_ids();
	check_self_ipi_and_deadline();
	check_fast_timer();
	return tap_done();
}
