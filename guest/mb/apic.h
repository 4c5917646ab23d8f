/*
 * The local APIC as a Multiboot kernel for QEMU's `pc` machine drives it (SDM Vol 3A
 * chapter 11): x2APIC MSRs when CPUID.1:ECX[21] offers them (11.12), else the xAPIC
 * page at 0xFEE00000 (11.4.1), chosen once by apic_init; a 32-bit IDT whose gates
 * point at __attribute__((interrupt)) handlers. Used by apic.c and smp.c.
 */
#ifndef GUEST_MB_APIC_H
#define GUEST_MB_APIC_H

#include "mb.h"

#define APIC_ID 0x020
#define APIC_VERSION 0x030
#define APIC_TPR 0x080
#define APIC_PPR 0x0A0
#define APIC_EOI 0x0B0
#define APIC_SVR 0x0F0
#define APIC_ISR0 0x100
#define APIC_IRR0 0x200
#define APIC_ESR 0x280
#define APIC_ICR 0x300
#define APIC_ICR_HIGH 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DCR 0x3E0
#define ICR_ASSERT (1u << 14)
#define ICR_INIT (5u << 8)
#define ICR_SIPI (6u << 8)
#define ICR_NMI (4u << 8)
#define ICR_SELF (1u << 18)
#define ICR_OTHERS (3u << 18)

struct irq_frame {
	uint32_t eip, cs, eflags;
};

static bool apic_x2; /* x2APIC mode: set by apic_init on the BSP, followed by the APs */
#ifndef APIC_FORCE_XAPIC
#define APIC_FORCE_XAPIC 0 /* 1: the xAPIC page even where x2APIC is offered (xapic.c) */
#endif

static inline uint32_t apic_read(uint32_t reg)
{
	if (apic_x2)
		return (uint32_t)rdmsr(0x800 + (reg >> 4));
	return *(volatile uint32_t *)(uintptr_t)(0xFEE00000u + reg);
}

static inline void apic_write(uint32_t reg, uint32_t val)
{
	if (apic_x2)
		wrmsr(0x800 + (reg >> 4), val);
	else
		*(volatile uint32_t *)(uintptr_t)(0xFEE00000u + reg) = val;
}

/* The APIC ID: x2APIC all 32 bits, xAPIC bits 31:24 of the ID register. */
static inline uint32_t apic_id(void)
{
	uint32_t id = apic_read(APIC_ID);
	return apic_x2 ? id : id >> 24;
}

/* Sends an IPI (ICR low bits, destination APIC ID) and waits for the xAPIC's
 * delivery status to go idle (11.6.1). */
static inline void apic_send(uint32_t dest, uint32_t low)
{
	if (apic_x2) {
		wrmsr(0x830, ((uint64_t)dest << 32) | low);
		return;
	}
	apic_write(APIC_ICR_HIGH, dest << 24);
	apic_write(APIC_ICR, low);
	while (apic_read(APIC_ICR) & (1u << 12))
		cpu_pause();
}

/* This CPU's APIC: x2APIC mode if the BSP chose it, software-enabled (SVR 0x1FF). */
static inline void apic_enable_here(void)
{
	if (apic_x2)
		wrmsr(0x1B, rdmsr(0x1B) | (3u << 10)); /* EN | EXTD */
	apic_write(APIC_SVR, 0x1FF);
}

/* On the BSP, once: the 8259 pair masked (the BIOS leaves its timer on vector 8),
 * x2APIC if CPUID offers it. */
static inline void apic_init(void)
{
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
	uint32_t a, b, c, d;
	cpuid(1, &a, &b, &c, &d);
	apic_x2 = !APIC_FORCE_XAPIC && ((c >> 21) & 1);
	printf("# local APIC in %s mode\n", apic_x2 ? "x2APIC" : "xAPIC");
	apic_enable_here();
}

struct idt_gate32 {
	uint16_t off_lo, sel, flags, off_hi;
};
static struct idt_gate32 apic_idt[256] __attribute__((aligned(8)));

/* A 32-bit interrupt gate (present, DPL 0, type 0xE) for vector -> handler. */
static inline void idt_set(unsigned vector, void *handler)
{
	uint32_t a = (uint32_t)(uintptr_t)handler;
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	apic_idt[vector] = (struct idt_gate32){ (uint16_t)a, cs, 0x8E00, (uint16_t)(a >> 16) };
}

static inline void idt_load(void)
{
	lidt_at(apic_idt, sizeof(apic_idt) - 1);
}

#endif
