/*
 * EPT exits: a violation inside guest RAM is a demand fault the guest's vm_space
 * resolves (the same fault handler host spaces use); in a device's MMIO range it is
 * the guest's instruction touching the device, emulated by exit_mmio.c (an instruction
 * fetch from a device ends the guest); elsewhere outside RAM the guest ends with the
 * address and RIP. Qualification: SDM Vol 3C 28.2.1 table 28-7 (bit 0 read, 1 write,
 * 2 fetch).
 */
#include "dev/dev.h"
#include "exit_handlers.h"
#include "exit_mmio.h"

static const char *access_word(uint64_t q)
{
	return (q & 4) ? "fetch" : (q & 2) ? "write" : "read";
}

static enum exit_action outside_ram(struct vcpu *v, gpa_t gpa)
{
	struct guest *g = v->guest;
	return guest_kill(g, "%s at GPA 0x%llx outside guest RAM [0, 0x%llx) at RIP 0x%llx",
			  access_word(v->exit_qual), (unsigned long long)gpa.v,
			  (unsigned long long)g->mem, (unsigned long long)v->rip);
}

/*
 * A device access is emulated only when the instruction at RIP made it: not when the
 * CPU touched the device delivering an event (IDT-vectoring information valid, SDM Vol
 * 3C 28.2.4: a frame pushed onto a device) nor walking the guest's page tables through
 * it (qualification bit 7 set and bit 8 clear, table 28-7). Those end the guest.
 */
static enum exit_action mmio_by_insn(struct vcpu *v, const struct vdev_range *r, gpa_t gpa)
{
	uint64_t q = v->exit_qual;
	const char *what = NULL;
	if (vmread(VMCS_IDT_VECTORING_INFO) >> 31)
		what = "delivering an event";
	else if ((q & (1u << 7)) && !(q & (1u << 8)))
		what = "walking the guest's page tables";
	if (!what)
		return exit_mmio(v, r, gpa);
	return guest_kill(v->guest, "%s at GPA 0x%llx of device '%s' while %s at RIP 0x%llx",
			  access_word(q), (unsigned long long)gpa.v, r->ops->name, what,
			  (unsigned long long)v->rip);
}

enum exit_action exit_ept_violation(struct vcpu *v)
{
	struct guest *g = v->guest;
	gpa_t gpa = vmread_gpa(VMCS_GUEST_PHYS_ADDR);
	uint64_t q = v->exit_qual;
	unsigned access = ((q & 1) ? VM_ACCESS_READ : 0) | ((q & 2) ? VM_ACCESS_WRITE : 0) |
			  ((q & 4) ? VM_ACCESS_EXEC : 0);
	const struct vdev_range *r = vdev_find(g->devices, VDEV_MMIO, gpa.v);
	if (r && (q & 4)) /* a device's range, even over RAM, is never demand-paged */
		return guest_kill(g, "fetch at GPA 0x%llx of device '%s' at RIP 0x%llx",
				  (unsigned long long)gpa.v, r->ops->name,
				  (unsigned long long)v->rip);
	if (r)
		return mmio_by_insn(v, r, gpa);
	if (gpa.v >= g->mem)
		return outside_ram(v, gpa);
	int err = vm_space_handle_fault_gpa(&g->space, GPA(gpa.v & ~PAGE_MASK), access);
	if (err)
		return guest_kill(g, "EPT violation (%s) at GPA 0x%llx not resolved: error %d",
				  access_word(q), (unsigned long long)gpa.v, err);
	return EXIT_RESUME;
}

enum exit_action exit_ept_misconfig(struct vcpu *v)
{
	return guest_kill(v->guest, "EPT misconfiguration at GPA 0x%llx (a Keel bug)",
			  (unsigned long long)vmread_gpa(VMCS_GUEST_PHYS_ADDR).v);
}
