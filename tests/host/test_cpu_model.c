/*
 * Host tests of the guest CPU model's pure rules (vmm/cpu_model.c, vmm/cpuid_table.c):
 * control-register and EFER loads (which #GP, what happens to EFER.LMA, when the PDPTEs
 * load), PDPTE reserved bits, which vectors set RF, XCR0 and PAT validity, and the CPUID
 * filter. Expected values are written here from the SDM, not taken from the code.
 */
#include <stdio.h>
#include <string.h>

#include <keel/compiler.h>
#include <keel/errno.h>

#include "cpu_model.h"
#include "frame_fake.h"

#define PE CPU_CR0_PE
#define PG CPU_CR0_PG
#define LME CPU_EFER_LME
#define LMA CPU_EFER_LMA
#define PAE CPU_CR4_PAE
#define CR4_ALL 0x3FFFFFull /* bits a test CPU allows (fixed1) */

static const struct cpu_mode prot32 = { PE | CPU_CR0_ET, 0, 0, false };

static bool cr0_long_mode_entry_and_exit(void)
{
	struct cpu_mode s = prot32, o;
	bool pd;
	s.efer = LME;
	T_ASSERT(cpu_model_write_cr0(&s, s.cr0 | PG, &o, &pd) == -EINVAL); /* PAE clear */
	s.cr4 = PAE;
	T_ASSERT(cpu_model_write_cr0(&s, s.cr0 | PG, &o, &pd) == 0);
	T_ASSERT(o.efer == (LME | LMA) && (o.cr0 & PG) && !pd); /* long mode: no PDPTEs */
	/* out again: refused in 64-bit mode, allowed in compatibility mode */
	o.cs_l = true;
	struct cpu_mode back;
	T_ASSERT(cpu_model_write_cr0(&o, o.cr0 & ~PG, &back, &pd) == -EINVAL);
	o.cs_l = false;
	T_ASSERT(cpu_model_write_cr0(&o, o.cr0 & ~PG, &back, &pd) == 0);
	T_ASSERT(back.efer == LME && !(back.cr0 & PG));
	/* with CR4.PCIDE set, PG may not be cleared */
	o.cr4 |= CPU_CR4_PCIDE;
	T_ASSERT(cpu_model_write_cr0(&o, o.cr0 & ~PG, &back, &pd) == -EINVAL);
	return true;
}

static bool cr0_general_rules(void)
{
	struct cpu_mode o;
	bool pd;
	T_ASSERT(cpu_model_write_cr0(&prot32, PG, &o, &pd) == -EINVAL); /* PG without PE */
	T_ASSERT(cpu_model_write_cr0(&prot32, PE | CPU_CR0_NW, &o, &pd) == -EINVAL);
	T_ASSERT(cpu_model_write_cr0(&prot32, PE | CPU_CR0_NW | CPU_CR0_CD, &o, &pd) == 0);
	T_ASSERT(cpu_model_write_cr0(&prot32, PE | (1ull << 32), &o, &pd) == -EINVAL);
	T_ASSERT(cpu_model_write_cr0(&prot32, 0, &o, &pd) == 0 && o.cr0 == 0); /* to real */
	T_ASSERT(cpu_model_write_cr0(&prot32, PE | PG, &o, &pd) == 0 && !(o.efer & LMA) && !pd);
	return true;
}

static bool pdptes_load_when_pae_paging_starts(void)
{
	struct cpu_mode s = prot32, o;
	bool pd;
	s.cr4 = PAE;
	T_ASSERT(cpu_model_write_cr0(&s, s.cr0 | PG, &o, &pd) == 0 && pd && !(o.efer & LMA));
	/* already paging with PAE: CD changes reload, WP does not */
	s = o;
	T_ASSERT(cpu_model_write_cr0(&s, s.cr0 | CPU_CR0_CD, &o, &pd) == 0 && pd);
	T_ASSERT(cpu_model_write_cr0(&s, s.cr0 | CPU_CR0_WP, &o, &pd) == 0 && !pd);
	/* CR4: PGE changes reload, OSXSAVE does not; PAE on while paging reloads */
	T_ASSERT(cpu_model_write_cr4(&s, s.cr4 | CPU_CR4_PGE, CR4_ALL, 0, &o, &pd) == 0 && pd);
	T_ASSERT(cpu_model_write_cr4(&s, s.cr4 | CPU_CR4_OSXSAVE, CR4_ALL, 0, &o, &pd) == 0 && !pd);
	struct cpu_mode nopae = s;
	nopae.cr4 = 0;
	T_ASSERT(cpu_model_write_cr4(&nopae, PAE, CR4_ALL, 0, &o, &pd) == 0 && pd);
	T_ASSERT(cpu_model_write_cr4(&s, 0, CR4_ALL, 0, &o, &pd) == 0 && !pd); /* PAE off */
	return true;
}

