/*
 * The gdb stub's target side (gdb.h): the debugged guest's vCPUs as gdb threads, their
 * parking and resumption, breakpoints written into guest memory, single steps by the
 * monitor trap flag, and the packet layer (gdb_proto.c) fed from the debug port.
 *
 * A vCPU's debug state: RUN (may run; the scheduler owns it) -> PARKING (stopped at
 * an entry, its state copied; still on its CPU) -> PARKED (off its CPU: gdb may read
 * and change the copy) -> RUN again when gdb resumes it; GONE once retired. The stub is
 * served by one CPU at a time (`serving`), from the scheduler's loop on any CPU.
 *
 * Lock legend: [c] const after gdb_attach  [a] atomic  [l] dbg.lock (a spinlock taken
 * with interrupts off, nothing inside)  [s] the serving CPU  [p] the serving CPU while
 * the vCPU is PARKED, the vCPU's CPU otherwise.
 */
#include <keel/cmdline.h>
#include <keel/console.h>
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/string.h>

#include "../guest_linear.h"
#include "../vcpu.h"
#include "../vcpu_state.h"
#include "gdb.h"
#include "gdb_proto.h"

#define BP_MAX 64
#define HWBP_MAX 4		   /* DR0-DR3 */
#define ENTRY_LOAD_DEBUG (1u << 2) /* VM-entry control: load DR7 from the VMCS (25.8.1) */
#define INT3 0xCC
#define SIGINT 2
#define SIGTRAP 5
#define SIGKILL 9

CMDLINE_OPT(bochsbreak, "bochsbreak", CMDLINE_STR, 0, 0,
	    "NAME: a Bochs magic breakpoint (xchg bx,bx) before guest NAME's first VM entry");
CMDLINE_OPT(gdbstep, "gdbstep", CMDLINE_STR, 0, 0,
	    "tf|mtf: how the gdb stub single-steps (default tf; mtf if the CPU has it)");

#define DR6_BS (1ull << 14) /* single step (SDM Vol 3B 17.2.3; exit qualification 28.2.1) */
#define VEC_DB 1

enum dv_state { DV_RUN, DV_PARKING, DV_PARKED, DV_GONE };

struct dbg_vcpu {
	enum dv_state state;	    /* [a] */
	bool stop_req;		    /* [a] stop at the next entry */
	bool dirty;		    /* [p] st or the GPRs changed by gdb: written back at entry */
	bool step;		    /* [p] single-step at the next entry */
	uint64_t step_rip;	    /* [p] RIP the step started at */
	bool tf_set;		    /* [p] the step set RFLAGS.TF (a step by TF) */
	bool guest_tf;		    /* [p] the guest's own TF was set then */
	bool deliver_db;	    /* [p] the guest's own single-step #DB is due at entry */
	struct vcpu_state st;	    /* [p] the state at the stop */
	struct guest_paging paging; /* [p] its paging registers at the stop */
};

struct dbg_bp {
	uint64_t la;
	uint8_t orig;
	bool used;
};

struct dbg_hwbp {
	uint64_t la;
	bool used;
};

static struct dbg {
	struct guest *g; /* [c] the debugged guest, or NULL */
	bool mtf;	 /* [c] single steps by the monitor trap flag, else by RFLAGS.TF */
	bool hw_ok;	 /* [c] DR7 can be loaded at entry: hardware breakpoints */
	struct dbg_vcpu v[GUEST_VCPU_MAX];
	unsigned serving; /* [a] 1 while a CPU serves gdb */
	spinlock_t lock;
	bool event;			/* [l] a stop event since the last resume */
	unsigned event_tid;		/* [l] its thread (0: none in particular, Ctrl-C) */
	uint8_t event_sig;		/* [l] */
	bool reported;			/* [s] the current stop was handed to the stub */
	bool detached;			/* [a] gdb left: breakpoints out, no stops */
	bool end_reported;		/* [s] */
	bool quiet;			/* [s] gdb detached or killed: nothing is sent until it
				   * speaks again (a socket it closed must not be written) */
	struct dbg_bp bp[BP_MAX];	/* [s] */
	struct dbg_hwbp hwbp[HWBP_MAX]; /* [s] while every vCPU is stopped */
	struct gdb_stub stub;		/* [s] */
} dbg = { .lock = SPINLOCK_INIT };

