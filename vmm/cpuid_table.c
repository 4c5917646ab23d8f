/*
 * The CPUID a guest sees (cpu_model.h): one table of bits cleared and set in the host's
 * answers, for every vCPU, then the fields that differ per vCPU. Bits: SDM Vol 2A
 * CPUID, tables 3-8 ("Information Returned by CPUID"), 3-10 (leaf 1 ECX), 3-11 (leaf 1
 * EDX). Pure: the host's answer comes in, the guest's goes out.
 */
#include "cpu_model.h"

enum { REG_A, REG_B, REG_C, REG_D };
#define ANY_SUB 0xFFFFFFFFu
#define ALL 0xFFFFFFFFu

struct cpuid_rule {
	uint32_t leaf, sub; /* sub: ANY_SUB for every subleaf */
	uint8_t reg;
	uint32_t clear, set;
};

/* Leaf 1 ECX: DTES64 2, MONITOR 3, DS-CPL 4, VMX 5, SMX 6, EIST 7, TM2 8, SDBG 11,
 * PDCM 15 (perfmon MSR 0x345), x2APIC 21 and TSC-deadline 24 (set per vCPU when the
 * LAPIC model offers them), OSXSAVE 27 (from CR4); hypervisor present 31. */
#define L1C_HIDE                                                                             \
	((1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) | \
	 (1u << 11) | (1u << 15) | (1u << 21) | (1u << 24) | (1u << 27))
/* Leaf 1 EDX: MTRR 12, PAT 16 and HTT 28 (set per vCPU), PSN 18, DS 21, ACPI 22, TM 29,
 * PBE 31: each promises MSRs or thermal control Keel does not emulate. */
#define L1D_HIDE                                                                       \
	((1u << 12) | (1u << 16) | (1u << 18) | (1u << 21) | (1u << 22) | (1u << 28) | \
	 (1u << 29) | (1u << 31))
/* Leaf 7.0 EBX: TSC_ADJUST 1, SGX 2, MPX 14, RDT-M 12, RDT-A 15, PT 25. ECX: OSPKE 4
 * (from CR4), WAITPKG 5, SGX_LC 30. EDX: hybrid 15, IBRS/IBPB 26, STIBP 27, L1D_FLUSH 28,
 * ARCH_CAPABILITIES 29, CORE_CAPABILITIES 30, SSBD 31 (MSRs not emulated). */
#define L7B_HIDE ((1u << 1) | (1u << 2) | (1u << 12) | (1u << 14) | (1u << 15) | (1u << 25))
#define L7C_HIDE ((1u << 4) | (1u << 5) | (1u << 30))
#define L7D_HIDE \
	((1u << 15) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29) | (1u << 30) | (1u << 31))

static const struct cpuid_rule rules[] = {
	/* sorted by leaf */
	{ 1, ANY_SUB, REG_C, L1C_HIDE, 1u << 31 },
	{ 1, ANY_SUB, REG_D, L1D_HIDE, 0 },
	{ 1, ANY_SUB, REG_B, 0xFFFF0000u, 0 }, /* APIC ID, logical count: per vCPU */
	{ 7, 0, REG_B, L7B_HIDE, 0 },
	{ 7, 0, REG_C, L7C_HIDE, 0 },
	{ 7, 0, REG_D, L7D_HIDE, 0 },
	/* XSAVE 0xD.1 EAX: XSAVES 3 and XFD 4 need the IA32_XSS / XFD MSRs; ECX/EDX: the
	 * IA32_XSS components. */
	{ 0xD, 1, REG_A, (1u << 3) | (1u << 4), 0 },
	{ 0xD, 1, REG_C, ALL, 0 },
	{ 0xD, 1, REG_D, ALL, 0 },
	/* 0x80000001 EDX: RDTSCP 27 set per vCPU when enabled. */
	{ 0x80000001u, ANY_SUB, REG_D, 1u << 27, 0 },
};

/* Leaves answered with zeros in every register: MONITOR/MWAIT 5 and power management 6
 * (not offered), architectural performance monitoring 0xA (no PMU), RDT monitoring and
 * allocation 0xF and 0x10, SGX 0x12, processor trace 0x14, V2 topology 0x1F (leaf 0xB
 * is the topology). */
#define ZERO_LEAVES                                                                        \
	((1u << 5) | (1u << 6) | (1u << 0xA) | (1u << 0xF) | (1u << 0x10) | (1u << 0x12) | \
	 (1u << 0x14) | (1u << 0x1F))

