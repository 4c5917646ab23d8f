/*
 * Kernel tests of the vCPU's local APIC device (vlapic.c) through the device bus, as
 * the MMIO emulation path reaches it: the xAPIC page's registers, IPIs by the ICR
 * between vCPUs, INIT and SIPI bookkeeping, the misbehaviours that end a guest. No VMX
 * needed: nothing here enters a guest or touches a VMCS.
 */
#include <keel/ktest.h>
#include <keel/string.h>

#include "platform.h"
#include "vlapic.h"

#define PAGE LAPIC_BASE_DEFAULT

/* A guest record with Keel's devices and n vCPUs, not built or run. */
static struct guest *apic_guest(unsigned n, bool sipi)
{
	static struct guest g;
	struct guest_desc d = { .name = "apictest", .mem = MiB(2), .vcpus = n, .sipi_start = sipi };
	vdev_bus_destroy(g.devices); /* the previous test's (NULL the first time) */
	memset(&g, 0, sizeof(g));
	guest_init(&g, &d);
	return vdev_platform_keel(&g) ? NULL : &g;
}

static uint64_t page_read(struct vcpu *v, uint64_t off, unsigned size, enum exit_action *a)
{
	uint64_t val = 0;
	if (!vdev_access(v, VDEV_MMIO, PAGE + off, size, false, &val, a))
		return 0xBADBADBADull;
	return val;
}

static enum exit_action page_write(struct vcpu *v, uint64_t off, uint32_t val)
{
	uint64_t x = val;
	enum exit_action a = EXIT_STOP;
	if (!vdev_access(v, VDEV_MMIO, PAGE + off, 4, true, &x, &a))
		return (enum exit_action) - 1;
	return a;
}

/* Whether s contains w. */
static bool contains(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (; *s; s++)
		if (!strncmp(s, w, n))
			return true;
	return false;
}

static bool irr_has(const struct lapic *l, unsigned v)
{
	return (l->irr[v / 32] >> (v % 32)) & 1;
}

KTEST(vlapic_xapic_page_registers)
{
	struct guest *g = apic_guest(2, false);
	KT_ASSERT(g != NULL);
	struct vcpu *v1 = &g->vcpus[1];
	enum exit_action a = EXIT_STOP;
	KT_ASSERT_EQ(page_read(v1, 0x20, 4, &a), 1u << 24); /* APIC ID 1 in 31:24 */
	KT_ASSERT_EQ(a, EXIT_RESUME);
	KT_ASSERT_EQ(page_read(v1, 0x30, 4, &a), 0x00050014);
	KT_ASSERT_EQ(page_write(v1, 0xF0, 0x1FF), EXIT_RESUME);
	KT_ASSERT_EQ(page_read(v1, 0xF0, 4, &a), 0x1FF);
	KT_ASSERT_EQ(page_write(v1, 0x80, 0x35), EXIT_RESUME);
	KT_ASSERT_EQ(page_read(v1, 0xA0, 4, &a), 0x35);		 /* PPR = TPR */
	KT_ASSERT_EQ(page_write(v1, 0x30, 0x1234), EXIT_RESUME); /* read-only: ESR bit 7 */
	KT_ASSERT_EQ(page_write(v1, 0x280, 0), EXIT_RESUME);
	KT_ASSERT_EQ(page_read(v1, 0x280, 4, &a), 1u << 7);
	v1->lapic->x2apic = true; /* x2APIC mode: the page is not the APIC's */
	KT_ASSERT_EQ(page_read(v1, 0x20, 4, &a), 0xFFFFFFFFull);
	KT_ASSERT(!guest_ended(g));
}