static enum dv_state dv_state(unsigned i)
{
	return __atomic_load_n(&dbg.v[i].state, __ATOMIC_ACQUIRE);
}

static void dv_set(unsigned i, enum dv_state st)
{
	__atomic_store_n(&dbg.v[i].state, st, __ATOMIC_RELEASE);
}

static void kick_nop(void *arg)
{
	(void)arg; /* the IPI made the target's guest exit */
}

/*
 * Asks every vCPU of the guest to stop at its next entry and makes the CPUs running
 * them exit now (IPI). The first event since the last resume names the thread (from,
 * or none for Ctrl-C) and signal gdb hears.
 */
static void request_stop(struct vcpu *from, uint8_t sig)
{
	struct guest *g = dbg.g;
	cpumask_t m = CPUMASK_NONE;
	unsigned long flags = spin_lock_irqsave(&dbg.lock);
	if (!dbg.event) {
		dbg.event = true;
		dbg.event_tid = from ? from->index + 1 : 0;
		dbg.event_sig = sig;
	}
	spin_unlock_irqrestore(&dbg.lock, flags);
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		__atomic_store_n(&dbg.v[i].stop_req, true, __ATOMIC_SEQ_CST);
		int cpu = __atomic_load_n(&g->vcpus[i].running_on, __ATOMIC_SEQ_CST);
		if (cpu >= 0 && (unsigned)cpu != this_cpu_id())
			cpumask_set(&m, (unsigned)cpu);
	}
	if (!cpumask_is_empty(m))
		(void)smp_call(m, kick_nop, NULL, false);
}

/* ---- Hooks of the scheduler and the debug exits */

/* SDM Vol 3D A.3.2: bits 63:32 of the (TRUE) processor-based controls MSR say which
 * controls may be 1. */
static bool cpu_has_mtf(void)
{
	uint32_t msr =
	    (vmx_caps.basic & VMX_BASIC_TRUE_CTLS) ? MSR_VMX_TRUE_PROCBASED : MSR_VMX_PROCBASED;
	return (rdmsr(msr) >> 32) & PROC_MTF;
}

/* A.5: bits 63:32 of the (TRUE) VM-entry controls MSR: "load debug controls" may be 1. */
static bool cpu_can_load_dr7(void)
{
	uint32_t msr = (vmx_caps.basic & VMX_BASIC_TRUE_CTLS) ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY;
	return (rdmsr(msr) >> 32) & ENTRY_LOAD_DEBUG;
}

static const struct gdb_ops target_ops;

bool gdb_attach(struct guest *g)
{
	if (dbg.g) {
		printk(KERN_WARN "gdb: guest %s runs without gdb: %s is the one debugged\n",
		       g->name, dbg.g->name);
		return false;
	}
	if (!debug_port_init()) {
		printk(KERN_WARN "gdb: no debug port (COM2): guest %s runs without gdb\n", g->name);
		return false;
	}
	char how[8] = "tf";
	(void)cmdline_get_str("gdbstep", how, sizeof(how));
	dbg.mtf = !strcmp(how, "mtf") && cpu_has_mtf();
	dbg.hw_ok = cpu_can_load_dr7();
	gdb_stub_init(&dbg.stub, &target_ops, NULL);
	for (unsigned i = 0; i < g->vcpu_count; i++)
		dbg.v[i].stop_req = true;
	g->deadline = 0; /* limit= would run out while gdb looks */
	__atomic_store_n(&dbg.g, g, __ATOMIC_RELEASE);
	printk("gdb: guest %s stops before its first instruction and waits for gdb on the debug "
	       "port (COM2); single step by %s\n",
	       g->name, dbg.mtf ? "the monitor trap flag" : "RFLAGS.TF and #DB");
	return true;
}

