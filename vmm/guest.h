/*
 * Guests: an EPT vm_space for guest RAM, vCPUs (one VMCS each), emulated devices and
 * exit statistics. Internal to vmm/.
 */
#ifndef VMM_GUEST_H
#define VMM_GUEST_H

#include <mm/vm_space.h>

#include "vmx.h"

#define GUEST_NAME_MAX 24
#define GUEST_MAX 8
#define GUEST_UART_LINE 160

enum guest_state { GUEST_NEW, GUEST_RUNNING, GUEST_EXITED, GUEST_KILLED, GUEST_FAILED };

struct guest;

/* Lock legend: [o] the CPU running the vCPU only. */
struct vcpu {
	struct guest *guest;
	struct frame *vmcs;		   /* [o] */
	struct vcpu_regs regs;		   /* [o] */
	bool launched;			   /* [o] */
	uint64_t exit_qual, rip, insn_len; /* [o] of the exit being handled */
};

struct guest {
	char name[GUEST_NAME_MAX];
	struct vm_space space; /* guest-physical RAM [0, mem) demand-paged */
	uint64_t mem;
	uint64_t entry_rip;
	struct vcpu vcpu;
	enum guest_state state;
	int64_t status;	  /* exit status (GUEST_EXITED) */
	char reason[128]; /* why it ended (KILLED/FAILED) */
	char uart_line[GUEST_UART_LINE];
	unsigned uart_len;
	uint64_t exit_count[EXIT_REASON_COUNT];
	uint64_t exit_total, hypercall_count;
	uint64_t tsc_start, tsc_end;
};

/* Result of an exit handler. */
enum exit_action { EXIT_RESUME, EXIT_STOP };

typedef enum exit_action (*exit_handler_fn)(struct vcpu *v);

/* The dispatch table (vmm/exit.c): NULL for reasons Keel does not handle. */
extern const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT];

/* Ends the guest with a reason (printf-style); returns EXIT_STOP. */
__printf(2, 3) enum exit_action guest_kill(struct guest *g, const char *fmt, ...);
/* Advances the guest RIP past the exiting instruction. */
void vcpu_skip_insn(struct vcpu *v);
/* Injects a hardware exception (vector, optional error code) at the next entry. */
void vcpu_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);
/* One byte written to the guest's UART: buffered, printed per line. */
void guest_uart_put(struct guest *g, char c);
void guest_uart_flush(struct guest *g);

/* vmcs.c: fills the current VMCS for v (64-bit long-mode start at v->guest->entry_rip). */
int vmcs_setup(struct vcpu *v, uint64_t guest_cr3, uint64_t gdt_gpa, uint64_t rsp) __must_check;
uint64_t vmcs_eptp(struct vm_space *s);

#endif