static bool cr4_rules(void)
{
	struct cpu_mode lm = { PE | PG, PAE, LME | LMA, true }, o;
	bool pd;
	T_ASSERT(cpu_model_write_cr4(&lm, 0, CR4_ALL, 0, &o, &pd) == -EINVAL); /* PAE in LMA */
	T_ASSERT(cpu_model_write_cr4(&lm, PAE | CPU_CR4_VMXE, CR4_ALL & ~CPU_CR4_VMXE, 0, &o,
				     &pd) == -EINVAL);
	T_ASSERT(cpu_model_write_cr4(&lm, PAE | (1ull << 40), CR4_ALL, 0, &o, &pd) == -EINVAL);
	/* PCIDE: only in IA-32e mode with CR3[11:0] = 0 */
	T_ASSERT(cpu_model_write_cr4(&lm, PAE | CPU_CR4_PCIDE, CR4_ALL, 0x1000, &o, &pd) == 0);
	T_ASSERT(cpu_model_write_cr4(&lm, PAE | CPU_CR4_PCIDE, CR4_ALL, 0x1001, &o, &pd) ==
		 -EINVAL);
	T_ASSERT(cpu_model_write_cr4(&prot32, CPU_CR4_PCIDE, CR4_ALL, 0, &o, &pd) == -EINVAL);
	return true;
}

static bool efer_rules(void)
{
	uint64_t ok = CPU_EFER_SCE | LME | CPU_EFER_NXE;
	struct cpu_mode o, paging = { PE | PG, 0, 0, false };
	T_ASSERT(cpu_model_write_efer(&prot32, LME | CPU_EFER_SCE, ok, &o) == 0);
	T_ASSERT(o.efer == (LME | CPU_EFER_SCE));
	T_ASSERT(cpu_model_write_efer(&prot32, 1ull << 9, ok, &o) == -EINVAL);	   /* reserved */
	T_ASSERT(cpu_model_write_efer(&prot32, CPU_EFER_NXE, LME, &o) == -EINVAL); /* no NX */
	T_ASSERT(cpu_model_write_efer(&paging, LME, ok, &o) == -EINVAL);	   /* LME + PG */
	T_ASSERT(cpu_model_write_efer(&paging, CPU_EFER_NXE, ok, &o) == 0);
	/* LMA is the CPU's: a written LMA is ignored either way */
	T_ASSERT(cpu_model_write_efer(&prot32, LMA, ok, &o) == 0 && o.efer == 0);
	struct cpu_mode lm = { PE | PG, PAE, LME | LMA, true };
	T_ASSERT(cpu_model_write_efer(&lm, LME, ok, &o) == 0 && o.efer == (LME | LMA));
	T_ASSERT(cpu_model_write_efer(&lm, 0, ok, &o) == -EINVAL); /* LME off while paging */
	return true;
}

static bool pdpte_reserved_bits(void)
{
	T_ASSERT(cpu_model_pdpte_ok(0, 36));
	T_ASSERT(cpu_model_pdpte_ok(0xFFFFFFFFFFFFFFFEull, 36)); /* not present: anything */
	T_ASSERT(cpu_model_pdpte_ok(0x12345001ull, 36));
	T_ASSERT(cpu_model_pdpte_ok(0x12345019ull, 36)); /* PWT 3, PCD 4, bits 9-11 free */
	T_ASSERT(cpu_model_pdpte_ok(0x12345E01ull, 36));
	for (unsigned b = 1; b <= 8; b++) /* RW, US, A, D, PS... reserved: 1, 2, 5-8 */
		T_ASSERT(cpu_model_pdpte_ok(1 | (1ull << b), 36) == (b == 3 || b == 4));
	T_ASSERT(!cpu_model_pdpte_ok(1 | (1ull << 36), 36));
	T_ASSERT(cpu_model_pdpte_ok(1 | (1ull << 38), 39));
	T_ASSERT(!cpu_model_pdpte_ok(1 | (1ull << 63), 52)); /* no XD in a PDPTE */
	return true;
}

