/*
 * The vCPU's local APIC (vlapic.h): MSRs, the xAPIC page, IPIs between vCPUs, INIT
 * and SIPI. The register semantics are lapic.c's; this file knows the VMCS and the
 * other vCPUs. SDM Vol 3A chapter 11 (11.4.4 IA32_APIC_BASE, 11.6.1 ICR, 11.12 x2APIC).
 */
#include <arch/x86.h>
#include <keel/heap.h>

#include "../vcpu.h"
#include "../vmcs.h"
#include "vlapic.h"

#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8FF
/* IA32_APIC_BASE bits (11.4.4 figure 11-5, 11.12.1 table 11-5). */
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN (1ull << 11)

bool vlapic_x2apic_offered(void)
{
	return true;
}

/* The model's clock is the host's TSC (every caller passes rdtsc()-based times). */
static uint64_t vlapic_now(void)
{
	return rdtsc();
}

/* The guest's TSC is the host's plus the VMCS TSC offset (a guest's TSC write sets it,
 * exit_msr.c; SDM Vol 3C 26.6.5). IA32_TSC_DEADLINE holds a guest TSC value, the model a
 * host one: converted at the MSR, on the vCPU's CPU with its VMCS current. */
static uint64_t guest_tsc_offset(void)
{
	return (vmx_caps.proc & PROC_TSC_OFFSET) ? vmread(VMCS_TSC_OFFSET) : 0;
}

static uint64_t deadline_to_guest(uint64_t host)
{
	return host ? host + guest_tsc_offset() : 0;
}

/* 0 disarms; a deadline already passed in host terms fires at once (1 is past). */
static uint64_t deadline_to_host(uint64_t guest)
{
	if (!guest)
		return 0;
	uint64_t host = guest - guest_tsc_offset();
	return host ? host : 1;
}

/* ---- IPIs (11.6.1, 11.6.2) */

static bool ipi_reaches(const struct vcpu *src, struct vcpu *t, const struct lapic_ipi *ipi)
{
	switch (ipi->shorthand) {
	case LAPIC_SH_SELF:
		return t == src;
	case LAPIC_SH_ALL:
		return true;
	case LAPIC_SH_OTHERS:
		return t != src;
	case LAPIC_SH_NONE:
		break;
	}
	/* The target's ID/LDR/DFR are read as a bus would: a change races with the IPI. */
	return lapic_matches_dest(t->lapic, ipi);
}

/* A SIPI starts t only if it waits for one (9.4.4); others ignore it. Many ignored
 * ones are a storm: the guest ends. */
static enum exit_action send_sipi(struct vcpu *t, unsigned vector)
{
	unsigned want = VLAPIC_SIPI_WAIT;
	__atomic_store_n(&t->sipi_vector, vector, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&t->sipi_state, &want, VLAPIC_SIPI_GO, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		/* counted by the sender, so a guest never looks all-parked while t starts */
		__atomic_sub_fetch(&t->guest->vcpus_parked, 1, __ATOMIC_SEQ_CST);
		return EXIT_RESUME;
	}
	unsigned n = __atomic_add_fetch(&t->sipi_ignored, 1, __ATOMIC_RELAXED);
	if (n > VLAPIC_SIPI_STORM)
		return guest_kill(
		    t->guest,
		    "SIPI storm: %u start-up IPIs to vCPU %u while it was not waiting "
		    "for one",
		    n, t->index);
	return EXIT_RESUME;
}

/*
 * INIT (9.4.4): t waits for a SIPI from now on, so a SIPI sent right after it finds t
 * waiting even before t ran again; t resets its APIC when it takes the event. If every
 * live vCPU now waits, nothing can start one: the guest ends. The sender counts the
 * wait, as send_sipi counts its end.
 */
