/*
 * A vCPU's architectural state as the VMCS holds it (guest-state area, SDM Vol 3C 25.4),
 * read into a plain struct and written back: what the dumps print and what the gdb stub
 * shows and edits while the vCPU is stopped (its VMCS is not loaded then). Also the
 * operating mode that state puts the vCPU in, in words and as an address width.
 * Acts on the current VMCS only; knows nothing of exits or scheduling.
 */
#ifndef VMM_VCPU_STATE_H
#define VMM_VCPU_STATE_H

#include <keel/types.h>

/* Segment registers in VMCS encoding order (25.4.1; gdb orders them differently). */
enum vseg { VSEG_ES, VSEG_CS, VSEG_SS, VSEG_DS, VSEG_FS, VSEG_GS, VSEG_LDTR, VSEG_TR, VSEG_COUNT };

struct vseg_state {
	uint16_t sel;
	uint32_t limit, ar; /* access rights in the VMCS format (25.4.1 table 25-2) */
	uint64_t base;
};

struct vcpu_state {
	uint64_t rip, rsp, rflags;
	uint64_t cr0, cr3, cr4, efer, dr7;
	struct vseg_state seg[VSEG_COUNT];
	uint64_t gdtr_base, idtr_base;
	uint32_t gdtr_limit, idtr_limit;
	uint32_t interruptibility, activity;
	uint64_t pending_dbg;
};

/* Reads the guest state of the current VMCS. */
void vcpu_state_read(struct vcpu_state *s);
/* Writes the fields gdb may change (RIP, RSP, RFLAGS, selectors, segment bases of FS and
 * GS) back to the current VMCS. Returns 0 or -EIO (a VMWRITE failed). */
int vcpu_state_write_back(const struct vcpu_state *s) __attribute__((warn_unused_result));

/* How wide the vCPU's addresses and registers are now: 16 (real, or 16-bit protected
 * code), 32 or 64 (CS.L with EFER.LMA). */
unsigned vcpu_state_width(const struct vcpu_state *s);
/* The mode in words: "real mode", "32-bit protected mode, paging off", "64-bit long
 * mode, 4-level paging" ... */
const char *vcpu_state_mode_words(const struct vcpu_state *s);
/* True if the guest translates linear addresses through its own page tables (CR0.PG). */
bool vcpu_state_paging(const struct vcpu_state *s);

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LMA (1ull << 10)
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_VM (1ull << 17)
#define SEG_AR_L (1u << 13)
#define SEG_AR_DB (1u << 14)

#endif