static bool rf_for_faults_only(void)
{
	static const unsigned faults[] = { 0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21 };
	unsigned n = 0;
	for (unsigned v = 0; v < 256; v++)
		n += cpu_model_vector_sets_rf(v);
	T_ASSERT(n == ARRAY_SIZE(faults));
	for (unsigned i = 0; i < ARRAY_SIZE(faults); i++)
		T_ASSERT(cpu_model_vector_sets_rf(faults[i]));
	T_ASSERT(!cpu_model_vector_sets_rf(1) && !cpu_model_vector_sets_rf(3) &&
		 !cpu_model_vector_sets_rf(4) && !cpu_model_vector_sets_rf(8) &&
		 !cpu_model_vector_sets_rf(18) && !cpu_model_vector_sets_rf(32));
	return true;
}

static bool xcr0_combinations(void)
{
	uint64_t all = CPU_XCR0_OFFERED | CPU_XCR0_BNDREGS | CPU_XCR0_BNDCSR | CPU_XCR0_AMX;
	T_ASSERT(cpu_model_xcr0_check(1, all) == 0);
	T_ASSERT(cpu_model_xcr0_check(3, all) == 0);
	T_ASSERT(cpu_model_xcr0_check(7, all) == 0);
	T_ASSERT(cpu_model_xcr0_check(0xE7, all) == 0);
	T_ASSERT(cpu_model_xcr0_check(0, all) == -EINVAL);	 /* x87 clear */
	T_ASSERT(cpu_model_xcr0_check(2, all) == -EINVAL);	 /* x87 clear */
	T_ASSERT(cpu_model_xcr0_check(5, all) == -EINVAL);	 /* AVX without SSE */
	T_ASSERT(cpu_model_xcr0_check(0x27, all) == -EINVAL);	 /* AVX-512 partly */
	T_ASSERT(cpu_model_xcr0_check(0xE3, all) == -EINVAL);	 /* AVX-512 without AVX */
	T_ASSERT(cpu_model_xcr0_check(0x9, all) == -EINVAL);	 /* one MPX bit */
	T_ASSERT(cpu_model_xcr0_check(0x19, all) == 0);		 /* both MPX bits */
	T_ASSERT(cpu_model_xcr0_check(0x20007, all) == -EINVAL); /* one AMX bit */
	T_ASSERT(cpu_model_xcr0_check(0x60007, all) == 0);	 /* both AMX bits */
	T_ASSERT(cpu_model_xcr0_check(7, 3) == -EINVAL);	 /* AVX not supported */
	T_ASSERT(cpu_model_xcr0_check(1ull << 62 | 1, all) == -EINVAL);
	return true;
}

static bool pat_entries(void)
{
	T_ASSERT(cpu_model_pat_check(CPU_PAT_RESET) == 0);
	T_ASSERT(cpu_model_pat_check(0x0101010101010101ull) == 0);
	for (unsigned t = 0; t < 256; t++) {
		bool valid = t <= 1 || (t >= 4 && t <= 7);
		for (unsigned i = 0; i < 8; i += 7)
			T_ASSERT((cpu_model_pat_check((uint64_t)t << (8 * i)) == 0) == valid);
	}
	return true;
}

static struct cpuid_regs ones(void)
{
	return (struct cpuid_regs){ ~0u, ~0u, ~0u, ~0u };
}

static const struct cpuid_ctx ctx2 = { .apic_id = 2, .vcpu_count = 3, .xcr0_ok = 7 };

static bool cpuid_leaf1_filtered(void)
{
	struct cpuid_regs r = ones();
	cpu_model_cpuid(1, 0, &ctx2, &r);
	/* ECX: hypervisor 31 set; VMX 5, SMX 6, PDCM 15, x2APIC 21, TSC-deadline 24,
	 * OSXSAVE 27 (CR4 clear), MONITOR 3 clear; SSE3 0 and XSAVE 26 kept. */
	T_ASSERT(r.c >> 31 & 1);
	for (unsigned b = 0; b < 32; b++) {
		bool hidden = b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 7 || b == 8 ||
			      b == 11 || b == 15 || b == 21 || b == 24 || b == 27;
		T_ASSERT(((r.c >> b) & 1) == !hidden);
	}
	T_ASSERT((r.b >> 24) == 2 && ((r.b >> 16) & 0xFF) == 3 && (r.b & 0xFFFF) == 0xFFFF);
	T_ASSERT((r.d >> 28) & 1);			    /* HTT: 3 vCPUs */
	T_ASSERT(!((r.d >> 12) & 1) && !((r.d >> 16) & 1)); /* MTRR, PAT (ctx off) */
	T_ASSERT(((r.d >> 7) & 1) && ((r.d >> 14) & 1));    /* MCE, MCA kept */
	struct cpuid_ctx on = ctx2;
	on.cr4 = CPU_CR4_OSXSAVE;
	on.x2apic = on.tsc_deadline = on.pat = true;
	on.vcpu_count = 1;
	r = ones();
	cpu_model_cpuid(1, 0, &on, &r);
	T_ASSERT((r.c >> 27 & 1) && (r.c >> 21 & 1) && (r.c >> 24 & 1) && (r.d >> 16 & 1));
	T_ASSERT(!((r.d >> 28) & 1));
	return true;
}

