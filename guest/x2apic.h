/*
 * Helpers of the local APIC test guests (lapic.c, ipi.c): MSR access, the x2APIC
 * registers (SDM Vol 3A 11.12.1.2: MSR 0x800 + xAPIC offset / 16) and a 64-bit IDT
 * whose gates point at handlers written with __attribute__((interrupt)).
 */
#ifndef GUEST_X2APIC_H
#define GUEST_X2APIC_H

#include "keel_guest.h"

#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define APIC_BASE_EXTD (1u << 10)
#define APIC_BASE_EN (1u << 11)
#define X2APIC_ID 0x802
#define X2APIC_VERSION 0x803
#define X2APIC_TPR 0x808
#define X2APIC_EOI 0x80B
#define X2APIC_LDR 0x80D
#define X2APIC_SVR 0x80F
#define X2APIC_IRR0 0x820
#define X2APIC_ICR 0x830
#define X2APIC_LVT_TIMER 0x832
#define X2APIC_TIMER_INIT 0x838
#define X2APIC_TIMER_CUR 0x839
#define X2APIC_TIMER_DCR 0x83E
#define X2APIC_SELF_IPI 0x83F

struct irq_frame {
	uint64_t rip, cs, rflags, rsp, ss;
};

/* Puts the APIC in x2APIC mode and software-enables it (SVR 0x1FF). */
static inline void x2apic_enable(void)
{
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
	wrmsr(X2APIC_SVR, 0x1FF);
}

static inline void x2apic_eoi(void)
{
	wrmsr(X2APIC_EOI, 0);
}

struct idt_gate {
	uint16_t off_lo, sel, flags, off_mid;
	uint32_t off_hi, zero;
};

static struct idt_gate guest_idt[256] __attribute__((aligned(16)));

/* An interrupt gate (present, DPL 0, type 0xE) for vector -> handler. */
static inline void idt_set(unsigned vector, void *handler)
{
	uint64_t a = (uint64_t)(uintptr_t)handler;
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	guest_idt[vector] = (struct idt_gate){ (uint16_t)a,	    cs, 0x8E00, (uint16_t)(a >> 16),
					       (uint32_t)(a >> 32), 0 };
}

static inline void idt_load(void)
{
	lidt_at(guest_idt, sizeof(guest_idt) - 1);
}

#endif