/* Ends v's step: the monitor trap flag off, RFLAGS.TF back to the guest's own. */
static void step_end(struct dbg_vcpu *d)
{
	d->step = false;
	(void)vmwrite(VMCS_PROC_CTLS, vmread(VMCS_PROC_CTLS) & ~(uint64_t)PROC_MTF);
	if (d->tf_set && !d->guest_tf)
		(void)vmwrite(VMCS_GUEST_RFLAGS, vmread(VMCS_GUEST_RFLAGS) & ~RFLAGS_TF);
	d->tf_set = false;
}

/* Starts v's step at this entry: MTF (25.6.2: an exit after one instruction), or TF with
 * #DB intercepted (Vol 3B 17.3.1.4: a single-step trap after one instruction). */
static void step_begin(struct dbg_vcpu *d)
{
	if (dbg.mtf) {
		(void)vmwrite(VMCS_PROC_CTLS, vmread(VMCS_PROC_CTLS) | PROC_MTF);
		return;
	}
	if (d->tf_set)
		return;
	uint64_t flags = vmread(VMCS_GUEST_RFLAGS);
	d->guest_tf = flags & RFLAGS_TF;
	d->tf_set = true;
	(void)vmwrite(VMCS_GUEST_RFLAGS, flags | RFLAGS_TF);
}

/*
 * gdb's hardware breakpoints into this CPU's DR0-DR3 and the VMCS's guest DR7 (loaded
 * at entry: the "load debug controls" entry control; every VM exit sets DR7 to 400H,
 * 27.5.1, so other guests and Keel never see them armed). DR7: L0-L3 enable, R/W and
 * LEN 00 = instruction execution (Vol 3B 17.2.4). The guest's own DR7 is replaced while
 * gdb has hardware breakpoints. True if any is set.
 */
static bool hwbp_load(void)
{
	uint64_t dr7 = 0x400, la[HWBP_MAX] = { 0 };
	if (!dbg.hw_ok)
		return false;
	for (unsigned i = 0; i < HWBP_MAX; i++)
		if (dbg.hwbp[i].used) {
			la[i] = dbg.hwbp[i].la;
			dr7 |= 1ull << (2 * i);
		}
	uint64_t entry = vmread(VMCS_ENTRY_CTLS);
	if (dr7 == 0x400) {
		if (entry & ENTRY_LOAD_DEBUG)
			(void)vmwrite(VMCS_ENTRY_CTLS, entry & ~(uint64_t)ENTRY_LOAD_DEBUG);
		return false;
	}
	__asm__ __volatile__(
	    "mov %0, %%dr0; mov %1, %%dr1; mov %2, %%dr2; mov %3, %%dr3" ::"r"(la[0]), "r"(la[1]),
	    "r"(la[2]), "r"(la[3]));
	(void)vmwrite(VMCS_GUEST_DR7, dr7);
	(void)vmwrite(VMCS_ENTRY_CTLS, entry | ENTRY_LOAD_DEBUG);
	return true;
}

/* Saves v's state for gdb and clears what a step left in the VMCS. */
static void park_begin(struct vcpu *v, struct dbg_vcpu *d)
{
	step_end(d);
	vcpu_state_read(&d->st);
	vcpu_paging(&d->paging);
	__atomic_store_n(&d->stop_req, false, __ATOMIC_RELAXED);
	dv_set(v->index, DV_PARKING);
}

/*
 * bochsbreak=NAME: stops the Bochs debugger (magic_break: enabled=1) on this CPU right
 * before the first VM entry of guest NAME's vCPUs, so Keel's debugger session can step
 * into the guest (make bochs-debug GUEST=NAME). Under a run without the debugger, the
 * magic breakpoint ends the run: only for debugging.
 */