static enum exit_action send_init(struct vcpu *t)
{
	struct guest *g = t->guest;
	__atomic_fetch_or(&t->events, VLAPIC_EV_INIT, __ATOMIC_SEQ_CST);
	unsigned old = __atomic_exchange_n(&t->sipi_state, VLAPIC_SIPI_WAIT, __ATOMIC_SEQ_CST);
	if (old == VLAPIC_SIPI_WAIT)
		return EXIT_RESUME;
	if (old == VLAPIC_SIPI_RUN && __atomic_add_fetch(&g->vcpus_parked, 1, __ATOMIC_SEQ_CST) ==
					  __atomic_load_n(&g->vcpus_live, __ATOMIC_SEQ_CST))
		return guest_kill(g, "every vCPU waits for a SIPI (last INIT to vCPU %u)",
				  t->index);
	if (old == VLAPIC_SIPI_GO) /* its SIPI was counted as an end of the wait */
		__atomic_add_fetch(&g->vcpus_parked, 1, __ATOMIC_SEQ_CST);
	return EXIT_RESUME;
}

/* Delivers ipi to one target t (posted, then t kicked). */
static enum exit_action deliver_one(struct vcpu *src, struct vcpu *t, const struct lapic_ipi *ipi)
{
	enum exit_action a = EXIT_RESUME;
	switch (ipi->mode) {
	case LAPIC_DM_FIXED:
	case LAPIC_DM_LOWEST:
		if (!lapic_accept(t->lapic, ipi->vector, ipi->trig_lvl))
			return EXIT_RESUME;
		break;
	case LAPIC_DM_NMI:
		__atomic_fetch_or(&t->events, VLAPIC_EV_NMI, __ATOMIC_SEQ_CST);
		break;
	case LAPIC_DM_INIT:
		if (t == src)
			return guest_kill(
			    src->guest, "INIT IPI from vCPU %u to itself (ICR 0x%x) at RIP 0x%llx",
			    src->index, src->lapic->icr_low, (unsigned long long)src->rip);
		a = send_init(t);
		break;
	case LAPIC_DM_SIPI:
		a = send_sipi(t, ipi->vector);
		break;
	default: /* SMI, ExtINT, reserved: no such source here */
		return EXIT_RESUME;
	}
	if (t != src)
		vcpu_kick(t);
	return a;
}

/*
 * Sends the IPI src's ICR describes to every vCPU it reaches. Fixed and lowest
 * priority need a vector >= 16 (else ESR "send illegal vector", 11.5.3); lowest
 * priority goes to the first target (11.6.2.4 lets the choice be the model's); an INIT
 * de-assert (level 0) does nothing (11.6.1).
 */
static enum exit_action vlapic_send(struct vcpu *src)
{
	struct lapic_ipi ipi = lapic_icr_ipi(src->lapic);
	struct guest *g = src->guest;
	bool fixed = ipi.mode == LAPIC_DM_FIXED || ipi.mode == LAPIC_DM_LOWEST;
	if (fixed && ipi.vector < 16) {
		__atomic_fetch_or(&src->lapic->esr_pending, LAPIC_ESR_SEND_ILLEGAL,
				  __ATOMIC_SEQ_CST);
		return EXIT_RESUME;
	}
	if (ipi.mode == LAPIC_DM_INIT && !ipi.level)
		return EXIT_RESUME;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		struct vcpu *t = &g->vcpus[i];
		if (!ipi_reaches(src, t, &ipi))
			continue;
		enum exit_action a = deliver_one(src, t, &ipi);
		if (a != EXIT_RESUME || ipi.mode == LAPIC_DM_LOWEST)
			return a;
	}
	return EXIT_RESUME;
}

/* ---- INIT and SIPI in the target (9.4.4) */

/* A posted INIT, in the target: the APIC's reset state (ID and mode kept), no event
 * pending (send_init already made it wait for a SIPI). */
static void vlapic_init(struct vcpu *v)
{
	lapic_reset(v->lapic);
	v->nmi_pending = false;
	v->irq_pending = -1;
}

/* A posted SIPI: v leaves the wait in real mode at vector << 8 : 0. */
static enum exit_action vlapic_start(struct vcpu *v)
{
	unsigned vector = __atomic_load_n(&v->sipi_vector, __ATOMIC_RELAXED);
	__atomic_store_n(&v->sipi_state, VLAPIC_SIPI_RUN, __ATOMIC_SEQ_CST);
	int err = vmcs_start_sipi(v, vector);
	if (err == -ENOTSUP)
		return guest_kill(v->guest,
				  "SIPI to vCPU %u: starting in real mode needs the "
				  "unrestricted-guest VMX feature",
				  v->index);
	if (err)
		return guest_kill(v->guest, "SIPI to vCPU %u: VMWRITE failed", v->index);
	return EXIT_RESUME;
}

