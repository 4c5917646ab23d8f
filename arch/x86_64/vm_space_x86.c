/*
 * x86-64 side of vm_space (kernel/mm/tlb.h hooks): loading a host space into CR3 and
 * dropping its translations on this CPU. PCIDs are not used yet: every CR3 write
 * flushes the non-global TLB, so a space that is not loaded here has nothing cached
 * here and its flushes are no-ops. Guest (EPT) spaces: loading writes the EPTP and
 * VPID into the current VMCS (vmm/ keeps the vCPU's VMCS current around activation);
 * flushing is INVEPT for that EPTP plus INVVPID for the space's VPID (SDM Vol 3C 29.4.3
 * "Invalidating Cached Translation Information", 31.3 INVEPT/INVVPID).
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

struct ept_flush_caps ept_flush_caps;

uint64_t ept_eptp(paddr_t root)
{
	/* bits 2:0 memory type 6 (WB), 5:3 walk length - 1, 6 A/D enable (25.6.11) */
	return root.v | 6 | (3u << 3) | (ept_flush_caps.ad ? 1u << 6 : 0);
}

/* INVEPT/INVVPID types (SDM Vol 3C 31.3): 1 single-context, 2 all-context. */
static void invept(unsigned type, uint64_t eptp)
{
	struct {
		uint64_t eptp, zero;
	} desc = { eptp, 0 };
	__asm__ __volatile__("invept %0, %q1" ::"m"(desc), "r"((uint64_t)type) : "cc", "memory");
}

static void invvpid(unsigned type, uint16_t vpid)
{
	struct {
		uint64_t vpid, addr;
	} desc = { vpid, 0 };
	__asm__ __volatile__("invvpid %0, %q1" ::"m"(desc), "r"((uint64_t)type) : "cc", "memory");
}

/* VMCS field encodings (SDM Vol 3D appendix B): VPID, EPT pointer. */
#define VMCS_VPID_FIELD 0x0000ull
#define VMCS_EPTP_FIELD 0x201Aull

static void ept_load(struct vm_space *s)
{
	uint64_t eptp = ept_eptp(vm_space_root_pa(s));
	uint64_t vpid = s->tag;
	__asm__ __volatile__("vmwrite %0, %1" ::"r"(eptp), "r"(VMCS_EPTP_FIELD) : "cc");
	if (vpid)
		__asm__ __volatile__("vmwrite %0, %1" ::"r"(vpid), "r"(VMCS_VPID_FIELD) : "cc");
}

/* A CPU outside VMX operation (CR4.VMXE clear) never ran a guest: nothing cached. */
static void ept_flush_all(struct vm_space *s)
{
	if (!(read_cr4() & CR4_VMXE))
		return;
	uint64_t eptp = ept_eptp(vm_space_root_pa(s));
	invept(ept_flush_caps.invept_single ? 1 : 2, eptp);
	if (s->tag && ept_flush_caps.invvpid)
		invvpid(ept_flush_caps.invvpid_single ? 1 : 2, (uint16_t)s->tag);
}

void arch_vm_space_load(struct vm_space *s)
{
	if (s->kind == VM_SPACE_GUEST_EPT) {
		ept_load(s);
		return;
	}
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
	if (s->kind == VM_SPACE_GUEST_EPT) {
		ept_flush_all(s);
		return;
	}
	if (!is_loaded(s))
		return;
	if (cpumask_test(cpumask_read(&s->active), arch_cpu_id()))
		write_cr3(read_cr3());
	else
		write_cr3(kernel_root().v);
}
