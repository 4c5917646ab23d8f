/*
 * A guest and its vCPUs: the records every part of vmm/ works on, how a guest ends, and
 * the guest lock. Owns no policy: vmm.c builds guests, sched.c runs their vCPUs, the
 * exit handlers (exit_*.c, hypercall.c) and devices (dev/) act on them.
 *
 * Life of a guest: vmm.c parses its description and builds it (GUEST_NEW), sched.c
 * runs its vCPUs on any CPU (GUEST_RUNNING) until it ends: exit hypercall or exit port
 * (GUEST_EXITED, with a status), or killed with a reason (GUEST_KILLED: triple fault,
 * access outside RAM, every vCPU halted, time limit, unhandled exit, VM-entry failure).
 * The first end wins; the other vCPUs notice it at their next exit (sched.c kicks the
 * CPUs running them). Lock order: see the top of kernel/mm/pt_walk.c (the guest
 * lock takes only the console lock inside).
 */
#ifndef VMM_GUEST_H
#define VMM_GUEST_H

#include <keel/cpumask.h>
#include <keel/spinlock.h>
#include <mm/vm_space.h>

#include "guest_desc.h"
#include "vmx.h"

#define GUEST_MAX 64u
#define GUEST_CONSOLE_LINE 160

enum guest_state { GUEST_NEW, GUEST_RUNNING, GUEST_EXITED, GUEST_KILLED };

/* What the vCPU's CPU does after handling an exit (exit handlers, hypercalls, devices). */
enum exit_action {
	EXIT_RESUME, /* enter the guest again */
	EXIT_HALT,   /* this vCPU stops for good (HLT with nothing that could wake it) */
	EXIT_BLOCK,  /* HLT until a timer fires (v->wake_at) or another vCPU kicks it;
		      * also a vCPU waiting for a SIPI (dev/vlapic.c) */
	EXIT_STOP,   /* the guest has ended (guest_exit / guest_kill was called) */
	/* the exiting instruction must be retried later (RIP not advanced): the CPU goes
	 * to another vCPU if one waits, else enters this one again */
	EXIT_YIELD,
};

struct guest;
struct lapic;
struct vdev_bus;
struct vpic;
struct vpit;

/*
 * A resumable hypercall under way (hypercall.c): its VMCALL is retried, RIP not
 * advanced, until the handler finishes; what it copied in and the pins it holds stay
 * here in between. Matched to the retry by number and RIP. [o]
 */
#define HC_CONT_WORDS 4
#define HC_CONT_PINS 2
struct hc_cont {
	bool active;
	uint64_t nr, rip;
	uint64_t word[HC_CONT_WORDS]; /* the handler's copy of its descriptor */
	uint64_t done;		      /* its progress */
	struct vm_pin pin[HC_CONT_PINS];
	bool pinned[HC_CONT_PINS];
};

/*
 * Lock legend: [c] const once the guest runs, [o] the CPU running the vCPU (one at a
 * time: the run queue hands a vCPU to one CPU), [q] sched.c's run-queue lock,
 * [a] atomic. Owner in parentheses where one file alone touches a field.
 */
struct vcpu {
	struct guest *guest;			/* [c] */
	unsigned index;				/* [c] 0 .. vcpu_count - 1 */
	uint16_t vpid;				/* [c] 0: VPIDs not used */
	struct frame *vmcs;			/* [o] (vmcs.c) */
	struct frame *msr_list;			/* [o] (vmcs.c) guest and host MSR lists */
	void *msr_kva;				/* [o] (vmcs.c) their bytes */
	uint64_t xcr0;				/* [o] (exit_xsetbv.c) the guest's XCR0 */
	struct frame *fpu_area;			/* [o] (xstate.c) x87/SSE/AVX save area */
	void *fpu_kva;				/* [o] (xstate.c) its bytes */
	uint64_t fpu_xcr0;			/* [o] (xstate.c) XCR0 when it was saved */
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
	uint64_t timer_deadline;		/* [o] (dev/timer.c) TSC of expiry, 0: off */
	unsigned timer_vector;			/* [o] (dev/timer.c) its vector */
	int irq_pending;			/* [o] vector waiting for injection, or -1 */
	uint64_t wake_at;			/* [o][q] blocked in HLT until this TSC */
	uint64_t irqs_injected;			/* [o] */
	uint64_t run_cycles;			/* [o] TSC cycles it held a CPU */
	struct hc_cont cont;			/* [o] (hypercall.c) */

	struct lapic *lapic;   /* [c] its local APIC (dev/vlapic.c); [o] but IRR/TMR [a] */
	unsigned events;       /* [a] (dev/vlapic.c) VLAPIC_EV_* posted by other vCPUs */
	unsigned sipi_state;   /* [a] (dev/vlapic.c) enum vlapic_sipi_state */
	unsigned sipi_vector;  /* [a] (dev/vlapic.c) of the SIPI that started it */
	unsigned sipi_ignored; /* [a] (dev/vlapic.c) SIPIs it was not waiting for */
	bool nmi_pending;      /* [o] (exit_irq.c) an NMI waiting for injection */
	unsigned kicked;       /* [a] (guest.c) woken by another vCPU: see vcpu_kick */
};

