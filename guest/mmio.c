/*
 * mmio (64-bit) and mmio32 (32-bit protected mode): the I/O APIC at 0xFEC00000 through
 * Keel's MMIO emulation, with the instruction forms compilers emit, each written out in
 * inline assembly so the form is the one named: byte, word and dword MOVs both ways,
 * MOV imm, MOVZX, MOVSX, AH as a byte register, REP STOS, MOVS both ways, OR/AND on the
 * register and CMP's flags. Every value read back is checked against the 82093AA's
 * rules (read-only bits, masked at reset) and QEMU's (version 0x20).
 *
 * With hooks=1, pins raised through KEEL_HC_TEST_IRQ must reach the IDT as programmed.
 * arg=1 (64-bit): a qword write to IOWIN (a bad width): the guest must be ended with a
 * reason.
 * arg=2: XCHG with the device (not emulated): ended naming the instruction.
 * arg=3 (64-bit, hooks=1): an interrupt frame pushed onto the device; arg=4 (64-bit): a
 * page table inside the device: both ended (the instruction at RIP did not make them).
 * The long-mode guest maps the page itself (Keel's tables cover the first 1 GiB only).
 */
#include "keel_guest.h"

#define IOAPIC 0xFEC00000u
#define SEL ((uintptr_t)IOAPIC)
#define WIN ((uintptr_t)IOAPIC + 0x10)

#if defined(__x86_64__)
/* A PD for 3-4 GiB: the 2 MiB page holding the I/O APIC, uncached. */
static uint64_t pd_high[512] __attribute__((aligned(4096)));

static void map_ioapic(void)
{
	uint64_t *pdpt = (uint64_t *)(uintptr_t)0x2000;			/* Keel's PDPT (layout.h) */
	pd_high[(IOAPIC >> 21) & 511] = (IOAPIC & ~0x1FFFFFull) | 0x9B; /* P RW PWT PCD PS */
	pdpt[3] = (uintptr_t)pd_high | 3;
	uintptr_t cr3;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}
#else
static void map_ioapic(void)
{
}
#endif

static void w8(uintptr_t a, uint8_t v)
{
	__asm__ volatile("movb %1, (%0)" : : "r"(a), "q"(v) : "memory");
}
static void w16(uintptr_t a, uint16_t v)
{
	__asm__ volatile("movw %1, (%0)" : : "r"(a), "r"(v) : "memory");
}
static void w32(uintptr_t a, uint32_t v)
{
	__asm__ volatile("movl %1, (%0)" : : "r"(a), "r"(v) : "memory");
}
static uint8_t r8(uintptr_t a)
{
	uint8_t v;
	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a) : "memory");
	return v;
}
static uint16_t r16(uintptr_t a)
{
	uint16_t v;
	__asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static uint32_t r32(uintptr_t a)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}

/* IOREGSEL = reg, then IOWIN's dword. */
static uint32_t reg_get(uint8_t reg)
{
	w32(SEL, reg);
	return r32(WIN);
}
static void reg_set(uint8_t reg, uint32_t v)
{
	w32(SEL, reg);
	w32(WIN, v);
}

static void moves(void)
{
	tap_ok(reg_get(1) == 0x00170020, "dword MOVs: version 0x20, 24 pins (%x)", reg_get(1));
	w8(SEL, 0x10);
	tap_ok(r32(SEL) == 0x10 && r32(WIN) == 0x00010000,
	       "byte MOV to IOREGSEL; entry 0 masked at reset (%x)", r32(WIN));
	w32(WIN, 0x0001D040); /* bits 12 and 14 are read-only */
	tap_ok(r32(WIN) == 0x00018040, "entry 0 keeps its read-only bits (%x)", r32(WIN));
	w16(WIN, 0x1234);
	tap_ok(r32(WIN) == 0x00010234 && r16(WIN) == 0x0234 && r8(WIN + 2) == 0x01,
	       "word MOV merges into the entry; word and byte reads (%x)", r32(WIN));
	__asm__ volatile("movl $0x000100F0, (%0)" : : "r"(WIN) : "memory");
	uint32_t zx, sx;
	__asm__ volatile("movzbl (%1), %0" : "=r"(zx) : "r"(WIN) : "memory");
	__asm__ volatile("movsbl (%1), %0" : "=r"(sx) : "r"(WIN) : "memory");
	tap_ok(zx == 0xF0 && sx == 0xFFFFFFF0, "MOV imm; MOVZX %x, MOVSX %x", zx, sx);
	uint32_t ax = 0x11223344;
	__asm__ volatile("movb (%1), %%ah" : "+a"(ax) : "r"(WIN) : "memory");
	tap_ok(ax == 0x1122F044, "MOV to AH keeps AL and the upper bits (%x)", ax);
	reg_set(0x11, 0xFF000000);
	tap_ok(r32(WIN) == 0xFF000000, "entry 0's destination reads back (%x)", r32(WIN));
	reg_set(0, 0xFFFFFFFF);
	tap_ok(reg_get(0) == 0x0F000000 && reg_get(2) == 0x0F000000, "ID and arbitration (%x)",
	       reg_get(0));
}

