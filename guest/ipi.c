/*
 * ipi: IPIs between two vCPUs through the x2APIC ICR (SDM Vol 3A 11.6.1, 11.12.9):
 * vCPU 0 sends vCPU 1 (which sleeps in HLT with interrupts on) fixed IPIs one at a
 * time by physical and by logical destination, an NMI, a broadcast to all but itself
 * and one to all including itself; each arrives exactly where it should (counted per
 * vCPU by the handlers). A fixed IPI with an illegal vector sets ESR "send illegal
 * vector" (11.5.3) instead. Run with vcpus=2. Expected: exit status 0.
 */
#include "x2apic.h"

#define V_IPI 0x40
#define V_LOGICAL 0x41
#define V_OTHERS 0x42
#define V_ALL 0x43
#define ROUNDS 5
#define SPINS (1u << 26)
#define ICR_ASSERT (1u << 14)
#define ICR_LOGICAL (1u << 11)
#define ICR_NMI (4u << 8)
#define ICR_ALL (2u << 18)
#define ICR_OTHERS (3u << 18)

static volatile unsigned got[2][256]; /* [vCPU][vector]: interrupts received */
static volatile unsigned nmis[2];
static unsigned ready, stop;

static unsigned self_id(void)
{
	return (unsigned)rdmsr(X2APIC_ID) & 1;
}

#define HANDLER(v)                                                           \
	__attribute__((interrupt)) static void on_##v(struct irq_frame *f)   \
	{                                                                    \
		(void)f;                                                     \
		__atomic_fetch_add(&got[self_id()][v], 1, __ATOMIC_SEQ_CST); \
		x2apic_eoi();                                                \
	}
HANDLER(V_IPI)
HANDLER(V_LOGICAL)
HANDLER(V_OTHERS)
HANDLER(V_ALL)

__attribute__((interrupt)) static void on_nmi(struct irq_frame *f)
{
	(void)f;
	__atomic_fetch_add(&nmis[self_id()], 1, __ATOMIC_SEQ_CST);
}

static void setup(void)
{
	idt_set(2, on_nmi);
	idt_set(V_IPI, on_V_IPI);
	idt_set(V_LOGICAL, on_V_LOGICAL);
	idt_set(V_OTHERS, on_V_OTHERS);
	idt_set(V_ALL, on_V_ALL);
	idt_load();
	x2apic_enable();
}

/* Waits (bounded) until *p reaches n; interrupts on meanwhile. */
static bool wait_for(volatile unsigned *p, unsigned n)
{
	for (unsigned i = 0; *p < n && i < SPINS; i++)
		cpu_pause();
	return *p >= n;
}

static void send(uint32_t dest, uint32_t low)
{
	wrmsr(X2APIC_ICR, ((uint64_t)dest << 32) | low);
}

static void vcpu1(void)
{
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		sti_hlt(); /* woken by each IPI */
	for (;;)
		cpu_pause();
}

static void check_fixed(void)
{
	unsigned ok = 0;
	for (unsigned i = 1; i <= ROUNDS; i++) {
		send(1, V_IPI | ICR_ASSERT);
		ok += wait_for(&got[1][V_IPI], i);
	}
	tap_ok(ok == ROUNDS && got[1][V_IPI] == ROUNDS && !got[0][V_IPI],
	       "%u fixed IPIs to APIC ID 1 woke its HLT each time (%u received)", ROUNDS,
	       got[1][V_IPI]);
	send(0x00000002, V_LOGICAL | ICR_ASSERT | ICR_LOGICAL); /* cluster 0, ID bit 1 */
	tap_ok(wait_for(&got[1][V_LOGICAL], 1) && !got[0][V_LOGICAL],
	       "logical destination cluster 0 bit 1 reaches vCPU 1 only");
	send(1, ICR_NMI | ICR_ASSERT);
	tap_ok(wait_for(&nmis[1], 1) && nmis[1] == 1 && !nmis[0], "an NMI IPI reaches vCPU 1");
}

static void check_broadcasts(void)
{
	sti();
	send(0, V_OTHERS | ICR_ASSERT | ICR_OTHERS);
	bool others = wait_for(&got[1][V_OTHERS], 1);
	for (unsigned i = 0; i < 100; i++)
		keel_nop(); /* exits: a wrong self-delivery would show */
	tap_ok(others && !got[0][V_OTHERS], "all-excluding-self: vCPU 1 only");
	send(0, V_ALL | ICR_ASSERT | ICR_ALL);
	bool all = wait_for(&got[1][V_ALL], 1) && wait_for(&got[0][V_ALL], 1);
	cli();
	tap_ok(all && got[0][V_ALL] == 1 && got[1][V_ALL] == 1,
	       "all-including-self: both vCPUs, once each");
	wrmsr(0x828, 0); /* ESR: latch */
	send(1, 5 | ICR_ASSERT);
	wrmsr(0x828, 0);
	uint64_t esr = rdmsr(0x828);
	tap_ok(esr == (1u << 5) && !got[1][5], "illegal vector 5: not sent, ESR 0x%lx",
	       (unsigned long)esr);
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)arg;
	setup();
	if (vcpu != 0)
		vcpu1();
	tap_plan(6);
	if (vcpu_count != 2 || !wait_flag(&ready, SPINS)) {
		printf("ipi: needs vcpus=2 (vCPU 1 not ready)\n");
		return 99;
	}
	check_fixed();
	check_broadcasts();
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	return tap_done();
}
