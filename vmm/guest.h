/*
 * Guests: an EPT vm_space for guest RAM, vCPUs (one VMCS each), emulated devices and
 * exit statistics. Internal to vmm/.
 *
 * Life of a guest: guest.c parses its description and builds it (GUEST_NEW), sched.c
 * runs its vCPUs on any CPU (GUEST_RUNNING) until it ends: exit hypercall or exit port
 * (GUEST_EXITED, with a status), or killed with a reason (GUEST_KILLED: triple fault,
 * access outside RAM, every vCPU halted, time limit, unhandled exit, VM-entry failure).
 * The first end wins; the other vCPUs notice it at their next exit (sched.c kicks the
 * CPUs running them).
 */
#ifndef VMM_GUEST_H
#define VMM_GUEST_H

#include <keel/cpumask.h>
#include <keel/spinlock.h>
#include <mm/vm_space.h>

#include "vmx.h"

#define GUEST_NAME_MAX 24
#define GUEST_MAX 16
#define GUEST_VCPU_MAX 8
#define GUEST_UART_LINE 160

enum guest_mode { GUEST_MODE_LONG, GUEST_MODE_32, GUEST_MODE_REAL };
enum guest_state { GUEST_NEW, GUEST_RUNNING, GUEST_EXITED, GUEST_KILLED };

struct guest;

/*
 * Lock legend: [o] the CPU running the vCPU (one at a time: the run queue hands a
 * vCPU to one CPU), [q] sched.c's run-queue lock, [a] atomic.
 */
struct vcpu {
	struct guest *guest;
	unsigned index;				/* 0 .. vcpu_count - 1 */
	uint16_t vpid;				/* 0: VPIDs not used */
	struct frame *vmcs;			/* [o] */
	struct vcpu_regs regs;			/* [o] */
	bool launched;				/* [o] VMLAUNCH done since the last VMCLEAR */
	bool initialized;			/* [o] vmcs_setup done */
	int host_cpu;				/* [o] CPU whose host state the VMCS holds, or -1 */
	int running_on;				/* [a] CPU running it now, or -1 */
	uint64_t exit_qual, rip, insn_len;	/* [o] of the exit being handled */
	struct vcpu *next;			/* [q] run-queue link */
	cpumask_t ran_on;			/* [o] CPUs that ran it */
	uint64_t exit_count[EXIT_REASON_COUNT]; /* [o] */
	uint64_t exit_total, hypercall_count;	/* [o] */
	uint64_t slices, migrations, yields;	/* [o] yields: EXIT_YIELD retries */
	uint64_t timer_deadline;		/* [o] TSC of the virtual timer, 0: off */
	unsigned timer_vector;			/* [o] its vector */
	int irq_pending;			/* [o] vector waiting for injection, or -1 */
	uint64_t wake_at;			/* [o][q] blocked in HLT until this TSC */
	uint64_t irqs_injected;			/* [o] */
	uint64_t run_cycles;			/* [o] TSC cycles it held a CPU */
};

struct guest {
	char name[GUEST_NAME_MAX];
	struct vm_space space; /* guest-physical RAM [0, mem) */
	uint64_t mem;
	enum guest_mode mode;
	int image_kind; /* enum guest_image_kind (image.h) */
	uint64_t entry, arg;
	uint64_t limit_ms; /* 0: no time limit */
	uint64_t deadline; /* TSC at which the time limit ends it (0: none) */
	unsigned vcpu_count;
	struct vcpu vcpus[GUEST_VCPU_MAX];
	unsigned vcpus_live; /* [a] vCPUs not retired yet */
	spinlock_t lock;     /* state, status, reason, the UART line */
	enum guest_state state;
	int64_t status;	  /* exit status (GUEST_EXITED) */
	char reason[128]; /* why it ended (GUEST_KILLED) */
	char uart_line[GUEST_UART_LINE];
	unsigned uart_len;
	uint64_t tsc_start, tsc_end;
};

/* A parsed `guest=` description (guest.c). */
struct guest_desc {
	char name[GUEST_NAME_MAX];
	char image[64];
	uint64_t mem, arg, limit_ms;
	unsigned vcpus;
	int mode; /* -1: from the image (ELF class), else enum guest_mode */
	bool eager;
};