static void strings(void)
{
	uintptr_t d = SEL, n = 4;
	__asm__ volatile("cld; rep stosb" : "+D"(d), "+c"(n) : "a"(0x01) : "memory");
	tap_ok(n == 0 && d == SEL + 4 && r32(SEL) == 1 && r32(WIN) == 0x00170020,
	       "REP STOSB over IOREGSEL: count and rDI advanced, last byte kept");
	static uint32_t src = 0x12, dst;
	uintptr_t s = (uintptr_t)&src;
	d = SEL;
	n = 1;
	__asm__ volatile("rep movsl" : "+S"(s), "+D"(d), "+c"(n) : : "memory");
	s = WIN;
	d = (uintptr_t)&dst;
	__asm__ volatile("movsl" : "+S"(s), "+D"(d) : : "memory");
	tap_ok(r32(SEL) == 0x12 && dst == r32(WIN) && s == WIN + 4,
	       "MOVS from RAM to IOREGSEL and from IOWIN to RAM (%x)", dst);
	d = IOAPIC + 0x20; /* 900 dwords (aliases of the registers too): several exits */
	n = 900;
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0) : "memory");
	d = SEL + 3;
	n = 4;
	__asm__ volatile("std; rep stosb; cld" : "+D"(d), "+c"(n) : "a"(0x02) : "memory", "cc");
	tap_ok(r32(SEL) == 2 && n == 0 && d == SEL - 1,
	       "REP STOSL of 900 dwords, and REP STOSB downwards (DF = 1)");
}

#if defined(__x86_64__)
/* FS-based: the segment base takes part in the linear address (64-bit mode). */
static void segment(void)
{
	uint32_t lo = IOAPIC, hi = 0, v;
	__asm__ volatile("wrmsr" : : "c"(0xC0000100u), "a"(lo), "d"(hi));
	w32(SEL, 1);
	__asm__ volatile("movl %%fs:0x10, %0" : "=r"(v) : : "memory");
	tap_ok(v == 0x00170020, "MOV through FS (base 0xFEC00000) reads IOWIN (%x)", v);
	uint64_t r11, r10;
	__asm__ volatile("mov $-1, %%r11; mov $-1, %%r10; movl (%2), %%r11d; movw (%2), %%r10w; "
			 "mov %%r11, %0; mov %%r10, %1"
			 : "=&r"(r11), "=&r"(r10)
			 : "r"(WIN)
			 : "r10", "r11", "memory");
	tap_ok(r11 == 0x00170020 && r10 == 0xFFFFFFFFFFFF0020ull,
	       "R11D load zero-extends, R10W load keeps bits 63:16 (%llx %llx)",
	       (unsigned long long)r11, (unsigned long long)r10);
}
#else
static void segment(void)
{
	tap_ok(true, "# SKIP FS base test: 64-bit only");
	tap_ok(true, "# SKIP R8-R15 test: 64-bit only");
}
#endif

static void alu(void)
{
	reg_set(0x14, 0x00010055); /* entry 2 low */
	__asm__ volatile("andl $0xFFFEFFFF, (%0)" : : "r"(WIN) : "memory");
	__asm__ volatile("orw $0x8000, (%0)" : : "r"(WIN) : "memory");
	uint8_t eq;
	__asm__ volatile("cmpl $0x8055, (%1); sete %0" : "=q"(eq) : "r"(WIN) : "memory", "cc");
	tap_ok(eq && r32(WIN) == 0x8055, "AND, OR and CMP on the entry (%x)", r32(WIN));
}

/* ---- delivery: a pin raised through the test hook (hooks=1) reaches the IDT. */

volatile uint32_t irq_count;
void irq_stub(void);
#if defined(__x86_64__)
__asm__(".globl irq_stub\nirq_stub:\n\tlock incl irq_count\n\tiretq\n");
struct gate {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
};
#else
__asm__(".globl irq_stub\nirq_stub:\n\tlock incl irq_count\n\tiret\n");
struct gate {
	uint16_t off0, sel;
	uint8_t zero, attr;
	uint16_t off1;
};
#endif
static struct gate idt[256];

