/*
 * A vCPU's local APIC as the guest reaches it (vlapic.c): the model of lapic.h behind
 * IA32_APIC_BASE, the x2APIC MSRs 0x800-0x8FF and IA32_TSC_DEADLINE (exit_msr.c hands
 * them over), and the xAPIC page at 0xFEE00000 (an MMIO range on the device bus);
 * IPIs from the ICR to other vCPUs (fixed, lowest priority as fixed, NMI, INIT,
 * SIPI); the start of a vCPU by INIT-SIPI-SIPI. exit_irq.c injects what the APIC has
 * pending; dev/timer.c runs its timer.
 *
 * Start-up (SDM Vol 3A 9.4.4, 11.6.1): with smp=sipi only vCPU 0 (the BSP) starts;
 * the others wait for a SIPI. The wait is emulated in the run loop (the vCPU blocks
 * like a HLT, holding no CPU), not with the VMX wait-for-SIPI activity state (SDM Vol
 * 3C 25.4.2): that state would keep a physical CPU in VMX non-root operation per
 * waiting vCPU, and only a real SIPI to that physical CPU ends it.
 *
 * APIC IDs are vCPU indexes. A guest that misbehaves ends with a reason: an access to
 * the xAPIC page that is not 4 bytes at a 16-byte aligned register, an INIT to
 * itself, a storm of SIPIs to vCPUs not waiting for one.
 */
#ifndef VMM_DEV_VLAPIC_H
#define VMM_DEV_VLAPIC_H

#include "dev.h"
#include "lapic.h"

/* vcpu.sipi_state: running; waiting for a SIPI; started by one (vector posted). */
enum vlapic_sipi_state { VLAPIC_SIPI_RUN, VLAPIC_SIPI_WAIT, VLAPIC_SIPI_GO };
/* vcpu.events, posted by other vCPUs' IPIs. */
#define VLAPIC_EV_INIT 1u
#define VLAPIC_EV_NMI 2u
/* Ignored SIPIs to one vCPU after which the guest is ended (a SIPI storm). */
#define VLAPIC_SIPI_STORM 64

/* CPUID may offer x2APIC (CPUID.1:ECX[21]) and TSC-deadline (ECX[24]): both emulated. */
bool vlapic_x2apic_offered(void);
/* Gives every vCPU of g its APIC (ID = vCPU index; the bus owns their memory), makes
 * the APs wait for a SIPI if g->sipi_start, and registers the xAPIC page
 * (LAPIC_BASE_DEFAULT, 4 KiB) on the bus. Returns 0, -ENOMEM or vdev_register's error. */
int vlapic_attach(struct vdev_bus *bus, struct guest *g) __must_check;

/* An MSR this file answers: IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC 0x800-0x8FF. */
bool vlapic_msr_claims(uint32_t msr);
/* RDMSR/WRMSR of such an MSR (ECX; EDX:EAX): done and RIP advanced, or #GP injected
 * (11.12.1.2: x2APIC MSRs outside x2APIC mode, reserved bits, read-only registers).
 * EXIT_STOP if an IPI it sent ended the guest. */
enum exit_action vlapic_rdmsr(struct vcpu *v);
enum exit_action vlapic_wrmsr(struct vcpu *v);

/*
 * Before each entry: takes the events other vCPUs posted. INIT resets the APIC and
 * makes v wait for a SIPI; a SIPI starts a waiting v in real mode; an NMI becomes
 * v->nmi_pending. Returns EXIT_RESUME (enter v), EXIT_BLOCK (v waits for a SIPI:
 * wake_at set) or EXIT_STOP (the guest ended).
 */
enum exit_action vlapic_take_events(struct vcpu *v);
/* Whether vlapic_take_events has anything to do (cheap: checked before every entry). */
static inline bool vlapic_has_events(const struct vcpu *v)
{
	return __atomic_load_n(&v->events, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&v->sipi_state, __ATOMIC_SEQ_CST) != VLAPIC_SIPI_RUN;
}
/* HLT with RFLAGS.IF = 1 and no timer armed: can another vCPU's IPI still wake v
 * (its APIC is software-enabled and it has a sibling)? */
bool vlapic_may_be_woken(struct vcpu *v);

#endif
