/*
 * x86-64 side of vm_space (kernel/mm/tlb.h hooks): loading a space and dropping its
 * translations on this CPU.
 *
 * Host spaces with PCIDs (CR4.PCIDE, SDM Vol 3A 4.10.1). Each tagged space has its own
 * PCID (vm_space.c allocates them; 0 is the kernel table's and the untagged spaces'),
 * so its translations survive while other spaces run here. Loading writes CR3 = root |
 * PCID with bit 63 set (keep this PCID's entries, 4.10.4.1) unless this CPU must flush
 * the PCID: the generic lazy flush (tlb.c) already ran arch_tlb_flush_all if this CPU
 * missed a dispatch, and that, without INVPCID, can only mark the PCID stale here
 * (pcid_stale), which makes the load flush. A flush of a space that is not loaded here
 * is INVPCID (individual-address or single-context) or, without INVPCID, the stale mark.
 * Untagged spaces (no PCIDs, or all in use) load with bit 63 clear, so one that is not
 * loaded here has nothing usable cached here and its flushes are no-ops.
 *
 * Kernel table (VM_SPACE_KERNEL): its leaves are global (CR4.PGE), shared by every PCID
 * (the kernel half of every root is the kernel table's, so a global page has one
 * translation everywhere, as 4.10.2.4 requires). INVLPG drops the global entry of a
 * page under every PCID; a full flush needs INVPCID all-context (type 2) or toggling
 * CR4.PGE (4.10.4.1), since CR3 writes keep global entries.
 *
 * Guest (EPT) spaces: loading writes the EPTP and VPID into the current VMCS (vmm/
 * keeps the vCPU's VMCS current around activation); flushing is INVEPT for that EPTP
 * plus INVVPID for the space's VPID (SDM Vol 3C 29.4.3 "Invalidating Cached
 * Translation Information", 31.3 INVEPT/INVVPID).
 */
#include <arch/vmcs.h>
#include <arch/x86.h>
#include <keel/check.h>

#include "kmap.h"

#include <mm/tlb.h>
#include <mm/vm_space.h>

#define CR3_ADDR 0x000FFFFFFFFFF000ull
#define CR3_NOFLUSH (1ull << 63) /* with CR4.PCIDE: keep the PCID's entries (4.10.4.1) */

/* INVPCID types (SDM Vol 2A INVPCID): individual address, single context, all contexts
 * including global translations. */
#define INVPCID_ADDR 0
#define INVPCID_SINGLE 1
#define INVPCID_ALL_GLOBAL 2

struct host_tlb_caps host_tlb_caps;

/* [p] bit t: this CPU must flush PCID t at its next load of it (no INVPCID). Set from
 * cross-calls and flush hooks, taken by loads: atomic bit operations. */
static uint64_t pcid_stale[MAX_CPUS][VM_SPACE_TAG_COUNT_MAX / 64];

uint64_t arch_vm_space_tag_count(enum vm_space_kind kind)
{
	return kind == VM_SPACE_HOST_USER && host_tlb_caps.pcid ? VM_SPACE_TAG_COUNT_MAX : 0;
}

static paddr_t kernel_root(void)
{
	return vm_space_root_pa(&kernel_space);
}

static bool is_loaded(struct vm_space *s)
{
	return (read_cr3() & CR3_ADDR) == vm_space_root_pa(s).v;
}

static void invpcid(unsigned type, uint64_t pcid, uint64_t va)
{
	struct {
		uint64_t pcid, va;
	} desc = { pcid, va };
	__asm__ __volatile__("invpcid %0, %q1" ::"m"(desc), "r"((uint64_t)type) : "memory");
}

/* Drops every entry of PCID tag (not loaded here) now, or at its next load here. */
static void pcid_drop(uint64_t tag)
{
	if (host_tlb_caps.invpcid)
		invpcid(INVPCID_SINGLE, tag, 0);
	else
		__atomic_fetch_or(&pcid_stale[arch_cpu_id()][tag / 64], 1ull << (tag % 64),
				  __ATOMIC_RELAXED);
}

/* True if this CPU must flush PCID tag as it loads it; clears the mark. */
static bool pcid_take_stale(uint64_t tag)
{
	uint64_t bit = 1ull << (tag % 64);
	return __atomic_fetch_and(&pcid_stale[arch_cpu_id()][tag / 64], ~bit, __ATOMIC_RELAXED) &
	       bit;
}

/*
 * A host space's root holds the user half (entries 0-255, edited by the engine through
 * pt_format_x86_64_user) and the kernel half (256-511): the kernel table's entries,
 * copied when the space is first loaded (vm_space_init has no arch hook to do it
 * earlier). Those entries are fixed from kmap_init on (kmap.h: each points to a level-3
 * node the kernel table keeps), so the one copy stays right for the space's whole life,
 * whatever the kernel maps later. Entry 511 is stored last (release) and tested first:
 * a root whose 511 is set is shared whole, even if two CPUs load a fresh space at once
 * (both store the same values).
 */