/* v is not running: it waits for a SIPI (blocks) or one started it (real mode). */
static enum exit_action sipi_wait_or_start(struct vcpu *v)
{
	/* Clear the kick before looking, so a SIPI posted after the look still wakes v. */
	__atomic_store_n(&v->kicked, 0, __ATOMIC_SEQ_CST);
	switch (__atomic_load_n(&v->sipi_state, __ATOMIC_SEQ_CST)) {
	case VLAPIC_SIPI_WAIT:
		v->wake_at = ~0ull;
		return EXIT_BLOCK;
	case VLAPIC_SIPI_GO:
		return vlapic_start(v);
	}
	return EXIT_RESUME;
}

enum exit_action vlapic_take_events(struct vcpu *v)
{
	unsigned ev = __atomic_load_n(&v->events, __ATOMIC_RELAXED)
			  ? __atomic_exchange_n(&v->events, 0, __ATOMIC_SEQ_CST)
			  : 0;
	if (ev & VLAPIC_EV_INIT)
		vlapic_init(v);
	/* NMIs are blocked in wait-for-SIPI (SDM Vol 3C 26.6.2): dropped */
	if (__atomic_load_n(&v->sipi_state, __ATOMIC_SEQ_CST) != VLAPIC_SIPI_RUN)
		return sipi_wait_or_start(v);
	if (ev & VLAPIC_EV_NMI)
		v->nmi_pending = true;
	return EXIT_RESUME;
}

bool vlapic_may_be_woken(struct vcpu *v)
{
	return v->guest->vcpu_count > 1 && lapic_sw_enabled(v->lapic);
}

/* ---- IA32_APIC_BASE (11.4.4) and the mode transitions of 11.12.5 figure 11-27 */

static uint64_t apic_base_read(const struct vcpu *v)
{
	const struct lapic *l = v->lapic;
	return LAPIC_BASE_DEFAULT | (l->hw_enabled ? APIC_BASE_EN : 0) |
	       (l->x2apic ? APIC_BASE_EXTD : 0) | (v->index == 0 ? APIC_BASE_BSP : 0);
}

/* Returns 0 or -EINVAL (#GP): reserved bits, a moved base (not supported: the xAPIC
 * page stays at its default), EXTD without EN, x2APIC -> xAPIC, disabled -> x2APIC. */
static int apic_base_write(struct vcpu *v, uint64_t val)
{
	struct lapic *l = v->lapic;
	bool en = val & APIC_BASE_EN, extd = val & APIC_BASE_EXTD;
	if ((val & ~(APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN)) != LAPIC_BASE_DEFAULT)
		return -EINVAL;
	if ((extd && !en) || (l->x2apic && en && !extd) || (!l->hw_enabled && extd))
		return -EINVAL;
	if (!en) /* globally disabled: as after reset when enabled again */
		lapic_reset(l);
	l->hw_enabled = en;
	l->x2apic = extd;
	return 0;
}

/* ---- MSRs */

