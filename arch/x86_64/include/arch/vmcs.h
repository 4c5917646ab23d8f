/*
 * The VMCS as software sees it: every field encoding Keel uses (SDM Vol 3D appendix B
 * "Field Encoding in VMCS") and VMREAD/VMWRITE on the current VMCS (SDM Vol 3C 31.3).
 * The one home of these encodings: vmm/ and arch/x86_64/vm_space_x86.c (which writes
 * the EPT pointer, and the VPID of a tagged space, when a guest space is loaded) both
 * include it.
 */
#ifndef ARCH_VMCS_H
#define ARCH_VMCS_H

#include <keel/errno.h>
#include <keel/types.h>

/* VMCS field encodings (SDM Vol 3D appendix B). */
enum vmcs_field {
	VMCS_VPID = 0x0000,
	VMCS_GUEST_ES_SEL = 0x0800, /* ES, CS, SS, DS, FS, GS, LDTR, TR: +2 each */
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
	VMCS_GUEST_PDPTE0 = 0x280A, /* ... PDPTE3 0x2810, +2 each */
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
	VMCS_GUEST_CS_BASE = 0x6808,
	VMCS_GUEST_FS_BASE = 0x680E,
	VMCS_GUEST_GS_BASE = 0x6810,
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
	VMCS_HOST_RSP = 0x6C14, /* written by vmm/vmx_entry.asm (its own %define) */
	VMCS_HOST_RIP = 0x6C16,
};

/* VMREAD/VMWRITE on the current VMCS: 0, or -EIO when the instruction failed (CF/ZF:
 * no current VMCS, or an unsupported or read-only field). vmread() reads 0 then. */
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
/* A guest-physical address field (the EPT-violation address, 28.2.1). */
static inline gpa_t vmread_gpa(uint64_t field)
{
	return GPA(vmread(field));
}

#endif