static void share_kernel_half(struct vm_space *s)
{
	uint64_t *root = pa_to_kva(vm_space_root_pa(s));
	const uint64_t *kernel = kmap_root();
	const unsigned last = KMAP_ROOT_END - 1;
	if (__atomic_load_n(&root[last], __ATOMIC_ACQUIRE))
		return;
	for (unsigned i = KMAP_ROOT_FIRST; i < last; i++) {
		CHECK(kmap_root_entry_is_table(i)); /* kmap_init filled them all */
		__atomic_store_n(&root[i], kernel[i], __ATOMIC_RELAXED);
	}
	CHECK(kmap_root_entry_is_table(last));
	__atomic_store_n(&root[last], kernel[last], __ATOMIC_RELEASE);
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

static void ept_load(struct vm_space *s)
{
	uint64_t eptp = ept_eptp(vm_space_root_pa(s));
	uint64_t vpid = s->tag;
	(void)vmwrite(VMCS_EPT_POINTER, eptp);
	if (vpid)
		(void)vmwrite(VMCS_VPID, vpid);
}

void ept_flush_vpid(uint16_t vpid)
{
	if (ept_flush_caps.invvpid)
		invvpid(ept_flush_caps.invvpid_single ? 1 : 2, vpid);
	else
		invept(2, 0);
}

/* A CPU outside VMX operation (CR4.VMXE clear) never ran a guest: nothing cached. */
static void ept_flush_all(struct vm_space *s)
{
	if (!(read_cr4() & CR4_VMXE))
		return;
	uint64_t eptp = ept_eptp(vm_space_root_pa(s));
	invept(ept_flush_caps.invept_single ? 1 : 2, eptp);
	if (s->tag)
		ept_flush_vpid((uint16_t)s->tag);
}

/* Interrupts off: a cross-call marking the PCID stale must not slip between the
 * test and the CR3 write. */
void arch_vm_space_load(struct vm_space *s)
{
	CHECK(s->kind != VM_SPACE_KERNEL);
	if (s->kind == VM_SPACE_GUEST_EPT) {
		ept_load(s);
		return;
	}
	share_kernel_half(s);
	unsigned long flags = arch_irq_save();
	uint64_t cr3 = vm_space_root_pa(s).v | s->tag;
	if (s->tag && !pcid_take_stale(s->tag))
		cr3 |= CR3_NOFLUSH;
	write_cr3(cr3);
	arch_irq_restore(flags);
}

/*
 * Drops every translation, global ones included, under every PCID (4.10.4.1): INVPCID
 * type 2, else a MOV to CR4 that changes PGE. Before kmap_init sets CR4.PGE there are no
 * global entries and only PCID 0 is in use: a CR3 write (bit 63 clear) is enough.
 */
static void flush_everything(void)
{
	if (host_tlb_caps.invpcid) {
		invpcid(INVPCID_ALL_GLOBAL, 0, 0);
		return;
	}
	unsigned long flags = arch_irq_save();
	uint64_t cr4 = read_cr4();
	if (cr4 & CR4_PGE) {
		write_cr4(cr4 & ~CR4_PGE);
		write_cr4(cr4);
	} else {
		write_cr3(read_cr3());
	}
	arch_irq_restore(flags);
}

void arch_tlb_flush_range(struct vm_space *s, vaddr_t va, uint64_t len)
{
	CHECK(!s->table.fmt->no_addr_invalidate); /* tlb.c flushes those spaces whole */
	if (s->kind == VM_SPACE_KERNEL || is_loaded(s)) {
		for (uint64_t off = 0; off < len; off += PAGE_SIZE)
			invlpg(va.v + off);
	} else if (!s->tag) {
		return; /* untagged: its next load flushes anyway */
	} else if (host_tlb_caps.invpcid) {
		for (uint64_t off = 0; off < len; off += PAGE_SIZE)
			invpcid(INVPCID_ADDR, s->tag, va.v + off);
	} else {
		pcid_drop(s->tag);
	}
}

/*
 * Full flush. A CPU that still has s in CR3 but is no longer running it (deactivated:
 * the kernel keeps the last root loaded) switches to the kernel-only root (PCID 0,
 * flushing) instead, so a dying space's root is never in CR3 when it is freed.
 */
void arch_tlb_flush_all(struct vm_space *s)
{
	if (s->kind == VM_SPACE_GUEST_EPT) {
		ept_flush_all(s);
		return;
	}
	if (s->kind == VM_SPACE_KERNEL) {
		flush_everything();
		return;
	}
	if (is_loaded(s) && cpumask_test(cpumask_read(&s->active), arch_cpu_id())) {
		write_cr3(vm_space_root_pa(s).v | s->tag); /* bit 63 clear: drops s->tag */
		return;
	}
	if (is_loaded(s))
		write_cr3(kernel_root().v);
	if (s->tag)
		pcid_drop(s->tag);
}