static void bochs_break(struct vcpu *v)
{
	static int wanted = -1; /* unknown yet, 0 no, 1 yes */
	static char name[GUEST_NAME_MAX];
	if (wanted < 0)
		wanted = cmdline_get_str("bochsbreak", name, sizeof(name));
	if (!wanted || v->launched || strcmp(name, v->guest->name))
		return;
	printk("bochs: magic breakpoint before the first VM entry of guest %s vCPU %u at RIP "
	       "0x%llx\n",
	       v->guest->name, v->index, (unsigned long long)vmread(VMCS_GUEST_RIP));
	__asm__ __volatile__("xchg %%bx, %%bx" ::: "memory");
}

bool gdb_before_entry(struct vcpu *v)
{
	bochs_break(v);
	struct guest *g = __atomic_load_n(&dbg.g, __ATOMIC_ACQUIRE);
	if (!g)
		return false;
	if (v->guest != g) {
		gdb_poll(); /* a CPU busy with another guest still serves gdb */
		return false;
	}
	struct dbg_vcpu *d = &dbg.v[v->index];
	if (d->dirty && vcpu_state_write_back(&d->st))
		printk(KERN_WARN "gdb: guest %s vCPU %u: registers not written back\n", g->name,
		       v->index);
	d->dirty = false;
	/* A step whose instruction an exit handler emulated (RIP moved without an MTF
	 * exit: VMCALL, CPUID, port I/O, HLT) has completed. */
	if (d->step && vmread(VMCS_GUEST_RIP) != d->step_rip)
		gdb_step_done(v);
	if (__atomic_load_n(&d->stop_req, __ATOMIC_SEQ_CST)) {
		park_begin(v, d);
		return true;
	}
	if (d->deliver_db) { /* the guest's own trap: DR6 as the CPU would leave it */
		__asm__ __volatile__("mov %0, %%dr6" ::"r"(0xFFFF0FF0ull | DR6_BS));
		vcpu_inject(v, VEC_DB, false, 0);
		d->deliver_db = false;
	}
	bool on = !__atomic_load_n(&dbg.detached, __ATOMIC_RELAXED);
	bool hw = hwbp_load() && on; /* after a detach: none, and DR7 not loaded */
	uint32_t bitmap = (1u << 3) | (hw || d->tf_set || (d->step && !dbg.mtf) ? 1u << VEC_DB : 0);
	(void)vmwrite(VMCS_EXCEPTION_BITMAP, on ? bitmap : 0); /* #BP, #DB (25.6.3) */
	if (d->step)
		step_begin(d);
	return false;
}

void gdb_vcpu_parked(struct vcpu *v)
{
	dv_set(v->index, DV_PARKED);
}

bool gdb_vcpu_may_run(struct vcpu *v)
{
	return dv_state(v->index) == DV_RUN || guest_ended(v->guest);
}

void gdb_vcpu_retired(struct vcpu *v)
{
	if (v->guest == __atomic_load_n(&dbg.g, __ATOMIC_ACQUIRE))
		dv_set(v->index, DV_GONE);
}

static struct dbg_bp *bp_find(uint64_t la)
{
	for (unsigned i = 0; i < BP_MAX; i++)
		if (dbg.bp[i].used && dbg.bp[i].la == la)
			return &dbg.bp[i];
	return NULL;
}

bool gdb_breakpoint_hit(struct vcpu *v, uint64_t la)
{
	if (v->guest != dbg.g || __atomic_load_n(&dbg.detached, __ATOMIC_RELAXED) || !bp_find(la))
		return false;
	request_stop(v, SIGTRAP);
	return true;
}

void gdb_step_done(struct vcpu *v)
{
	if (v->guest != dbg.g || !dbg.v[v->index].step)
		return;
	step_end(&dbg.v[v->index]);
	request_stop(v, SIGTRAP);
}

/* Is a hardware breakpoint of gdb among the B0-B3 bits of dr6? */
static bool hwbp_hit(uint64_t dr6)
{
	for (unsigned i = 0; i < HWBP_MAX; i++)
		if (((dr6 >> i) & 1) && dbg.hwbp[i].used)
			return true;
	return false;
}