static uint32_t *reg_of(struct cpuid_regs *r, unsigned reg)
{
	uint32_t *const map[4] = { &r->a, &r->b, &r->c, &r->d };
	return map[reg & 3];
}

/* Basic leaves the filter changes (the rules, the zeroed leaves, the per-vCPU fields:
 * 1, 7, 0xB, 0xD); every other leaf below 32 is the host's as it is. */
#define TOUCHED_LEAVES (ZERO_LEAVES | (1u << 1) | (1u << 7) | (1u << 0xB) | (1u << 0xD))

bool cpu_model_cpuid_is_plain(uint32_t leaf)
{
	return leaf < 32 && !((TOUCHED_LEAVES >> leaf) & 1);
}

/* The rules are sorted by leaf: the scan stops at the first later leaf. */
static void apply_rules(uint32_t leaf, uint32_t sub, struct cpuid_regs *r)
{
	if (leaf < 32 && ((ZERO_LEAVES >> leaf) & 1))
		r->a = r->b = r->c = r->d = 0;
	for (unsigned i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct cpuid_rule *x = &rules[i];
		if (x->leaf > leaf)
			break;
		if (x->leaf != leaf || (x->sub != ANY_SUB && x->sub != sub))
			continue;
		uint32_t *p = reg_of(r, x->reg);
		*p = (*p & ~x->clear) | x->set;
	}
}

/* Bits needed for an ID below n (the x2APIC-ID shift of a topology level). */
static unsigned id_bits(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* Leaf 0xB (Vol 2A CPUID "Extended Topology Enumeration Leaf"): one thread per core,
 * vcpu_count cores in one package; EDX the x2APIC ID in every subleaf. */
static void topology_leaf(uint32_t sub, const struct cpuid_ctx *ctx, struct cpuid_regs *r)
{
	r->d = ctx->apic_id;
	if (sub == 0) {
		r->a = 0;
		r->b = 1;
		r->c = (1u << 8) | sub; /* level type 1: SMT */
	} else if (sub == 1) {
		r->a = id_bits(ctx->vcpu_count);
		r->b = ctx->vcpu_count;
		r->c = (2u << 8) | sub; /* level type 2: core */
	} else {
		r->a = r->b = 0;
		r->c = sub & 0xFF; /* level type 0: invalid, ends the enumeration */
	}
}

static void per_vcpu(uint32_t leaf, uint32_t sub, const struct cpuid_ctx *ctx, struct cpuid_regs *r)
{
	if (leaf == 1) {
		r->b |= (ctx->apic_id & 0xFF) << 24 | (ctx->vcpu_count & 0xFF) << 16;
		r->c |= (ctx->x2apic ? 1u << 21 : 0) | (ctx->tsc_deadline ? 1u << 24 : 0) |
			((ctx->cr4 & CPU_CR4_OSXSAVE) ? 1u << 27 : 0);
		r->d |= (ctx->vcpu_count > 1 ? 1u << 28 : 0) | (ctx->pat ? 1u << 16 : 0);
	} else if (leaf == 7 && sub == 0) {
		r->c |= (ctx->cr4 & CPU_CR4_PKE) ? 1u << 4 : 0;
	} else if (leaf == 0xB) {
		topology_leaf(sub, ctx, r);
	} else if (leaf == 0xD && sub == 0) {
		r->a &= (uint32_t)ctx->xcr0_ok;
		r->d &= (uint32_t)(ctx->xcr0_ok >> 32);
	} else if (leaf == 0xD && sub >= 2 && sub < 64 && !((ctx->xcr0_ok >> sub) & 1)) {
		r->a = r->b = r->c = r->d = 0; /* a component the guest may not enable */
	} else if (leaf == 0x80000001u) {
		r->d |= ctx->rdtscp ? 1u << 27 : 0;
	}
}

void cpu_model_cpuid(uint32_t leaf, uint32_t sub, const struct cpuid_ctx *ctx, struct cpuid_regs *r)
{
	if (leaf >= 0x40000000u && leaf < 0x50000000u) {
		/* Keel's range: 0x40000000 names Keel ("KeelKeelKeel", highest leaf in EAX);
		 * the rest is empty. */
		bool keel = leaf == CPU_MODEL_KEEL_LEAF;
		r->a = keel ? CPU_MODEL_KEEL_LEAF : 0;
		r->b = r->c = r->d = keel ? 0x6C65654Bu : 0; /* "Keel" */
		return;
	}
	apply_rules(leaf, sub, r);
	per_vcpu(leaf, sub, ctx, r);
}
