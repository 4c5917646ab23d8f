/*
 * Internal header of vmm/: VMX capability MSRs and control bits, exit reasons, what
 * the preflight found (vmx_caps), VMPTRLD/VMCLEAR, the guest register block and the
 * entry stub. Exit reasons: SDM Vol 3D appendix C; capability MSRs: appendix A. VMCS
 * field encodings and VMREAD/VMWRITE live in arch/vmcs.h (arch/x86_64 writes the EPT
 * pointer too). Nothing outside vmm/ includes this.
 */
#ifndef VMM_VMX_H
#define VMM_VMX_H

#include <arch/vmcs.h>
#include <arch/x86.h>
#include <keel/compiler.h>
#include <keel/errno.h>
#include <keel/types.h>

/* Capability MSRs (SDM Vol 3D appendix A, Vol 4 table 2-2). */
#define MSR_VMX_BASIC 0x480
#define MSR_VMX_PINBASED 0x481
#define MSR_VMX_PROCBASED 0x482
#define MSR_VMX_EXIT 0x483
#define MSR_VMX_ENTRY 0x484
#define MSR_VMX_MISC 0x485
#define MSR_VMX_CR0_FIXED0 0x486
#define MSR_VMX_CR0_FIXED1 0x487
#define MSR_VMX_CR4_FIXED0 0x488
#define MSR_VMX_CR4_FIXED1 0x489
#define MSR_VMX_PROCBASED2 0x48B
#define MSR_VMX_EPT_VPID_CAP 0x48C
#define MSR_VMX_TRUE_PINBASED 0x48D
#define MSR_VMX_TRUE_PROCBASED 0x48E
#define MSR_VMX_TRUE_EXIT 0x48F
#define MSR_VMX_TRUE_ENTRY 0x490

#define FEATURE_CONTROL_LOCK (1ull << 0)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ull << 2)
#define VMX_BASIC_TRUE_CTLS (1ull << 55) /* A.1: TRUE_* MSRs exist */

/* IA32_VMX_EPT_VPID_CAP bits (SDM Vol 3D A.10). */
#define EPTCAP_EXEC_ONLY (1ull << 0)
#define EPTCAP_WALK4 (1ull << 6)
#define EPTCAP_WB (1ull << 14)
#define EPTCAP_2M (1ull << 16)
#define EPTCAP_1G (1ull << 17)
#define EPTCAP_INVEPT (1ull << 20)
#define EPTCAP_AD (1ull << 21)
#define EPTCAP_INVEPT_SINGLE (1ull << 25)
#define EPTCAP_INVEPT_ALL (1ull << 26)
#define EPTCAP_INVVPID (1ull << 32)
#define EPTCAP_INVVPID_ADDR (1ull << 40)
#define EPTCAP_INVVPID_SINGLE (1ull << 41)
#define EPTCAP_INVVPID_ALL (1ull << 42)
#define EPTCAP_INVVPID_SINGLE_GLOBALS (1ull << 43)

/* Pin-based controls (SDM Vol 3C 25.6.1). */
#define PIN_EXT_INTR (1u << 0)
#define PIN_NMI (1u << 3)
#define PIN_PREEMPT_TIMER (1u << 6)
/* Primary processor-based controls (25.6.2, table 25-6). */
#define PROC_INTR_WINDOW (1u << 2)
#define PROC_TSC_OFFSET (1u << 3)
#define PROC_HLT (1u << 7)
#define PROC_INVLPG (1u << 9)
#define PROC_CR3_LOAD (1u << 15)
#define PROC_CR3_STORE (1u << 16)
#define PROC_UNCOND_IO (1u << 24)
#define PROC_MTF (1u << 27) /* monitor trap flag (25.6.2; exit 37 after one instruction) */
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY (1u << 31)
/* Secondary processor-based controls (table 25-7). */
#define PROC2_EPT (1u << 1)
#define PROC2_RDTSCP (1u << 3)
#define PROC2_VPID (1u << 5)
#define PROC2_UNRESTRICTED (1u << 7)
/* VM-exit controls (25.7.1). */
#define EXIT_HOST_64 (1u << 9)
#define EXIT_SAVE_PAT (1u << 18)
#define EXIT_LOAD_PAT (1u << 19)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
/* VM-entry controls (25.8.1). */
#define ENTRY_IA32E (1u << 9)
#define ENTRY_LOAD_PAT (1u << 14)
#define ENTRY_LOAD_EFER (1u << 15)

