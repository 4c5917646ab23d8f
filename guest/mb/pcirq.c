/*
 * pcirq: a device interrupt through the 8259 pair, the way a kernel sets up its first
 * timer tick: the PICs remapped to vectors 0x20-0x2F (ICW1-ICW4), an IDT, the 8254's
 * counter 0 in mode 2 (rate generator, about 1 ms), interrupts on. Checks that a masked
 * IRQ 0 is not delivered, that it arrives once unmasked (and the handler's EOI clears
 * the ISR), that masking it again stops it, that it interrupts a loop that makes no
 * I/O (a hypervisor must not wait for the guest's next exit), and that HLT wakes for
 * it. Time is measured by counter 0's own periods (its count wrapping), or by the TSC
 * calibrated against them, so the checks hold at any speed.
 */
#include "mb.h"

#define PIT_COUNT 1193 /* 1 ms at 1.193182 MHz */

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[0x30];
volatile uint32_t irq0_count;

/* IRQ 0: count, EOI to the master. Other vectors: EOI to both PICs (a spurious or
 * stray interrupt must not wedge the test). */
__asm__(".text\n"
	"irq0_entry:\n"
	"  pushl %eax\n"
	"  lock incl irq0_count\n"
	"  movb $0x20, %al\n"
	"  outb %al, $0x20\n"
	"  popl %eax\n"
	"  iret\n"
	"other_entry:\n"
	"  pushl %eax\n"
	"  movb $0x20, %al\n"
	"  outb %al, $0xA0\n"
	"  outb %al, $0x20\n"
	"  popl %eax\n"
	"  iret\n");
extern char irq0_entry[], other_entry[];

static void set_gate(unsigned vec, void *handler, uint16_t cs)
{
	uint32_t off = (uint32_t)(uintptr_t)handler;
	idt[vec] = (struct idt_gate){ (uint16_t)off, cs, 0, 0x8E, (uint16_t)(off >> 16) };
}

static void setup_idt(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (unsigned v = 0x20; v < 0x30; v++)
		set_gate(v, v == 0x20 ? (void *)irq0_entry : (void *)other_entry, cs);
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

static void setup_pic(void)
{
	static const uint8_t icw[2][4] = { { 0x11, 0x20, 0x04, 0x01 }, { 0x11, 0x28, 0x02, 0x01 } };
	for (unsigned k = 0; k < 4; k++) {
		outb(k ? 0x21 : 0x20, icw[0][k]);
		outb(k ? 0xA1 : 0xA0, icw[1][k]);
	}
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint16_t pit0_read(void)
{
	outb(0x43, 0x00); /* latch counter 0 */
	uint16_t lo = inb(0x40);
	return (uint16_t)(lo | inb(0x40) << 8);
}

/* Waits until `periods` periods of counter 0 passed or *count reached `until`. */
static void wait_periods(unsigned periods, uint32_t until)
{
	uint16_t prev = pit0_read();
	unsigned seen = 0;
	for (unsigned i = 0; i < 2000000 && seen < periods && irq0_count < until; i++) {
		uint16_t now = pit0_read();
		seen += now > prev; /* the count reloaded */
		prev = now;
	}
}

/* TSC cycles of `periods` periods of counter 0 (IRQ 0 masked meanwhile). */
static uint64_t tsc_per_periods(unsigned periods)
{
	wait_periods(1, ~0u);
	uint64_t t0 = rdtsc();
	wait_periods(periods, ~0u);
	return rdtsc() - t0;
}

/* Spins on memory only (no I/O, no exits of its own) for span TSC cycles or until 4
 * ticks came; true if they did. */
static bool ticks_while_spinning(uint64_t span)
{
	uint32_t before = irq0_count;
	uint64_t end = rdtsc() + span;
	while (rdtsc() < end && irq0_count - before < 4)
		__asm__ volatile("pause");
	return irq0_count - before >= 4;
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	(void)magic;
	(void)info;
	tap_plan(6);
	setup_idt();
	setup_pic();
	outb(0x43, 0x34); /* counter 0, LSB then MSB, mode 2 */
	outb(0x40, PIT_COUNT & 0xFF);
	outb(0x40, PIT_COUNT >> 8);
	__asm__ volatile("sti");
	wait_periods(5, ~0u);
	tap_ok(irq0_count == 0, "masked IRQ 0 is not delivered");
	outb(0x21, 0xFE); /* unmask IRQ 0 */
	wait_periods(100, 3);
	tap_ok(irq0_count >= 3, "unmasked IRQ 0 arrives through the PIC at vector 0x20");
	outb(0x21, 0xFF);
	outb(0x20, 0x0B); /* OCW3: read ISR */
	tap_ok(inb(0x20) == 0, "the handler's EOI cleared the ISR");
	uint32_t before = irq0_count;
	wait_periods(5, ~0u);
	tap_ok(irq0_count == before, "masked again, IRQ 0 stops");
	uint64_t span = tsc_per_periods(8);
	outb(0x21, 0xFE);
	/* Up to 5 tries: a vCPU sharing its CPU may lose a whole try to another one (its
	 * TSC runs on while it waits); without the tick reaching a loop that makes no exits
	 * of its own, every try sees at most one (a 10 ms slice end per 8 ms try). */
	bool ticked = false;
	for (unsigned try = 0; try < 5 && !ticked; try++)
		ticked = ticks_while_spinning(span);
	tap_ok(ticked, "IRQ 0 interrupts a loop that makes no I/O");
	before = irq0_count;
	__asm__ volatile("hlt");
	tap_ok(irq0_count > before, "HLT wakes for IRQ 0");
	__asm__ volatile("cli");
	outb(0x21, 0xFF);
	return tap_done();
}
