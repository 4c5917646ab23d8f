/*
 * x86-64 side of vm_space (kernel/mm/tlb.h hooks): loading a host space into CR3 and
 * dropping its translations on this CPU. PCIDs are not used yet: every CR3 write
 * flushes the non-global TLB, so a space that is not loaded here has nothing cached
 * here and its flushes are no-ops. Guest (EPT) spaces need VMX, which is not built
 * yet (issue 4): their hooks refuse with a CHECK until then.
 */
#include <arch/x86.h>
#include <keel/check.h>
#include <keel/string.h>

#include "kmap.h"

#include <mm/tlb.h>
#include <mm/vm_space.h>

static paddr_t kernel_root(void)
{
	return pt_table_root_pa(&kernel_pt);
}

static bool is_loaded(struct vm_space *s)
{
	return (read_cr3() & ~0xFFFull) == vm_space_root_pa(s).v;
}

/*
 * A host space's root holds the user half (entries 0-255, edited by the engine through
 * pt_format_x86_64_user) and, copied here, the kernel half (256-511) of the kernel table
 * (kmap.c). The kernel's top-level entries never change once the APs run, so one copy
 * stays valid.
 */
static void share_kernel_half(struct vm_space *s)
{
	uint64_t *root = pa_to_kva(vm_space_root_pa(s));
	const uint64_t *kernel = kmap_root();
	if (root[511] != kernel[511])
		memcpy(&root[256], &kernel[256], 256 * sizeof(uint64_t));
}

void arch_vm_space_load(struct vm_space *s)
{
	CHECK(s->kind == VM_SPACE_HOST_USER); /* EPT spaces are loaded by the VMCS (issue 4) */
	share_kernel_half(s);
	write_cr3(vm_space_root_pa(s).v);
}

void arch_tlb_flush_range(struct vm_space *s, vaddr_t va, uint64_t len)
{
	CHECK(s->kind == VM_SPACE_HOST_USER);
	if (!is_loaded(s))
		return; /* no PCIDs: the last CR3 switch dropped its translations here */
	for (uint64_t off = 0; off < len; off += PAGE_SIZE)
		invlpg(va.v + off);
}

/*
 * Full flush. A CPU that still has s in CR3 but is no longer running it (deactivated:
 * the kernel keeps the last root loaded) switches to the kernel-only root instead, so
 * a dying space's root is never in CR3 when it is freed.
 */
void arch_tlb_flush_all(struct vm_space *s)
{
	CHECK(s->kind == VM_SPACE_HOST_USER);
	if (!is_loaded(s))
		return;
	if (cpumask_test(cpumask_read(&s->active), arch_cpu_id()))
		write_cr3(read_cr3());
	else
		write_cr3(kernel_root().v);
}