/* Basic exit reasons (SDM Vol 3D appendix C). */
enum vmx_exit_reason {
	EXIT_EXCEPTION_NMI = 0,
	EXIT_EXT_INTR = 1,
	EXIT_TRIPLE_FAULT = 2,
	EXIT_CPUID = 10,
	EXIT_INTR_WINDOW = 7,
	EXIT_HLT = 12,
	EXIT_VMCALL = 18,
	EXIT_CR_ACCESS = 28,
	EXIT_IO = 30,
	EXIT_RDMSR = 31,
	EXIT_WRMSR = 32,
	EXIT_ENTRY_BAD_GUEST = 33,
	EXIT_ENTRY_BAD_MSR = 34,
	EXIT_MTF = 37,
	EXIT_ENTRY_MCE = 41,
	EXIT_EPT_VIOLATION = 48,
	EXIT_EPT_MISCONFIG = 49,
	EXIT_PREEMPT_TIMER = 52,
	EXIT_XSETBV = 55,
	EXIT_REASON_COUNT = 70,
};
#define EXIT_REASON_ENTRY_FAIL (1u << 31)

/* Requested VMCS controls: `want` bits are required, `opt` bits used when allowed. */
struct vmx_ctl_req {
	uint32_t want, opt;
};

/*
 * Adjusts a control word against a capability MSR value (SDM Vol 3D A.3-A.5: bits
 * 31:0 are the allowed-0 settings, a 1 there means the control must be 1; bits 63:32
 * are the allowed-1 settings, a 0 there means it must be 0). Pure function.
 * Returns 0 with *out set, or -ENOTSUP if a wanted bit may not be 1 (*missing gets
 * those bits).
 */
int vmx_ctl_adjust(uint64_t cap, struct vmx_ctl_req req, uint32_t *out,
		   uint32_t *missing) __must_check;

/* What the CPU offers, read once by the preflight on the boot CPU. */
struct vmx_caps {
	bool has_vmx; /* CPUID.1:ECX.VMX */
	bool usable;  /* everything Keel needs is there and VMXON worked */
	uint64_t basic, misc, ept_vpid;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint32_t pin, proc, proc2, exit, entry; /* adjusted controls */
	bool ept_ad, vpid, preempt_timer, unrestricted;
	bool intr_window;	/* interrupt-window exiting may be turned on */
	unsigned preempt_shift; /* timer ticks every 2^shift TSC cycles */
	char why[160];		/* why not usable */
};
extern struct vmx_caps vmx_caps;

/*
 * Decodes the capability MSR values already in *c into the adjusted controls and the
 * feature flags; prints nothing. Returns 0, or -ENOTSUP with c->why saying what is
 * missing. Pure apart from *c (tested with sample values).
 */
int vmx_caps_decode(struct vmx_caps *c) __must_check;
/* Words for a VM-instruction error number (SDM Vol 3C 31.4); never NULL. */
const char *vmx_insn_error_str(uint32_t err);
/* Name of a basic exit reason (appendix C); never NULL. */
const char *vmx_exit_reason_str(uint32_t reason);

/* ---- VMX instructions. Each returns 0, or -EIO when the instruction failed (CF/ZF). */
static inline int vmx_vmptrld(paddr_t pa)
{
	uint8_t bad;
	__asm__ __volatile__("vmptrld %1; setna %0" : "=qm"(bad) : "m"(pa.v) : "cc", "memory");
	return bad ? -EIO : 0;
}
static inline int vmx_vmclear(paddr_t pa)
{
	uint8_t bad;
	__asm__ __volatile__("vmclear %1; setna %0" : "=qm"(bad) : "m"(pa.v) : "cc", "memory");
	return bad ? -EIO : 0;
}

/* Guest general registers, saved and loaded by vmx_entry.asm (offsets fixed there). */
struct vcpu_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t cr2;
};

/*
 * vmx_entry.asm: loads regs, VMLAUNCH (launched == 0) or VMRESUME, and on VM exit
 * saves them back. Returns 0 after a VM exit, 1 on VMfailInvalid, 2 on VMfailValid
 * (VMCS_INSN_ERROR says why). Interrupts must be disabled.
 */
int vmx_enter(struct vcpu_regs *regs, int launched);
void vmx_exit_stub(void);

/* VMXON on every online CPU (after the preflight said usable). Returns the count. */
unsigned vmx_enable_all(void);
bool vmx_is_on_this_cpu(void);
bool vmx_cpu_is_on(unsigned cpu);

#endif
