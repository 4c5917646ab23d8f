/*
 * The guest record (guest.h): filling it from a description, the guest lock and how a
 * guest ends. Calls nothing else in vmm/, so every other part may call it.
 */
#include <keel/printk.h>
#include <keel/smp.h>
#include <keel/string.h>
#include <stdarg.h>

#include "guest.h"

static uint16_t vpid_next = 1; /* VPIDs are never reused in a run (at most 256 vCPUs) */

void guest_init(struct guest *g, const struct guest_desc *d)
{
	memcpy(g->name, d->name, sizeof(g->name));
	spin_init(&g->lock);
	g->mem = d->mem;
	g->arg = d->arg;
	g->limit_ms = d->limit_ms;
	g->vcpu_count = d->vcpus;
	g->expect = d->expect;
	g->hooks = d->hooks;
	g->gdb = d->gdb;
	g->sipi_start = d->sipi_start;
	/* EPT spaces carry no VPID: INVEPT single-context drops the combined mappings of
	 * every VPID for that EPTP (SDM Vol 3C 29.4.3.1), so each vCPU has its own VPID. */
	for (unsigned i = 0; i < d->vcpus; i++) {
		struct vcpu *v = &g->vcpus[i];
		v->guest = g;
		v->index = i;
		v->host_cpu = -1;
		v->running_on = -1;
		v->irq_pending = -1;
		v->vpid = vmx_caps.vpid ? vpid_next++ : 0;
	}
}

struct guest_locked guest_lock(struct guest *g)
{
	unsigned long flags = spin_lock_irqsave(&g->lock);
	return (struct guest_locked){ .g = g, .flags = flags };
}

void guest_unlock(struct guest_locked gl)
{
	spin_unlock_irqrestore(&gl.g->lock, gl.flags);
}

/* Records the end of g unless it has ended already (the first end wins). */
static void guest_end(struct guest *g, enum guest_state state, int64_t status, const char *why)
{
	struct guest_locked gl = guest_lock(g);
	if (g->state != GUEST_EXITED && g->state != GUEST_KILLED) {
		g->status = status;
		memcpy(g->reason, why, strlen(why) + 1);
		__atomic_store_n(&g->state, state, __ATOMIC_RELEASE);
	}
	guest_unlock(gl);
}

enum exit_action guest_kill(struct guest *g, const char *fmt, ...)
{
	char why[sizeof(g->reason)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	guest_end(g, GUEST_KILLED, 0, why);
	return EXIT_STOP;
}

enum exit_action guest_exit(struct guest *g, int64_t status)
{
	guest_end(g, GUEST_EXITED, status, "");
	return EXIT_STOP;
}

static unsigned kicks; /* [a] a vCPU not on a CPU was kicked (see vcpu_kicks_take) */

static void kick_nop(void *arg)
{
	(void)arg; /* the IPI itself made the target's guest exit or its HLT end */
}

/* A vCPU on a CPU (in guest mode, or blocked there in vcpu_wait_here) gets an IPI;
 * one on the run queue's sleep list is found by the next scan (vcpu_kicks_take). */
void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->kicked, 1, __ATOMIC_SEQ_CST);
	int cpu = __atomic_load_n(&v->running_on, __ATOMIC_SEQ_CST);
	if (cpu < 0) {
		__atomic_store_n(&kicks, 1, __ATOMIC_SEQ_CST);
	} else if ((unsigned)cpu != this_cpu_id()) {
		cpumask_t m = CPUMASK_NONE;
		cpumask_set(&m, (unsigned)cpu);
		(void)smp_call(m, kick_nop, NULL, false);
	}
}

bool vcpu_kicks_pending(void)
{
	return __atomic_load_n(&kicks, __ATOMIC_RELAXED);
}

bool vcpu_kicks_take(void)
{
	return vcpu_kicks_pending() && __atomic_exchange_n(&kicks, 0, __ATOMIC_SEQ_CST);
}

bool vcpu_is_kicked(const struct vcpu *v)
{
	return __atomic_load_n(&v->kicked, __ATOMIC_SEQ_CST);
}