bool gdb_debug_trap(struct vcpu *v, uint64_t dr6)
{
	struct dbg_vcpu *d = &dbg.v[v->index];
	if (v->guest != dbg.g)
		return false;
	if (hwbp_hit(dr6) && !__atomic_load_n(&dbg.detached, __ATOMIC_RELAXED)) {
		request_stop(v, SIGTRAP); /* a fault: RIP stays on the instruction */
		return true;
	}
	if (!d->tf_set || !(dr6 & DR6_BS))
		return false;
	d->deliver_db = d->guest_tf; /* it traced itself too: its #DB follows */
	step_end(d);
	request_stop(v, SIGTRAP);
	return true;
}

/* ---- The target operations of the packet layer (run by the serving CPU) */

static unsigned op_thread_count(void *ctx)
{
	return dbg.g->vcpu_count;
}

/* The parked vCPU of thread tid, or NULL (no such thread, or it is not stopped). */
static struct dbg_vcpu *parked(unsigned tid)
{
	if (tid < 1 || tid > dbg.g->vcpu_count || dv_state(tid - 1) != DV_PARKED)
		return NULL;
	return &dbg.v[tid - 1];
}

/* gdb's order rax rbx rcx rdx rsi rdi rbp rsp r8-r15 against struct vcpu_regs. */
static uint64_t *gpr_slot(struct vcpu_regs *r, unsigned i)
{
	uint64_t *const map[16] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi,
				    &r->rbp, NULL,    &r->r8,  &r->r9,	&r->r10, &r->r11,
				    &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[i];
}

/* gdb's selector order cs ss ds es fs gs against the VMCS's es cs ss ds fs gs. */
static const enum vseg gdb_segs[6] = { VSEG_CS, VSEG_SS, VSEG_DS, VSEG_ES, VSEG_FS, VSEG_GS };

static int op_get_regs(void *ctx, unsigned tid, struct gdb_regs *r)
{
	struct dbg_vcpu *d = parked(tid);
	if (!d)
		return -EBUSY;
	struct vcpu_regs *g = &dbg.g->vcpus[tid - 1].regs;
	for (unsigned i = 0; i < 16; i++)
		r->gpr[i] = i == 7 ? d->st.rsp : *gpr_slot(g, i);
	r->rip = d->st.rip;
	r->eflags = (uint32_t)d->st.rflags;
	for (unsigned i = 0; i < 6; i++)
		r->seg[i] = d->st.seg[gdb_segs[i]].sel;
	return 0;
}

static int op_set_regs(void *ctx, unsigned tid, const struct gdb_regs *r)
{
	struct dbg_vcpu *d = parked(tid);
	if (!d)
		return -EBUSY;
	struct vcpu_regs *g = &dbg.g->vcpus[tid - 1].regs;
	for (unsigned i = 0; i < 16; i++)
		*(i == 7 ? &d->st.rsp : gpr_slot(g, i)) = r->gpr[i];
	d->st.rip = r->rip;
	d->st.rflags = r->eflags;
	for (unsigned i = 0; i < 6; i++)
		d->st.seg[gdb_segs[i]].sel = (uint16_t)r->seg[i];
	d->dirty = true;
	return 0;
}

/* Memory is seen through the page tables of the thread that stopped (else any parked
 * one): gdb's addresses are linear. */
static const struct guest_paging *view(void)
{
	struct dbg_vcpu *d = parked(dbg.stub.stop_tid);
	for (unsigned t = 1; !d && t <= dbg.g->vcpu_count; t++)
		d = parked(t);
	return d ? &d->paging : NULL;
}

/* Shows the original bytes where breakpoints sit in [la, la + len) of buf. */
static void bp_shadow(uint64_t la, uint8_t *buf, size_t len)
{
	for (unsigned i = 0; i < BP_MAX; i++)
		if (dbg.bp[i].used && dbg.bp[i].la - la < len)
			buf[dbg.bp[i].la - la] = dbg.bp[i].orig;
}