/*
 * Parses `NAME,image=MODULE[,mem=][,vcpus=][,mode=][,arg=][,limit=][,populate=]` (s is
 * modified) into d. Returns 0, or -EINVAL with *why saying what is wrong. Refuses a
 * name already used by a built guest.
 */
int guest_desc_parse(char *s, struct guest_desc *d, const char **why) __must_check;

/* Result of an exit handler. */
enum exit_action {
	EXIT_RESUME, /* enter the guest again */
	EXIT_HALT,   /* this vCPU stops for good (HLT with nothing that could wake it) */
	EXIT_BLOCK,  /* HLT until the virtual timer fires (v->wake_at) */
	EXIT_STOP,   /* the guest has ended (guest_exit / guest_kill was called) */
	/* the exiting instruction must be retried later (RIP not advanced): the CPU goes
	 * to another vCPU if one waits, else enters this one again */
	EXIT_YIELD,
};

typedef enum exit_action (*exit_handler_fn)(struct vcpu *v);

/* The dispatch table (vmm/exit.c): NULL for reasons Keel does not handle. */
extern const exit_handler_fn vmx_exit_handlers[EXIT_REASON_COUNT];

/* Ends the guest with a reason (printf-style) unless it already ended; EXIT_STOP. */
__printf(2, 3) enum exit_action guest_kill(struct guest *g, const char *fmt, ...);
/* Ends the guest with an exit status unless it already ended; EXIT_STOP. */
enum exit_action guest_exit(struct guest *g, int64_t status);
/* True once the guest has ended (any vCPU may read it at any time). */
bool guest_ended(struct guest *g);
/* Advances the guest RIP past the exiting instruction. */
void vcpu_skip_insn(struct vcpu *v);
/* Injects a hardware exception (vector, optional error code) at the next entry. */
void vcpu_inject(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);
/* Before each entry: turns an expired virtual timer into a pending interrupt and
 * injects it when the guest can take it (else asks for an interrupt-window exit). */
void vcpu_deliver_irq(struct vcpu *v, uint64_t now);
/* True if the vCPU runs 64-bit code now (CS.L): hypercall arguments are 64-bit. */
bool vcpu_in_64bit_mode(struct vcpu *v);
/* One byte written to the guest's UART: buffered, printed per line with [name]. */
void guest_uart_put(struct guest *g, char c);
void guest_uart_flush(struct guest *g);
/* Called once by sched.c when the last vCPU of g retired: prints how it ended. */
void guest_finished(struct guest *g);

/* vmcs.c */
/* Fills the current VMCS for v: controls, guest state for g->mode, entry registers. */
int vmcs_setup(struct vcpu *v) __must_check;
/* Writes the running CPU's host state into the current VMCS. */
int vmcs_setup_host(void) __must_check;
/* Guest CR0/CR4 after a guest MOV to CR: the bits VMX forces are set (vmcs.c). */
uint64_t vmcs_guest_cr0(uint64_t val);
uint64_t vmcs_guest_cr4(uint64_t val);
uint64_t vmcs_eptp(struct vm_space *s);

/* sched.c */
/* Queues every vCPU of g (state GUEST_NEW -> GUEST_RUNNING when the run starts). */
void sched_add_guest(struct guest *g);
/* Runs every queued vCPU on every CPU with VMX on until all guests ended. Boot CPU. */
void sched_run(void);

/* Guest-physical layout Keel writes (guest.c). */
#define GUEST_PML4 0x1000ull /* long mode: PML4, PDPT 0x2000, PD 0x3000 */
#define GUEST_GDT 0x4000ull  /* null, 0x08 code64, 0x10 data, 0x18 code32 */
#define GUEST_GDT_LIMIT (4 * 8 - 1)
#define GUEST_SEL_CODE64 0x08
#define GUEST_SEL_DATA 0x10
#define GUEST_SEL_CODE32 0x18
#define GUEST_LOAD 0x100000ull	       /* flat long/32-bit images; lowest ELF segment */
#define GUEST_REAL_LOAD 0x7C00ull      /* flat real-mode images, CS:IP = 0000:7C00 */
#define GUEST_REAL_TOP 0xA0000ull      /* real-mode images end below this */
#define GUEST_STACK_SIZE 0x10000ull    /* per vCPU, long and 32-bit: below the top of RAM */
#define GUEST_REAL_STACK_SIZE 0x400ull /* per vCPU, real mode: below 0x7C00 */

#endif