static void idt_set(unsigned vector)
{
	uint16_t cs;
	uintptr_t h = (uintptr_t)irq_stub;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[vector] = (struct gate){
		.off0 = (uint16_t)h, .sel = cs, .attr = 0x8E, .off1 = (uint16_t)(h >> 16)
	};
#if defined(__x86_64__)
	idt[vector].off2 = (uint32_t)(h >> 32);
#endif
	struct __attribute__((packed)) {
		uint16_t limit;
		uintptr_t base;
	} idtr = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* The I/O APIC delivers to the local APIC, which accepts nothing until software-enabled
 * (SDM Vol 3A 11.4.7.2): x2APIC mode (IA32_APIC_BASE bits 10, 11), SVR = 0x1FF. */
static void lapic_enable(void)
{
	wrmsr(0x1B, 0xFEE00000u | (1u << 11) | (1u << 10) | (1u << 8)); /* BSP, EN, EXTD */
	wrmsr(0x80F, 0x1FF);
}

static void delivery(void)
{
	lapic_enable();
	idt_set(0x40);
	reg_set(0x10 + 2 * 3 + 1, 0); /* pin 3: destination APIC 0 */
	reg_set(0x10 + 2 * 3, 0x40);  /* fixed, physical, edge, unmasked, vector 0x40 */
	long reached = keel_test_irq(3);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	tap_ok(reached == 1 && irq_count == 1, "pin 3 reaches vCPU 0 at vector 0x40 (%ld, %u)",
	       reached, irq_count);
	reg_set(0x10 + 2 * 3, 0x10040); /* masked */
	reached = keel_test_irq(3);
	__asm__ volatile("sti; nop; nop; cli" ::: "memory");
	reg_set(0x10 + 2 * 3 + 1, 0x05000000); /* unmasked again, to APIC 5: no such vCPU */
	reg_set(0x10 + 2 * 3, 0x40);
	long nobody = keel_test_irq(3);
	tap_ok(reached == 0 && nobody == 0 && irq_count == 1 && keel_test_irq(24) == -22,
	       "masked pin and absent destination deliver nothing; pin 24 refused");
}

#if defined(__x86_64__)
/* arg=3: an interrupt frame pushed onto the device (RSP inside the page). */
static void stack_on_device(void)
{
	lapic_enable();
	idt_set(0x40);
	reg_set(0x10 + 2 * 3 + 1, 0);
	reg_set(0x10 + 2 * 3, 0x40);
	printf("mmio: an interrupt with RSP on the I/O APIC (raised: %ld)\n", keel_test_irq(3));
	__asm__ volatile("mov %0, %%rsp; sti; nop; hlt" : : "r"(IOAPIC + 0x800ul) : "memory");
}

/* arg=4: a page table inside the device: the CPU's walk reads it. */
static void table_on_device(void)
{
	pd_high[(0xFEA00000u >> 21) & 511] = IOAPIC | 3; /* a PT at 0xFEC00000 */
	printf("mmio: a page walk through the I/O APIC page\n");
	__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3; movl (%0), %%eax"
			 :
			 : "r"(0xFEA00000ul)
			 : "rax", "memory");
}
#endif

static void misbehave(uintptr_t arg)
{
	w32(SEL, 0x10);
	if (arg == 1) {
		printf("mmio: a qword write to IOWIN\n");
#if defined(__x86_64__)
		__asm__ volatile("movq %1, (%0)" : : "r"(WIN), "r"(0ull) : "memory");
#endif
	} else if (arg == 2) {
		printf("mmio: XCHG with IOWIN\n");
		uint32_t v = 0;
		__asm__ volatile("xchgl %0, (%1)" : "+r"(v) : "r"(WIN) : "memory");
	}
#if defined(__x86_64__)
	if (arg == 3)
		stack_on_device();
	if (arg == 4)
		table_on_device();
#endif
}

int guest_main(uintptr_t arg, unsigned vcpu, unsigned vcpu_count)
{
	(void)vcpu_count;
	if (vcpu != 0)
		for (;;)
			cpu_pause();
	map_ioapic();
	if (arg) {
		misbehave(arg);
		return 99; /* never: the guest must have been ended */
	}
	tap_plan(16);
	moves();
	strings();
	alu();
	segment();
	delivery();
	return tap_done();
}