bool vlapic_msr_claims(uint32_t msr)
{
	return msr == MSR_APIC_BASE || msr == MSR_TSC_DEADLINE ||
	       (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

static int msr_read(struct vcpu *v, uint32_t msr, uint64_t *val)
{
	if (msr == MSR_APIC_BASE)
		return *val = apic_base_read(v), 0;
	if (msr == MSR_TSC_DEADLINE)
		return *val = deadline_to_guest(lapic_tsc_deadline_read(v->lapic)), 0;
	if (!v->lapic->x2apic)
		return -EINVAL;
	return lapic_read(v->lapic, msr - MSR_X2APIC_FIRST, vlapic_now(), val);
}

enum exit_action vlapic_rdmsr(struct vcpu *v)
{
	uint64_t val = 0;
	if (msr_read(v, (uint32_t)v->regs.rcx, &val)) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	v->regs.rax = (uint32_t)val;
	v->regs.rdx = val >> 32;
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

enum exit_action vlapic_wrmsr(struct vcpu *v)
{
	uint32_t msr = (uint32_t)v->regs.rcx;
	uint64_t val = (v->regs.rdx << 32) | (uint32_t)v->regs.rax;
	int rc = 0;
	if (msr == MSR_APIC_BASE)
		rc = apic_base_write(v, val);
	else if (msr == MSR_TSC_DEADLINE)
		lapic_tsc_deadline_write(v->lapic, deadline_to_host(val));
	else if (!v->lapic->x2apic)
		rc = -EINVAL;
	else
		rc = lapic_write(v->lapic, msr - MSR_X2APIC_FIRST, val, vlapic_now());
	if (rc < 0) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	vcpu_skip_insn(v);
	return rc == LAPIC_WRITE_IPI ? vlapic_send(v) : EXIT_RESUME;
}

/* ---- the xAPIC page (11.4.1): 32-bit accesses to 16-byte aligned registers */

static enum exit_action bad_access(struct vcpu *v, uint64_t off, unsigned size)
{
	return guest_kill(
	    v->guest,
	    "bad access to the local APIC page: %u byte(s) at offset 0x%llx (registers "
	    "are 4 bytes at 16-byte boundaries) at RIP 0x%llx",
	    size, (unsigned long long)off, (unsigned long long)v->rip);
}

/* In x2APIC mode or globally disabled, the page is not the APIC's (11.12.1, 11.4.3):
 * reads give all ones, writes are dropped. */
static bool page_is_live(const struct vcpu *v)
{
	return v->lapic->hw_enabled && !v->lapic->x2apic;
}

static enum exit_action xapic_read(struct vcpu *v, void *state, uint64_t off, unsigned size,
				   uint64_t *val)
{
	(void)state;
	if (size != 4 || (off & 0xF))
		return bad_access(v, off, size);
	if (!page_is_live(v))
		return *val = ~0ull, EXIT_RESUME;
	if (lapic_read(v->lapic, (unsigned)(off >> 4), vlapic_now(), val))
		*val = 0; /* reserved or write-only: reads 0 */
	return EXIT_RESUME;
}

static enum exit_action xapic_write(struct vcpu *v, void *state, uint64_t off, unsigned size,
				    uint64_t val)
{
	(void)state;
	if (size != 4 || (off & 0xF))
		return bad_access(v, off, size);
	if (!page_is_live(v))
		return EXIT_RESUME;
	int rc = lapic_write(v->lapic, (unsigned)(off >> 4), val, vlapic_now());
	if (rc == LAPIC_WRITE_IPI)
		return vlapic_send(v);
	if (rc < 0) /* read-only or reserved: ESR "illegal register address" (11.5.3) */
		__atomic_fetch_or(&v->lapic->esr_pending, LAPIC_ESR_ILLEGAL_REG, __ATOMIC_SEQ_CST);
	return EXIT_RESUME;
}

static const struct vdev_ops xapic_ops = {
	.name = "local APIC",
	.read = xapic_read,
	.write = xapic_write,
};

int vlapic_attach(struct vdev_bus *bus, struct guest *g)
{
	struct lapic *apics = kzalloc(g->vcpu_count * sizeof(struct lapic));
	if (!apics)
		return -ENOMEM;
	for (unsigned i = 0; i < g->vcpu_count; i++)
		lapic_init(&apics[i], i);
	int err = vdev_register(bus, VDEV_MMIO, LAPIC_BASE_DEFAULT, 0x1000, &xapic_ops, apics);
	if (err)
		return err; /* the bus freed apics */
	/* smp=sipi, and every Multiboot kernel (a PC starts its BSP only): the APs wait for
	 * INIT-SIPI-SIPI (SDM Vol 3A 9.4.4). */
	bool bsp_only = g->sipi_start || g->multiboot;
	for (unsigned i = 0; i < g->vcpu_count; i++) {
		g->vcpus[i].lapic = &apics[i];
		g->vcpus[i].sipi_state = bsp_only && i ? VLAPIC_SIPI_WAIT : VLAPIC_SIPI_RUN;
	}
	g->vcpus_parked = bsp_only ? g->vcpu_count - 1 : 0;
	return 0;
}
