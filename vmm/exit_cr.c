/*
 * MOV to CR0/CR4 that exits: it changes a bit Keel owns in the guest/host masks (the
 * bits VMX forces, CR0.PG, CR4.PAE, CR4.SMXE: vmcs.c says why). The rules of the write
 * (which values #GP, what happens to EFER.LMA) are cpu_model.c's; here the vCPU's state
 * is read, the PDPTEs loaded when PAE paging starts, and the new mode written back.
 * Qualification: SDM Vol 3C 28.2.1 table 28-3 (bits 3:0 CR, 5:4 access type, 11:8
 * register).
 */
#include <keel/string.h>

#include "exit_handlers.h"
#include "vcpu.h"
#include "vmcs.h"

/* CR4 bits this vCPU may set: what the CPU allows in VMX operation (A.8) except VMXE and
 * SMXE (no nested VMX, no SMX). */
static uint64_t cr4_allowed(void)
{
	return vmx_caps.cr4_fixed1 & ~(CPU_CR4_VMXE | CPU_CR4_SMXE);
}

/* Physical-address width of this CPU, which the guest sees too (CPUID.80000008H:EAX). */
static unsigned maxphyaddr(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000000u, 0, &a, &b, &c, &d);
	if (a < 0x80000008u)
		return 36;
	cpuid(0x80000008u, 0, &a, &b, &c, &d);
	return a & 0xFF;
}

/*
 * Reads the four PDPTEs at CR3[31:5] (PAE paging: SDM Vol 3A 4.4.1) into pdpte.
 * Returns 0, -EINVAL if one has a reserved bit set (the MOV raises #GP), or -EFAULT
 * when they are not in guest RAM.
 */
static int read_pdptes(struct vcpu *v, uint64_t pdpte[4])
{
	gpa_t at = GPA(vmread(VMCS_GUEST_CR3) & 0xFFFFFFE0ull);
	struct vm_pin pin;
	if (vm_space_pin_gpa(&v->guest->space, at, 32, VM_ACCESS_READ, &pin))
		return -EFAULT;
	int err = vm_pin_read(&pin, 0, pdpte, 32);
	vm_space_unpin(&pin);
	if (err)
		return -EFAULT;
	unsigned maxphy = maxphyaddr();
	for (unsigned i = 0; i < 4; i++)
		if (!cpu_model_pdpte_ok(pdpte[i], maxphy))
			return -EINVAL;
	return 0;
}

/* Applies MOV to CR<cr> of val: #GP, or the new mode (and PDPTEs) written. */
static enum exit_action cr_write(struct vcpu *v, unsigned cr, uint64_t val)
{
	struct cpu_mode now = vmcs_mode_read(), next;
	bool pdptes = false;
	uint64_t pdpte[4];
	int err = cr == 0 ? cpu_model_write_cr0(&now, val, &next, &pdptes)
			  : cpu_model_write_cr4(&now, val, cr4_allowed(), vmread(VMCS_GUEST_CR3),
						&next, &pdptes);
	if (!err && pdptes)
		err = read_pdptes(v, pdpte);
	if (err == -EFAULT)
		return guest_kill(v->guest, "PAE PDPTEs at CR3 0x%llx outside guest RAM",
				  (unsigned long long)vmread(VMCS_GUEST_CR3));
	if (err) {
		vcpu_inject_gp(v);
		return EXIT_RESUME;
	}
	if (vmcs_mode_write(&next) || (pdptes && vmcs_pdptes_write(pdpte)))
		return guest_kill(v->guest, "VMWRITE failed emulating MOV to CR%u", cr);
	vcpu_skip_insn(v);
	return EXIT_RESUME;
}

enum exit_action exit_cr_access(struct vcpu *v)
{
	uint64_t q = v->exit_qual;
	unsigned cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	if (type != 0 || (cr != 0 && cr != 4))
		return guest_kill(v->guest,
				  "unsupported control-register access (qual 0x%llx) at "
				  "RIP 0x%llx",
				  (unsigned long long)q, (unsigned long long)v->rip);
	uint64_t val = vcpu_gpr_read(v, reg);
	if (!vcpu_in_64bit_mode(v))
		val = (uint32_t)val;
	return cr_write(v, cr, val);
}
