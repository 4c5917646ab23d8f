/*
 * Internal header of vmm/: VMX capability MSRs, VMCS field encodings, exit reasons,
 * the per-CPU VMX state, the capability preflight and the VMCS control adjustment.
 * Encodings: SDM Vol 3D appendix B "Field Encoding in VMCS"; exit reasons: appendix C;
 * capability MSRs: appendix A. Nothing outside vmm/ includes this.
 */
#ifndef VMM_VMX_H
#define VMM_VMX_H

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
#define PROC_HLT (1u << 7)
#define PROC_INVLPG (1u << 9)
#define PROC_CR3_LOAD (1u << 15)
#define PROC_CR3_STORE (1u << 16)
#define PROC_UNCOND_IO (1u << 24)
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY (1u << 31)
/* Secondary processor-based controls (table 25-7). */
#define PROC2_EPT (1u << 1)
#define PROC2_RDTSCP (1u << 3)
#define PROC2_VPID (1u << 5)
#define PROC2_UNRESTRICTED (1u << 7)
/* VM-exit controls (25.7.1). */
#define EXIT_HOST_64 (1u << 9)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
/* VM-entry controls (25.8.1). */
#define ENTRY_IA32E (1u << 9)
#define ENTRY_LOAD_EFER (1u << 15)

/* VMCS field encodings (SDM Vol 3D appendix B). */
enum vmcs_field {
	VMCS_VPID = 0x0000,
	VMCS_GUEST_ES_SEL = 0x0800, /* ES, CS, SS, DS, FS, GS, LDTR, TR: +2 each */
	VMCS_GUEST_TR_SEL = 0x080E,
	VMCS_HOST_ES_SEL = 0x0C00,
	VMCS_HOST_CS_SEL = 0x0C02,
	VMCS_HOST_SS_SEL = 0x0C04,
	VMCS_HOST_DS_SEL = 0x0C06,
	VMCS_HOST_FS_SEL = 0x0C08,
	VMCS_HOST_GS_SEL = 0x0C0A,
	VMCS_HOST_TR_SEL = 0x0C0C,
	VMCS_EPT_POINTER = 0x201A,
	VMCS_GUEST_PHYS_ADDR = 0x2400,
	VMCS_LINK_POINTER = 0x2800,
	VMCS_GUEST_DEBUGCTL = 0x2802,
	VMCS_GUEST_EFER = 0x2806,
	VMCS_GUEST_PDPTE0 = 0x280A, /* ... PDPTE3 0x2810 */
	VMCS_HOST_EFER = 0x2C02,
	VMCS_PIN_CTLS = 0x4000,
	VMCS_PROC_CTLS = 0x4002,
	VMCS_EXCEPTION_BITMAP = 0x4004,
	VMCS_CR3_TARGET_COUNT = 0x400A,
	VMCS_EXIT_CTLS = 0x400C,
	VMCS_EXIT_MSR_STORE_COUNT = 0x400E,
	VMCS_EXIT_MSR_LOAD_COUNT = 0x4010,
	VMCS_ENTRY_CTLS = 0x4012,
	VMCS_ENTRY_MSR_LOAD_COUNT = 0x4014,
	VMCS_ENTRY_INTR_INFO = 0x4016,
	VMCS_ENTRY_EXC_ERROR = 0x4018,
	VMCS_ENTRY_INSN_LEN = 0x401A,
	VMCS_PROC2_CTLS = 0x401E,
	VMCS_INSN_ERROR = 0x4400,
	VMCS_EXIT_REASON = 0x4402,
	VMCS_EXIT_INTR_INFO = 0x4404,
	VMCS_IDT_VECTORING_INFO = 0x4408,
	VMCS_IDT_VECTORING_ERROR = 0x440A,
	VMCS_EXIT_INSN_LEN = 0x440C,
	VMCS_GUEST_ES_LIMIT = 0x4800, /* ... LDTR, TR, then GDTR 0x4810, IDTR 0x4812 */
	VMCS_GUEST_GDTR_LIMIT = 0x4810,
	VMCS_GUEST_IDTR_LIMIT = 0x4812,
	VMCS_GUEST_ES_AR = 0x4814, /* ... +2 each up to TR 0x4822 */
	VMCS_GUEST_CS_AR = 0x4816,
	VMCS_GUEST_INTERRUPTIBILITY = 0x4824,
	VMCS_GUEST_ACTIVITY = 0x4826,
	VMCS_GUEST_SYSENTER_CS = 0x482A,
	VMCS_PREEMPT_TIMER = 0x482E,
	VMCS_HOST_SYSENTER_CS = 0x4C00,
	VMCS_CR0_MASK = 0x6000,
	VMCS_CR4_MASK = 0x6002,
	VMCS_CR0_SHADOW = 0x6004,
	VMCS_CR4_SHADOW = 0x6006,
	VMCS_EXIT_QUAL = 0x6400,
	VMCS_GUEST_CR0 = 0x6800,
	VMCS_GUEST_CR3 = 0x6802,
	VMCS_GUEST_CR4 = 0x6804,
	VMCS_GUEST_ES_BASE = 0x6806, /* ... +2 each up to TR 0x6814 */
	VMCS_GUEST_GDTR_BASE = 0x6816,
	VMCS_GUEST_IDTR_BASE = 0x6818,
	VMCS_GUEST_DR7 = 0x681A,
	VMCS_GUEST_RSP = 0x681C,
	VMCS_GUEST_RIP = 0x681E,
	VMCS_GUEST_RFLAGS = 0x6820,
	VMCS_GUEST_PENDING_DBG = 0x6822,
	VMCS_GUEST_SYSENTER_ESP = 0x6824,
	VMCS_GUEST_SYSENTER_EIP = 0x6826,
	VMCS_HOST_CR0 = 0x6C00,
	VMCS_HOST_CR3 = 0x6C02,
	VMCS_HOST_CR4 = 0x6C04,
	VMCS_HOST_FS_BASE = 0x6C06,
	VMCS_HOST_GS_BASE = 0x6C08,
	VMCS_HOST_TR_BASE = 0x6C0A,
	VMCS_HOST_GDTR_BASE = 0x6C0C,
	VMCS_HOST_IDTR_BASE = 0x6C0E,
	VMCS_HOST_SYSENTER_ESP = 0x6C10,
	VMCS_HOST_SYSENTER_EIP = 0x6C12,
	VMCS_HOST_RSP = 0x6C14,
	VMCS_HOST_RIP = 0x6C16,
};

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
	EXIT_ENTRY_MCE = 41,
	EXIT_EPT_VIOLATION = 48,
	EXIT_EPT_MISCONFIG = 49,
	EXIT_PREEMPT_TIMER = 52,
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
static inline int vmx_vmread(uint64_t field, uint64_t *v)
{
	uint8_t bad;
	__asm__ __volatile__("vmread %2, %0; setna %1" : "=rm"(*v), "=qm"(bad) : "r"(field) : "cc");
	return bad ? -EIO : 0;
}
static inline uint64_t vmread(uint64_t field)
{
	uint64_t v = 0;
	if (vmx_vmread(field, &v))
		return 0;
	return v;
}
static inline int vmwrite(uint64_t field, uint64_t v)
{
	uint8_t bad;
	__asm__ __volatile__("vmwrite %1, %2; setna %0" : "=qm"(bad) : "rm"(v), "r"(field) : "cc");
	return bad ? -EIO : 0;
}
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