static bool cpuid_other_leaves(void)
{
	struct cpuid_regs r;
	static const uint32_t zero[] = { 5, 6, 0xA, 0xF, 0x10, 0x12, 0x14, 0x1F };
	for (unsigned i = 0; i < ARRAY_SIZE(zero); i++) {
		r = ones();
		cpu_model_cpuid(zero[i], 0, &ctx2, &r);
		T_ASSERT(!r.a && !r.b && !r.c && !r.d);
	}
	r = ones();
	cpu_model_cpuid(7, 0, &ctx2, &r);
	T_ASSERT(!((r.c >> 4) & 1) && !((r.b >> 2) & 1) && !((r.d >> 29) & 1)); /* OSPKE, SGX */
	struct cpuid_ctx pke = ctx2;
	pke.cr4 = CPU_CR4_PKE;
	r = ones();
	cpu_model_cpuid(7, 0, &pke, &r);
	T_ASSERT((r.c >> 4) & 1);
	r = ones();
	cpu_model_cpuid(7, 1, &ctx2, &r); /* subleaf 1 untouched */
	T_ASSERT(r.b == ~0u && r.c == ~0u);
	r = ones();
	cpu_model_cpuid(0xD, 0, &ctx2, &r);
	T_ASSERT(r.a == 7 && r.d == 0);
	r = ones();
	cpu_model_cpuid(0xD, 5, &ctx2, &r); /* AVX-512 state: not offered here */
	T_ASSERT(!r.a && !r.b);
	r = ones();
	cpu_model_cpuid(0x80000001u, 0, &ctx2, &r);
	T_ASSERT(!((r.d >> 27) & 1) && ((r.d >> 29) & 1)); /* RDTSCP off, LM kept */
	return true;
}

static bool cpuid_topology_and_keel_leaf(void)
{
	struct cpuid_regs r = ones();
	cpu_model_cpuid(0xB, 0, &ctx2, &r);
	T_ASSERT(r.a == 0 && r.b == 1 && r.c == 0x100 && r.d == 2);
	r = ones();
	cpu_model_cpuid(0xB, 1, &ctx2, &r);
	T_ASSERT(r.a == 2 && r.b == 3 && r.c == 0x201 && r.d == 2);
	r = ones();
	cpu_model_cpuid(0xB, 2, &ctx2, &r);
	T_ASSERT(r.a == 0 && r.b == 0 && r.c == 2 && r.d == 2);
	r = ones();
	cpu_model_cpuid(0x40000000u, 0, &ctx2, &r);
	T_ASSERT(r.a == 0x40000000u && !memcmp(&r.b, "Keel", 4) && r.c == r.b && r.d == r.b);
	r = ones();
	cpu_model_cpuid(0x40000001u, 0, &ctx2, &r);
	T_ASSERT(!r.a && !r.b && !r.c && !r.d);
	return true;
}

static const struct fake_test tests[] = {
	{ "cr0_long_mode_entry_and_exit", cr0_long_mode_entry_and_exit },
	{ "cr0_general_rules", cr0_general_rules },
	{ "pdptes_load_when_pae_paging_starts", pdptes_load_when_pae_paging_starts },
	{ "cr4_rules", cr4_rules },
	{ "efer_rules", efer_rules },
	{ "pdpte_reserved_bits", pdpte_reserved_bits },
	{ "rf_for_faults_only", rf_for_faults_only },
	{ "xcr0_combinations", xcr0_combinations },
	{ "pat_entries", pat_entries },
	{ "cpuid_leaf1_filtered", cpuid_leaf1_filtered },
	{ "cpuid_other_leaves", cpuid_other_leaves },
	{ "cpuid_topology_and_keel_leaf", cpuid_topology_and_keel_leaf },
};

int main(int argc, char **argv)
{
	return fake_run_tests(tests, ARRAY_SIZE(tests), argc, argv, NULL);
}
