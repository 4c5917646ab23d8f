/*
 * The CPU a guest sees, as pure rules (cpu_model.c): which control-register, EFER, XCR0
 * and PAT values it may load and what a load does to the operating mode, and the
 * CPUID filter table. No VMREAD, no MSR, no guest memory: the exit handlers (exit_cr.c,
 * exit_msr.c, exit_cpuid.c, exit_xsetbv.c) read the vCPU's state, ask these functions
 * and apply the answer. Host-tested (tests/host/test_cpu_model.c).
 */
#ifndef VMM_CPU_MODEL_H
#define VMM_CPU_MODEL_H

#include <keel/compiler.h>
#include <keel/types.h>

/* CR0 bits (SDM Vol 3A 2.5). */
#define CPU_CR0_PE (1ull << 0)
#define CPU_CR0_ET (1ull << 4)
#define CPU_CR0_NE (1ull << 5)
#define CPU_CR0_WP (1ull << 16)
#define CPU_CR0_NW (1ull << 29)
#define CPU_CR0_CD (1ull << 30)
#define CPU_CR0_PG (1ull << 31)
/* CR4 bits (SDM Vol 3A 2.5). */
#define CPU_CR4_PSE (1ull << 4)
#define CPU_CR4_PAE (1ull << 5)
#define CPU_CR4_PGE (1ull << 7)
#define CPU_CR4_VMXE (1ull << 13)
#define CPU_CR4_SMXE (1ull << 14)
#define CPU_CR4_PCIDE (1ull << 17)
#define CPU_CR4_OSXSAVE (1ull << 18)
#define CPU_CR4_SMEP (1ull << 20)
#define CPU_CR4_PKE (1ull << 22)
/* IA32_EFER bits (SDM Vol 3A 2.2.1, Vol 4 table 2-2). */
#define CPU_EFER_SCE (1ull << 0)
#define CPU_EFER_LME (1ull << 8)
#define CPU_EFER_LMA (1ull << 10)
#define CPU_EFER_NXE (1ull << 11)
/* MSRs a guest may use (SDM Vol 4 table 2-2). */
#define CPU_MSR_TSC 0x10u
#define CPU_MSR_SYSENTER_CS 0x174u
#define CPU_MSR_SYSENTER_ESP 0x175u
#define CPU_MSR_SYSENTER_EIP 0x176u
#define CPU_MSR_MCG_CAP 0x179u
#define CPU_MSR_MCG_STATUS 0x17Au
#define CPU_MSR_MISC_ENABLE 0x1A0u
#define CPU_MSR_PAT 0x277u
#define CPU_MSR_EFER 0xC0000080u
#define CPU_MSR_STAR 0xC0000081u
#define CPU_MSR_LSTAR 0xC0000082u
#define CPU_MSR_CSTAR 0xC0000083u
#define CPU_MSR_SFMASK 0xC0000084u
#define CPU_MSR_FS_BASE 0xC0000100u
#define CPU_MSR_GS_BASE 0xC0000101u
#define CPU_MSR_KERNEL_GS_BASE 0xC0000102u
#define CPU_MSR_TSC_AUX 0xC0000103u
/* IA32_PAT at power-up and reset (SDM Vol 3A 12.12.4 "Programming the PAT"). */
#define CPU_PAT_RESET 0x0007040600070406ull

/* RFLAGS.RF (SDM Vol 3A 2.3). */
#define CPU_RFLAGS_RF (1ull << 16)

/* The mode-deciding state of a vCPU: CR0 and CR4 as the guest set them (the read
 * shadows), IA32_EFER, and CS.L (64-bit code running now). */
struct cpu_mode {
	uint64_t cr0, cr4, efer;
	bool cs_l;
};

/*
 * A guest MOV to CR0 / CR4 or WRMSR to IA32_EFER of val, from state *s. Returns 0 with
 * the resulting state in *out (EFER.LMA follows: set when paging turns on with
 * EFER.LME, cleared when it turns off), or -EINVAL when the CPU would raise #GP (the
 * rules are in cpu_model.c with their SDM sections). *pdptes is set when the write leaves
 * PAE paging outside long mode on and changed a bit that makes the CPU load the four
 * PDPTEs from CR3 (SDM Vol 3A 4.4.1). cr4_ok / efer_ok: the bits this vCPU may set.
 */
