/*
 * Privileged-instruction wrappers and architectural constants for x86-64.
 * Only arch/x86_64 and vmm/ include this; generic code uses include/keel/arch.h.
 */
#ifndef ARCH_X86_H
#define ARCH_X86_H

#include <keel/types.h>

#define KERNEL_VMA 0xFFFFFFFF80000000ull
#define DIRECT_MAP_BASE 0xFFFF800000000000ull

/*
 * Segment selectors in the per-CPU GDT (arch/x86_64/cpu.c). SYSCALL loads CS from
 * STAR[47:32] and SS from CS + 8; 64-bit SYSRET loads CS from STAR[63:48] + 16 and SS
 * from STAR[63:48] + 8, both with RPL 3 (SDM Vol 2B SYSCALL, SYSRET): so kernel code is
 * followed by kernel data, and a base slot (SEL_USER_BASE, 32-bit user code, unused) by
 * user data and 64-bit user code.
 */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_USER_BASE 0x18
#define SEL_UDATA (0x20 | 3)
#define SEL_UCODE (0x28 | 3)
#define SEL_TSS 0x30

/* RFLAGS, CR0, CR4 bits (SDM Vol 3A 2.3, 2.5). */
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_AC (1ull << 18)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR4_PAE (1ull << 5)
#define CR4_PGE (1ull << 7)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_VMXE (1ull << 13)
#define CR4_FSGSBASE (1ull << 16)
#define CR4_PCIDE (1ull << 17)

/* MSRs (SDM Vol 4). */
#define MSR_APIC_BASE 0x1B
#define MSR_FEATURE_CONTROL 0x3A
#define MSR_EFER 0xC0000080
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define EFER_SCE (1ull << 0)
#define EFER_NXE (1ull << 11)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
/* rdmsr/wrmsr that return -EFAULT instead of faulting on an unknown MSR (extable). */
int rdmsr_safe(uint32_t msr, uint64_t *val);
int wrmsr_safe(uint32_t msr, uint64_t val);
/* Reads 8 bytes at p, or returns -EFAULT if that faults (extable). */
int probe_read_u64(const void *p, uint64_t *out);

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	__asm__ __volatile__("cpuid"
			     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			     : "a"(leaf), "c"(sub));
}

#define DEFINE_CR(n)                                                         \
	static inline uint64_t read_cr##n(void)                              \
	{                                                                    \
		uint64_t v;                                                  \
		__asm__ __volatile__("mov %%cr" #n ", %0" : "=r"(v));        \
		return v;                                                    \
	}                                                                    \
	static inline void write_cr##n(uint64_t v)                           \
	{                                                                    \
		__asm__ __volatile__("mov %0, %%cr" #n ::"r"(v) : "memory"); \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t read_rflags(void)
{
	uint64_t f;
	__asm__ __volatile__("pushfq; popq %0" : "=r"(f));
	return f;
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void invlpg(uint64_t va)
{
	__asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory");
}
static inline void cpu_pause(void)
{
	__asm__ __volatile__("pause");
}
static inline void hlt(void)
{
	__asm__ __volatile__("hlt");
}
static inline void sti(void)
{
	__asm__ __volatile__("sti" ::: "memory");
}
static inline void cli(void)
{
	__asm__ __volatile__("cli" ::: "memory");
}
static inline uint64_t read_rbp(void)
{
	uint64_t v;
	__asm__ __volatile__("mov %%rbp, %0" : "=r"(v));
	return v;
}

static inline void *pa_to_kva(paddr_t pa)
{
	return (void *)(pa.v + DIRECT_MAP_BASE);
}
/* Symbols of boot.asm's .boot section are linked at their physical address (the identity
 * map is gone after start-up): reach them through the direct map. */
static inline void *boot_sym_kva(const void *sym)
{
	return pa_to_kva(PA((uint64_t)sym));
}

/*
 * EPT spaces (arch/x86_64/vm_space_x86.c). vmm/ sets these from the capability
 * preflight before any guest runs: EPTP A/D enable (SDM Vol 3C 25.6.11), whether
 * INVEPT/INVVPID single-context exist (else all-context is used).
 */
struct ept_flush_caps {
	bool ad, invept_single, invvpid, invvpid_single;
};
extern struct ept_flush_caps ept_flush_caps;
/* EPT pointer for a table rooted at root: WB, 4-level walk, A/D if enabled. */
uint64_t ept_eptp(paddr_t root);
/* Drops this CPU's translations tagged with vpid (INVVPID single- or all-context; without
 * INVVPID, all-context INVEPT, which drops every VPID's). In VMX operation only. */
void ept_flush_vpid(uint16_t vpid);

/*
 * Host spaces (arch/x86_64/vm_space_x86.c). Boot code (init.c) sets these once on the
 * boot CPU, before any space exists: PCIDs in use (CR4.PCIDE set on every CPU), INVPCID
 * available (SDM Vol 3A 4.10.1, Vol 2A INVPCID).
 */
struct host_tlb_caps {
	bool pcid, invpcid;
};
extern struct host_tlb_caps host_tlb_caps;

/* Works for direct-map addresses and for the kernel image. */
static inline paddr_t kva_to_pa(const void *p)
{
	uint64_t v = (uint64_t)p;
	return PA(v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP_BASE);
}

#endif