KTEST(vlapic_icr_fixed_ipi_reaches_the_named_vcpu_only)
{
	struct guest *g = apic_guest(3, false);
	KT_ASSERT(g != NULL);
	for (unsigned i = 0; i < 3; i++)
		KT_ASSERT_EQ(page_write(&g->vcpus[i], 0xF0, 0x1FF), EXIT_RESUME);
	struct vcpu *v0 = &g->vcpus[0];
	KT_ASSERT_EQ(page_write(v0, 0x310, 2u << 24), EXIT_RESUME);
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4045), EXIT_RESUME); /* fixed, vector 0x45 */
	KT_ASSERT(irr_has(g->vcpus[2].lapic, 0x45) && g->vcpus[2].kicked);
	KT_ASSERT(!irr_has(g->vcpus[1].lapic, 0x45) && !irr_has(v0->lapic, 0x45));
	KT_ASSERT_EQ(lapic_pending(g->vcpus[2].lapic), 0x45);
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4046 | (3u << 18)), EXIT_RESUME); /* others */
	KT_ASSERT(irr_has(g->vcpus[1].lapic, 0x46) && irr_has(g->vcpus[2].lapic, 0x46));
	KT_ASSERT(!irr_has(v0->lapic, 0x46));
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4404 | (1u << 18)), EXIT_RESUME); /* NMI, self */
	KT_ASSERT(v0->events & VLAPIC_EV_NMI);
}

KTEST(vlapic_init_and_sipi_bookkeeping)
{
	struct guest *g = apic_guest(2, true);
	KT_ASSERT(g != NULL);
	struct vcpu *v0 = &g->vcpus[0], *v1 = &g->vcpus[1];
	KT_ASSERT_EQ(v0->sipi_state, VLAPIC_SIPI_RUN);
	KT_ASSERT_EQ(v1->sipi_state, VLAPIC_SIPI_WAIT);
	KT_ASSERT_EQ(g->vcpus_parked, 1);
	g->vcpus_live = 2;
	KT_ASSERT_EQ(page_write(v0, 0x310, 1u << 24), EXIT_RESUME);
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4500), EXIT_RESUME); /* INIT: waits already */
	KT_ASSERT(v1->events & VLAPIC_EV_INIT);
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x0500), EXIT_RESUME); /* de-assert: nothing */
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4608), EXIT_RESUME); /* SIPI, vector 8 */
	KT_ASSERT_EQ(v1->sipi_state, VLAPIC_SIPI_GO);
	KT_ASSERT_EQ(v1->sipi_vector, 8);
	KT_ASSERT_EQ(g->vcpus_parked, 0);
	KT_ASSERT_EQ(page_write(v0, 0x300, 0x4608), EXIT_RESUME); /* the second: ignored */
	KT_ASSERT_EQ(v1->sipi_ignored, 1);
	KT_ASSERT(!guest_ended(g));
}

KTEST(vlapic_misbehaviour_ends_the_guest)
{
	struct guest *g = apic_guest(2, false);
	KT_ASSERT(g != NULL);
	enum exit_action a = EXIT_RESUME;
	(void)page_read(&g->vcpus[0], 0x21, 1, &a); /* a byte: not a register access */
	KT_ASSERT_EQ(a, EXIT_STOP);
	KT_ASSERT(guest_ended(g) && contains(g->reason, "bad access to the local APIC page"));
	g = apic_guest(2, false);
	KT_ASSERT(g != NULL);
	KT_ASSERT_EQ(page_write(&g->vcpus[1], 0x300, 0x4500 | (2u << 18)), EXIT_STOP);
	KT_ASSERT(guest_ended(g) && contains(g->reason, "INIT IPI from vCPU 1 to itself"));
	g = apic_guest(2, false);
	KT_ASSERT(g != NULL);
	KT_ASSERT_EQ(page_write(&g->vcpus[0], 0x310, 1u << 24), EXIT_RESUME);
	a = EXIT_RESUME;
	for (unsigned i = 0; i <= VLAPIC_SIPI_STORM && a == EXIT_RESUME; i++)
		a = page_write(&g->vcpus[0], 0x300, 0x4608); /* vCPU 1 runs: each is ignored */
	KT_ASSERT_EQ(a, EXIT_STOP);
	KT_ASSERT(guest_ended(g) && contains(g->reason, "SIPI storm"));
}