int cpu_model_write_cr0(const struct cpu_mode *s, uint64_t val, struct cpu_mode *out,
			bool *pdptes) __must_check;
int cpu_model_write_cr4(const struct cpu_mode *s, uint64_t val, uint64_t cr4_ok, uint64_t cr3,
			struct cpu_mode *out, bool *pdptes) __must_check;
int cpu_model_write_efer(const struct cpu_mode *s, uint64_t val, uint64_t efer_ok,
			 struct cpu_mode *out) __must_check;
/* True if a PAE PDPTE may be loaded: not present, or no reserved bit set (SDM Vol 3A
 * 4.4.1) for a physical-address width of maxphy bits. */
bool cpu_model_pdpte_ok(uint64_t e, unsigned maxphy);
/* True if a fault-class exception `vector` pushes RFLAGS with RF set (SDM Vol 3A 6.5
 * "Exception Classifications", 2.3 on RF: every fault except a debug exception; traps
 * and aborts push RF as it was). */
bool cpu_model_vector_sets_rf(unsigned vector);

/* XCR0 components (SDM Vol 1 13.1). */
#define CPU_XCR0_X87 (1ull << 0)
#define CPU_XCR0_SSE (1ull << 1)
#define CPU_XCR0_AVX (1ull << 2)
#define CPU_XCR0_BNDREGS (1ull << 3)
#define CPU_XCR0_BNDCSR (1ull << 4)
#define CPU_XCR0_AVX512 (7ull << 5) /* opmask, ZMM_Hi256, Hi16_ZMM */
#define CPU_XCR0_PKRU (1ull << 9)
#define CPU_XCR0_AMX (3ull << 17) /* TILECFG, TILEDATA */
/* The components Keel lets a guest enable (MPX and AMX need MSRs and exits Keel lacks). */
#define CPU_XCR0_OFFERED \
	(CPU_XCR0_X87 | CPU_XCR0_SSE | CPU_XCR0_AVX | CPU_XCR0_AVX512 | CPU_XCR0_PKRU)
/* 0 if XSETBV may load val into XCR0 given the components `supported`, else -EINVAL
 * (#GP: SDM Vol 2C XSETBV "Protected Mode Exceptions" and Vol 1 13.3). */
int cpu_model_xcr0_check(uint64_t val, uint64_t supported) __must_check;
/* 0 if val is a valid IA32_PAT (each entry a defined memory type: SDM Vol 3A 12.12.2,
 * "PAT Memory Types": 2, 3 and 8-255 reserved), else -EINVAL. */
int cpu_model_pat_check(uint64_t val) __must_check;

/* What varies per vCPU in the CPUID answers. */
struct cpuid_ctx {
	unsigned apic_id, vcpu_count;
	uint64_t cr4;	   /* the guest's CR4: OSXSAVE and OSPKE are mirrored from it */
	bool x2apic;	   /* the LAPIC model offers x2APIC (CPUID.1:ECX[21]) */
	bool tsc_deadline; /* the LAPIC model offers the TSC-deadline timer (1:ECX[24]) */
	bool rdtscp;	   /* RDTSCP is enabled for the guest (0x80000001:EDX[27]) */
	bool pat;	   /* IA32_PAT is virtualised (1:EDX[16]) */
	uint64_t xcr0_ok;  /* components the guest may enable (CPUID.(0xD,0):EDX:EAX) */
};
struct cpuid_regs {
	uint32_t a, b, c, d;
};
/* Highest leaf of Keel's hypervisor range (0x40000000: the only one). */
#define CPU_MODEL_KEEL_LEAF 0x40000000u
/*
 * Turns the host's answer *r to CPUID(leaf, sub) into the guest's, in place: the
 * filter table's bits cleared and set, then the per-vCPU fields (APIC ID, topology,
 * OSXSAVE/OSPKE, XCR0 components). Leaves in the hypervisor range 0x40000000-0x4FFFFFFF
 * are Keel's: *r is replaced. Leaf 0xD's sizes (EBX) are the caller's.
 */
void cpu_model_cpuid(uint32_t leaf, uint32_t sub, const struct cpuid_ctx *ctx,
		     struct cpuid_regs *r);
/* True if cpu_model_cpuid leaves the host's answer to this leaf as it is (the exit's
 * fast path: no per-vCPU context needed). */
bool cpu_model_cpuid_is_plain(uint32_t leaf);

#endif