static int op_read_mem(void *ctx, uint64_t la, void *buf, size_t len, size_t *done)
{
	const struct guest_paging *p = view();
	uint64_t n = 0;
	uint32_t pf;
	*done = 0;
	if (!p)
		return -EBUSY;
	int err = guest_linear_read(dbg.g, p, la, buf, len, 0, &n, &pf);
	bp_shadow(la, buf, (size_t)n);
	*done = (size_t)n;
	return err;
}

static int mem_write(uint64_t la, const void *buf, size_t len)
{
	const struct guest_paging *p = view();
	uint64_t n;
	uint32_t pf;
	return p ? guest_linear_write(dbg.g, p, la, buf, len, 0, &n, &pf) : -EBUSY;
}

/* A write over a breakpoint changes the byte it restores; the INT3 stays. */
static int op_write_mem(void *ctx, uint64_t la, const void *buf, size_t len)
{
	static const uint8_t int3 = INT3;
	int err = mem_write(la, buf, len);
	for (unsigned i = 0; !err && i < BP_MAX; i++)
		if (dbg.bp[i].used && dbg.bp[i].la - la < len) {
			dbg.bp[i].orig = ((const uint8_t *)buf)[dbg.bp[i].la - la];
			err = mem_write(dbg.bp[i].la, &int3, 1);
		}
	return err;
}

static int bp_insert(uint64_t la)
{
	static const uint8_t int3 = INT3;
	struct dbg_bp *b = bp_find(la);
	size_t done;
	if (b)
		return 0;
	for (unsigned i = 0; !b && i < BP_MAX; i++)
		b = dbg.bp[i].used ? NULL : &dbg.bp[i];
	if (!b)
		return -ENOSPC;
	int err = op_read_mem(NULL, la, &b->orig, 1, &done);
	if (!err)
		err = mem_write(la, &int3, 1);
	if (!err)
		*b = (struct dbg_bp){ .la = la, .orig = b->orig, .used = true };
	return err;
}

static int bp_remove(uint64_t la)
{
	struct dbg_bp *b = bp_find(la);
	if (!b)
		return 0;
	b->used = false;
	return mem_write(la, &b->orig, 1);
}

/* A hardware breakpoint: one of the four debug-address slots (hwbp_load arms them). */
static int hwbp_set(uint64_t la, bool insert)
{
	struct dbg_hwbp *free = NULL;
	for (unsigned i = 0; i < HWBP_MAX; i++) {
		struct dbg_hwbp *h = &dbg.hwbp[i];
		if (h->used && h->la == la) {
			h->used = insert;
			return 0;
		}
		if (!h->used && !free)
			free = h;
	}
	if (!insert)
		return 0;
	if (!free)
		return -ENOSPC;
	*free = (struct dbg_hwbp){ .la = la, .used = true };
	return 0;
}

static int op_breakpoint(void *ctx, enum gdb_break type, uint64_t la, bool insert)
{
	if (type == GDB_BREAK_HW)
		return dbg.hw_ok ? hwbp_set(la, insert) : -ENOTSUP;
	return insert ? bp_insert(la) : bp_remove(la);
}

/* Lets parked vCPUs go: all (step_tid 0), or step_tid alone for one step. */
static int op_resume(void *ctx, unsigned step_tid)
{
	struct dbg_vcpu *s = step_tid ? parked(step_tid) : NULL;
	if (step_tid && !s)
		return -EBUSY;
	unsigned long flags = spin_lock_irqsave(&dbg.lock);
	dbg.event = false;
	spin_unlock_irqrestore(&dbg.lock, flags);
	dbg.reported = false;
	for (unsigned i = 0; i < dbg.g->vcpu_count; i++) {
		if (dv_state(i) != DV_PARKED || (s && s != &dbg.v[i]))
			continue;
		__atomic_store_n(&dbg.v[i].stop_req, false, __ATOMIC_SEQ_CST);
		if (s) {
			s->step = true;
			s->step_rip = s->st.rip;
		}
		dv_set(i, DV_RUN); /* sched.c's next look takes it back to the queue */
	}
	return 0;
}

