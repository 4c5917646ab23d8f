/*
 * The CPU a guest sees, as pure rules: control-register, EFER, XCR0 and PAT loads and
 * the CPUID filter (cpu_model.h). Knows nothing of the VMCS or of guest memory. Every
 * #GP rule cites its place in the SDM; "MOV CR" is Vol 2B "MOV—Move to/from Control
 * Registers", its "Protected Mode Exceptions" and "64-Bit Mode Exceptions".
 */
#include <keel/errno.h>

#include "cpu_model.h"

/* The PDPTEs are (re)loaded from CR3 by a MOV to CR0 changing PG, CD or NW and a MOV
 * to CR4 changing PAE, PGE, PSE or SMEP when PAE paging is in use afterwards (SDM Vol 3A
 * 4.4.1 "PDPTE Registers"). */
#define CR0_PDPTE_BITS (CPU_CR0_PG | CPU_CR0_CD | CPU_CR0_NW)
#define CR4_PDPTE_BITS (CPU_CR4_PAE | CPU_CR4_PGE | CPU_CR4_PSE | CPU_CR4_SMEP)

static bool pae_paging(const struct cpu_mode *m)
{
	return (m->cr0 & CPU_CR0_PG) && (m->cr4 & CPU_CR4_PAE) && !(m->efer & CPU_EFER_LMA);
}

/*
 * MOV CR0 #GP(0): bits 63:32 set; PG without PE; NW without CD; PG turned on with
 * EFER.LME and CR4.PAE clear (Vol 3A 10.8.5 "Initializing IA-32e Mode"); PG turned off
 * in 64-bit mode or with CR4.PCIDE set. PG on with LME sets EFER.LMA, PG off clears it
 * (10.8.5, 10.8.5.4 "Switching Out of IA-32e Mode Operation").
 */
int cpu_model_write_cr0(const struct cpu_mode *s, uint64_t val, struct cpu_mode *out, bool *pdptes)
{
	bool pg_on = (val & CPU_CR0_PG) && !(s->cr0 & CPU_CR0_PG);
	bool pg_off = !(val & CPU_CR0_PG) && (s->cr0 & CPU_CR0_PG);
	if ((val >> 32) || ((val & CPU_CR0_PG) && !(val & CPU_CR0_PE)) ||
	    ((val & CPU_CR0_NW) && !(val & CPU_CR0_CD)))
		return -EINVAL;
	if (pg_on && (s->efer & CPU_EFER_LME) && !(s->cr4 & CPU_CR4_PAE))
		return -EINVAL;
	if (pg_off && (((s->efer & CPU_EFER_LMA) && s->cs_l) || (s->cr4 & CPU_CR4_PCIDE)))
		return -EINVAL;
	*out = *s;
	out->cr0 = val;
	if (pg_on && (s->efer & CPU_EFER_LME))
		out->efer |= CPU_EFER_LMA;
	if (pg_off)
		out->efer &= ~CPU_EFER_LMA;
	*pdptes = pae_paging(out) && ((val ^ s->cr0) & CR0_PDPTE_BITS);
	return 0;
}

/*
 * MOV CR4 #GP(0): a bit the vCPU does not offer (reserved, or a feature hidden from
 * it such as VMXE and SMXE); PAE cleared in IA-32e mode; PCIDE set outside IA-32e mode
 * or with CR3[11:0] non-zero (Vol 3A 4.10.1 "Process-Context Identifiers").
 */
int cpu_model_write_cr4(const struct cpu_mode *s, uint64_t val, uint64_t cr4_ok, uint64_t cr3,
			struct cpu_mode *out, bool *pdptes)
{
	bool lma = (s->efer & CPU_EFER_LMA) != 0;
	if ((val & ~cr4_ok) || (lma && !(val & CPU_CR4_PAE)))
		return -EINVAL;
	if ((val & CPU_CR4_PCIDE) && !(s->cr4 & CPU_CR4_PCIDE) && (!lma || (cr3 & 0xFFF)))
		return -EINVAL;
	*out = *s;
	out->cr4 = val;
	*pdptes = pae_paging(out) && ((val ^ s->cr4) & CR4_PDPTE_BITS);
	return 0;
}

/*
 * WRMSR IA32_EFER #GP(0): a reserved bit (or one whose feature the vCPU lacks: efer_ok);
 * LME changed while paging is on (Vol 3A 10.8.5). LMA is the CPU's: what the guest
 * writes there is ignored (it follows CR0.PG, above).
 */
int cpu_model_write_efer(const struct cpu_mode *s, uint64_t val, uint64_t efer_ok,
			 struct cpu_mode *out)
{
	if (val & ~(efer_ok | CPU_EFER_LMA))
		return -EINVAL;
	if (((val ^ s->efer) & CPU_EFER_LME) && (s->cr0 & CPU_CR0_PG))
		return -EINVAL;
	*out = *s;
	out->efer = (val & ~CPU_EFER_LMA) | (s->efer & CPU_EFER_LMA);
	return 0;
}

/* PAE PDPTE (Vol 3A 4.4.1; "Format of a PAE Page-Directory-Pointer-Table Entry"):
 * bits 2:1, 8:5 and 63:MAXPHYADDR are reserved. */
bool cpu_model_pdpte_ok(uint64_t e, unsigned maxphy)
{
	if (!(e & 1))
		return true;
	uint64_t rsvd = 0x1E6ull | (maxphy < 64 ? ~0ull << maxphy : 0);
	return !(e & rsvd);
}

bool cpu_model_vector_sets_rf(unsigned vector)
{
	/* Faults: #DE 0, #BR 5, #UD 6, #NM 7, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #MF 16,
	 * #AC 17, #XM 19, #VE 20, #CP 21. Not: #DB 1, NMI 2, #BP 3, #OF 4 (traps, or the
	 * debug exception's own RF rule), #DF 8, #MC 18 (aborts). */
	const uint32_t faults = 0x3B7CE1u;
	return vector < 32 && ((faults >> vector) & 1);
}

/*
 * XSETBV #GP(0) for XCR0 (Vol 2C XSETBV; Vol 1 13.3 "Enabling the XSAVE Feature Set"):
 * a component not supported, x87 (bit 0) clear, AVX without SSE, the three AVX-512
 * bits not all equal or set without AVX and SSE, the two MPX bits not equal, the two
 * AMX bits not equal.
 */
int cpu_model_xcr0_check(uint64_t val, uint64_t supported)
{
	uint64_t avx512 = val & CPU_XCR0_AVX512, mpx = val & (CPU_XCR0_BNDREGS | CPU_XCR0_BNDCSR);
	uint64_t amx = val & CPU_XCR0_AMX;
	if ((val & ~supported) || !(val & CPU_XCR0_X87))
		return -EINVAL;
	if ((val & CPU_XCR0_AVX) && !(val & CPU_XCR0_SSE))
		return -EINVAL;
	if (avx512 && (avx512 != CPU_XCR0_AVX512 ||
		       (val & (CPU_XCR0_SSE | CPU_XCR0_AVX)) != (CPU_XCR0_SSE | CPU_XCR0_AVX)))
		return -EINVAL;
	if ((mpx && mpx != (CPU_XCR0_BNDREGS | CPU_XCR0_BNDCSR)) || (amx && amx != CPU_XCR0_AMX))
		return -EINVAL;
	return 0;
}

int cpu_model_pat_check(uint64_t val)
{
	for (unsigned i = 0; i < 8; i++) {
		unsigned t = (val >> (8 * i)) & 0xFF;
		if (t == 2 || t == 3 || t > 7)
			return -EINVAL;
	}
	return 0;
}