/* [l] the guest lock, taken with guest_lock(). */
struct guest {
	char name[GUEST_NAME_MAX];  /* [c] */
	struct vm_space space;	    /* guest-physical RAM [0, mem) (guest_mem.c) */
	uint64_t mem;		    /* [c] bytes of RAM */
	enum guest_mode mode;	    /* [c] */
	int image_kind;		    /* [c] enum guest_image_kind (image.h) */
	uint64_t entry, arg;	    /* [c] RIP and rdi of every vCPU at start */
	uint64_t limit_ms;	    /* [c] 0: no time limit */
	uint64_t deadline;	    /* [c] TSC at which the time limit ends it (0: none) */
	struct guest_expect expect; /* [c] how it should end (report.c judges it) */
	bool hooks;		    /* [c] test hypercalls allowed (hooks=1) */
	bool multiboot;		    /* [c] a Multiboot kernel (vmcs.c: its start state) */
	uint32_t mb_info;	    /* [c] its Multiboot info structure's address (EBX) */
	struct vdev_bus *devices;   /* [c] its emulated devices (dev/dev.h) */
	struct vpic *pic;	    /* [c] its 8259 pair (dev/pic.h), owned by devices */
	struct vpit *pit;	    /* [c] its 8254 (dev/pit.h), owned by devices */
	unsigned vcpu_count;	    /* [c] */
	struct vcpu vcpus[GUEST_VCPU_MAX];
	unsigned vcpus_live; /* [a] vCPUs not retired yet */
	spinlock_t lock;
	enum guest_state state;		       /* [l] written; [a] read (guest_ended) */
	int64_t status;			       /* [l] exit status (GUEST_EXITED) */
	char reason[128];		       /* [l] why it ended (GUEST_KILLED) */
	char console_line[GUEST_CONSOLE_LINE]; /* [l] (dev/console.c) a line of output */
	unsigned console_len;		       /* [l] (dev/console.c) */
	bool console_cont;	     /* [l] (dev/console.c) the line continues a full one */
	unsigned tap_ok, tap_not_ok; /* [l] (dev/console.c) TAP results it printed */
	uint64_t tsc_start, tsc_end; /* sched.c, report.c */
	uint64_t tsc_first_line;     /* [l] (dev/console.c) its first line ended; 0: not yet */
	bool dumped;		     /* [a] (dump.c) its end dump was printed */
	bool gdb;		     /* [c] gdb=1: served by the gdb stub (vmm/gdb/) */
	bool sipi_start;	     /* [c] vCPUs other than 0 wait for INIT-SIPI-SIPI (smp=sipi) */
	unsigned vcpus_parked;	     /* [a] (dev/vlapic.c) vCPUs waiting for a SIPI */
};

/* Proof that the guest lock is held (interrupts off): only guest_lock() makes one. */
struct guest_locked {
	struct guest *g;
	unsigned long flags;
};
struct guest_locked guest_lock(struct guest *g);
void guest_unlock(struct guest_locked gl);

/* Fills a new guest record from its description (name, RAM size, vCPUs with their
 * VPIDs); memory and devices are the caller's. */
void guest_init(struct guest *g, const struct guest_desc *d);

/* Ends the guest with a reason (printf-style) unless it already ended; EXIT_STOP. */
__printf(2, 3) enum exit_action guest_kill(struct guest *g, const char *fmt, ...);
/* Ends the guest with an exit status unless it already ended; EXIT_STOP. */
enum exit_action guest_exit(struct guest *g, int64_t status);
/* True once the guest has ended (any vCPU may read it at any time). Inline: the run
 * loop and the VMCALL exit ask after every exit. */
static inline bool guest_ended(struct guest *g)
{
	enum guest_state st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
	return st == GUEST_EXITED || st == GUEST_KILLED;
}

/*
 * Makes v notice an event another vCPU posted for it (dev/vlapic.c: an interrupt in
 * its IRR, an NMI, INIT or SIPI): sets v->kicked, which ends a block in HLT or the
 * wait for a SIPI (sched.c), and interrupts the CPU running v so it exits now. The
 * caller posted the event first. Any CPU, no lock held.
 */
void vcpu_kick(struct vcpu *v);
/* Whether a vCPU off any CPU was kicked since the last take (sched.c: a sleeper may
 * be due); _take also clears it. */
bool vcpu_kicks_pending(void);
bool vcpu_kicks_take(void);
/* v->kicked: set by vcpu_kick, cleared by v's CPU before it looks for events. */
bool vcpu_is_kicked(const struct vcpu *v);

#endif