static void op_interrupt(void *ctx)
{
	__atomic_store_n(&dbg.detached, false, __ATOMIC_RELAXED);
	request_stop(NULL, SIGINT);
}

static void op_detach(void *ctx)
{
	memset(dbg.hwbp, 0, sizeof(dbg.hwbp));
	for (unsigned i = 0; i < BP_MAX; i++)
		if (dbg.bp[i].used)
			(void)bp_remove(dbg.bp[i].la);
	__atomic_store_n(&dbg.detached, true, __ATOMIC_RELAXED);
	(void)op_resume(ctx, 0);
	dbg.quiet = true;
	printk("gdb: detached from guest %s; it runs on\n", dbg.g->name);
}

static void op_kill(void *ctx)
{
	dbg.quiet = true;
	guest_kill(dbg.g, "killed by gdb");
}

static void op_send(void *ctx, const char *bytes, size_t len)
{
	if (!dbg.quiet)
		debug_port_write(bytes, len);
}

static const struct gdb_ops target_ops = {
	.thread_count = op_thread_count,
	.get_regs = op_get_regs,
	.set_regs = op_set_regs,
	.read_mem = op_read_mem,
	.write_mem = op_write_mem,
	.breakpoint = op_breakpoint,
	.resume = op_resume,
	.interrupt = op_interrupt,
	.detach = op_detach,
	.kill = op_kill,
	.send = op_send,
};

/* ---- Serving */

/* Every vCPU stopped (parked or retired), at least one parked? */
static bool all_stopped(void)
{
	bool any = false;
	for (unsigned i = 0; i < dbg.g->vcpu_count; i++) {
		enum dv_state st = dv_state(i);
		if (st != DV_PARKED && st != DV_GONE)
			return false;
		any |= st == DV_PARKED;
	}
	return any;
}

static bool all_gone(void)
{
	for (unsigned i = 0; i < dbg.g->vcpu_count; i++)
		if (dv_state(i) != DV_GONE)
			return false;
	return true;
}

/* Hands a completed stop or the guest's end to the stub (it tells gdb if it waits). */
static void report(void)
{
	struct guest *g = dbg.g;
	if (guest_ended(g)) {
		if (!dbg.end_reported && all_gone()) {
			dbg.end_reported = true;
			bool killed = g->state == GUEST_KILLED;
			gdb_stub_exited(&dbg.stub, killed ? SIGKILL : (uint8_t)g->status, killed);
		}
		return;
	}
	if (dbg.reported || !all_stopped())
		return;
	unsigned long flags = spin_lock_irqsave(&dbg.lock);
	unsigned tid = dbg.event ? dbg.event_tid : 0;
	uint8_t sig = dbg.event ? dbg.event_sig : SIGTRAP;
	spin_unlock_irqrestore(&dbg.lock, flags);
	for (unsigned t = 1; !tid && t <= g->vcpu_count; t++)
		tid = parked(t) ? t : 0;
	dbg.reported = true;
	gdb_stub_stopped(&dbg.stub, tid, sig);
}

void gdb_poll(void)
{
	if (!__atomic_load_n(&dbg.g, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&dbg.serving, 1, __ATOMIC_ACQUIRE))
		return;
	char buf[64];
	for (unsigned total = 0; total < GDB_PKT_MAX;) {
		size_t n = 0;
		for (int c; n < sizeof(buf) && (c = debug_port_getc()) >= 0;)
			buf[n++] = (char)c;
		if (!n)
			break;
		for (size_t i = 0; i < n; i++) /* a packet or a break, not the ack of our last */
			dbg.quiet &= buf[i] != '$' && buf[i] != 0x03;
		gdb_stub_input(&dbg.stub, buf, n);
		total += n;
	}
	report();
	__atomic_store_n(&dbg.serving, 0, __ATOMIC_RELEASE);
}
