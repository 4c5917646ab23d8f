/*
 * smp: a Multiboot kernel that starts its own application processors, as kernels for
 * QEMU's `pc` machine do (SDM Vol 3A 9.4.4, 11.6.1): INIT, SIPI, SIPI to APIC IDs
 * 1..3 (run with 4 CPUs; under Keel with smp=sipi, so the APs wait for it). Each AP
 * starts in real mode at 0700:0000 (a trampoline copied to 0x7000), enters 32-bit
 * protected mode with its own GDT, takes a stack by ticket and runs ap_main: its APIC
 * on, its ID into a mask, then HLT with interrupts on, counting the IPIs it gets.
 * The BSP then sends each AP a fixed IPI, one AP an NMI, and all but itself a
 * broadcast, and checks who got what.
 */
#include "apic.h"

#define CPUS 4
#define TRAMPOLINE 0x7000u
#define V_FIXED 0x40
#define V_OTHERS 0x41
#define SPINS (1u << 26)

extern const char tramp_start[], tramp_end[], tramp_gdt[];
unsigned ap_ticket;
unsigned char ap_stacks[CPUS][4096] __attribute__((aligned(16)));
static unsigned arrived, id_mask, stop;
static volatile unsigned got[CPUS][256], nmis[CPUS];

/*
 * The AP's way in. Real mode at CS = 0x0700, IP = 0: load the GDT kept in the
 * trampoline (flat code 0x08, data 0x10), set CR0.PE, far jump to ap_entry32; there
 * take a ticket, whose stack is ap_stacks[ticket], and call ap_main.
 */
__asm__(".pushsection .text\n"
	".code16\n"
	".globl tramp_start, tramp_end, tramp_gdt\n"
	"tramp_start:\n"
	"	cli\n"
	"	mov %cs, %ax\n"
	"	mov %ax, %ds\n"
	"	lgdtl tramp_gdtr - tramp_start\n"
	"	mov %cr0, %eax\n"
	"	or $1, %eax\n"
	"	mov %eax, %cr0\n"
	"	ljmpl $0x08, $ap_entry32\n"
	"	.balign 8\n"
	"tramp_gdt:\n"
	"	.quad 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF\n"
	"tramp_gdtr:\n"
	"	.word 23\n"
	"	.long 0x7000 + tramp_gdt - tramp_start\n"
	"tramp_end:\n"
	".code32\n"
	"ap_entry32:\n"
	"	mov $0x10, %ax\n"
	"	mov %ax, %ds\n"
	"	mov %ax, %es\n"
	"	mov %ax, %ss\n"
	"	mov %ax, %fs\n"
	"	mov %ax, %gs\n"
	"	mov $1, %eax\n"
	"	lock xadd %eax, ap_ticket\n"
	"	and $3, %eax\n"
	"	mov %eax, %ecx\n"
	"	inc %ecx\n"
	"	shl $12, %ecx\n"
	"	lea ap_stacks(%ecx), %esp\n"
	"	sub $12, %esp\n"
	"	push %eax\n"
	"	call ap_main\n"
	"1:	cli\n"
	"	hlt\n"
	"	jmp 1b\n"
	".popsection\n");

/* The BSP takes the APs' GDT too, so the IDT's gates name a code selector (0x08)
 * that exists on every CPU, whatever GDT the loader left. */
static void bsp_load_gdt(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) r = { 23, (uint32_t)(uintptr_t)tramp_gdt };
	__asm__ volatile("lgdt %0\n"
			 "ljmp $0x08, $1f\n"
			 "1: mov $0x10, %%ax\n"
			 "mov %%ax, %%ds\n"
			 "mov %%ax, %%es\n"
			 "mov %%ax, %%ss\n"
			 "mov %%ax, %%fs\n"
			 "mov %%ax, %%gs\n"
			 :
			 : "m"(r)
			 : "eax", "memory");
}

static unsigned my_id(void)
{
	return apic_id() & (CPUS - 1);
}

__attribute__((interrupt)) static void on_fixed(struct irq_frame *f)
{
	(void)f;
	__atomic_fetch_add(&got[my_id()][V_FIXED], 1, __ATOMIC_SEQ_CST);
	apic_write(APIC_EOI, 0);
}

__attribute__((interrupt)) static void on_others(struct irq_frame *f)
{
	(void)f;
	__atomic_fetch_add(&got[my_id()][V_OTHERS], 1, __ATOMIC_SEQ_CST);
	apic_write(APIC_EOI, 0);
}

__attribute__((interrupt)) static void on_nmi(struct irq_frame *f)
{
	(void)f;
	__atomic_fetch_add(&nmis[my_id()], 1, __ATOMIC_SEQ_CST);
}

void ap_main(unsigned ticket);
void ap_main(unsigned ticket)
{
	(void)ticket;
	idt_load();
	apic_enable_here();
	__atomic_fetch_or(&id_mask, 1u << apic_id(), __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		sti_hlt();
}

static bool wait_for(volatile unsigned *p, unsigned n)
{
	for (unsigned i = 0; *p < n && i < SPINS; i++)
		cpu_pause();
	return *p >= n;
}

static void start_aps(void)
{
	const char *src = tramp_start;
	char *dst = (char *)(uintptr_t)TRAMPOLINE;
	uintptr_t len = (uintptr_t)tramp_end - (uintptr_t)tramp_start;
	for (uintptr_t i = 0; i < len; i++)
		dst[i] = src[i];
	for (unsigned i = 0; i < 1000000; i++)
		cpu_pause();
	tap_ok(__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) == 0, "no AP runs before its SIPI");
	for (uint32_t id = 1; id < CPUS; id++) {
		apic_send(id, ICR_INIT | ICR_ASSERT);
		apic_send(id, ICR_SIPI | ICR_ASSERT | (TRAMPOLINE >> 12));
		apic_send(id, ICR_SIPI | ICR_ASSERT | (TRAMPOLINE >> 12));
	}
	tap_ok(wait_for(&arrived, CPUS - 1) && arrived == CPUS - 1, "INIT-SIPI-SIPI started %u APs",
	       CPUS - 1);
	tap_ok(id_mask == ((1u << CPUS) - 2), "the APs have APIC IDs 1..%u", CPUS - 1);
}

static void check_ipis(void)
{
	unsigned ok = 0;
	for (uint32_t id = 1; id < CPUS; id++) {
		apic_send(id, V_FIXED | ICR_ASSERT);
		ok += wait_for(&got[id][V_FIXED], 1);
	}
	tap_ok(ok == CPUS - 1 && !got[0][V_FIXED], "a fixed IPI to each AP wakes it from HLT");
	apic_send(2, ICR_NMI | ICR_ASSERT);
	tap_ok(wait_for(&nmis[2], 1) && !nmis[1] && !nmis[3] && !nmis[0],
	       "an NMI to APIC ID 2 reaches it alone");
	apic_send(0, V_OTHERS | ICR_ASSERT | ICR_OTHERS);
	ok = 0;
	for (uint32_t id = 1; id < CPUS; id++)
		ok += wait_for(&got[id][V_OTHERS], 1);
	tap_ok(ok == CPUS - 1 && !got[0][V_OTHERS], "all-excluding-self reaches every AP only");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	bsp_load_gdt();
	idt_set(2, on_nmi);
	idt_set(V_FIXED, on_fixed);
	idt_set(V_OTHERS, on_others);
	idt_load();
	apic_init();
	tap_plan(6);
	start_aps();
	check_ipis();
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	return tap_done();
}
