/*
 * Address spaces: one page table (host x86-64 or guest EPT) plus what the rest of the
 * kernel needs around it: which CPUs run it and which may still cache it (for the TLB
 * flusher, kernel/mm/tlb.h), demand-paged regions and the fault handler for demand
 * paging (the EPT-violation path calls it; the host #PF path will, for user
 * processes), map/unmap/protect wrappers that use one
 * flush batch per operation, and pinning of ranges that a hypercall or syscall uses in
 * place (a pinned page cannot be unmapped or changed until it is unpinned).
 *
 * Memory. The space holds a reference only on the frames its fault handler allocated
 * (demand paging); those are freed after the flush that removes their last mapping.
 * vm_space_map maps memory the caller owns: the caller keeps it until vm_space_unmap
 * returned (the flush is complete then). It may also map device memory (MMIO: give it
 * an uncached prop), which has no struct frame: such leaves hold no reference and
 * cannot be pinned.
 *
 * Context. Every operation but activate/deactivate opens a cursor and may wait for other
 * CPUs (overlapping cursors, TLB-flush acknowledgements, pins): call with interrupts
 * enabled, no spinlock held, never from an interrupt handler (a page-fault or
 * EPT-violation handler must enable interrupts first).
 */
#ifndef KEEL_MM_VM_SPACE_H
#define KEEL_MM_VM_SPACE_H

#include <keel/check.h>
#include <keel/compiler.h>
#include <keel/cpumask.h>
#include <keel/spinlock.h>
#include <keel/types.h>
#include <keel/waitq.h>

#include "pt.h"
#include "tlb.h"

enum vm_space_kind {
	VM_SPACE_HOST_USER, /* host user space: x86-64 paging, tag = PCID (allocated here) */
	VM_SPACE_GUEST_EPT, /* guest-physical space: EPT, tag = VPID or 0 (EPTP from the root) */
	/*
	 * The kernel's own table (arch/x86_64/kmap.c): both halves, shared by every CPU,
	 * global leaves, no tag, no leaf references. Its flushes go to every online CPU
	 * and wait while a CPU comes online (tlb.c, the bring-up gate); it is never
	 * activated nor finished. Its upper-half root entries never change after
	 * kmap_init (host spaces copy them once; arch/x86_64/kmap.h).
	 */
	VM_SPACE_KERNEL,
};

/*
 * Tags of host spaces (PCIDs) are allocated by vm_space_init from 1 ..
 * arch_vm_space_tag_count(VM_SPACE_HOST_USER) - 1 and freed by vm_space_fini after
 * tlb_retire made every CPU that may cache the tag flush it. Tag 0 means untagged:
 * the arch flushes the space at every load (no PCIDs, or all tags in use).
 */
#define VM_SPACE_TAG_COUNT_MAX 4096

/* Access kinds (vm_space_handle_fault, vm_space_pin): a set of PT_PROP_* flags the leaf
 * must all have. VM_ACCESS_USER: a user-mode access (host spaces). */
#define VM_ACCESS_READ PT_PROP_R
#define VM_ACCESS_WRITE PT_PROP_W
#define VM_ACCESS_EXEC PT_PROP_X
#define VM_ACCESS_USER PT_PROP_USER

/* Flags of vm_space_unmap / vm_space_protect. */
#define VM_NOWAIT (1u << 0) /* meeting a pinned page fails with -EBUSY instead of waiting */

#define VM_SPACE_REGION_MAX 16

/* frame.flags bit of FRAME_USER / FRAME_GUEST_RAM frames the space allocated itself. */
#define VM_FRAME_DEMAND 0x100u

/* A demand-paged region: [start, end) linear, pages allocated zeroed on first touch. */
struct vm_region {
	uint64_t start, end; /* canonical start; end exclusive (0: 2^64) */
	struct pt_prop prop; /* leaves' properties; also the accesses allowed */
};

/*
 * Lock legend: [c] const after vm_space_init  [a] atomic accesses only
 * [r] region_lock  [p] slot of the owning CPU, only that CPU
 */
struct vm_space {
	enum vm_space_kind kind; /* [c] */
	uint64_t tag;		 /* [c] PCID (host) or VPID (guest); 0: untagged */
	struct pt_table table;	 /* [c] fields; entries edited through cursors */
	cpumask_t active;	 /* [a] CPUs running the space now */
	cpumask_t cached;	 /* [a] CPUs that ran it since their last full flush of its tag */
	uint64_t flush_gen;	 /* [a] bumped by every flush dispatch */
	uint64_t synced_gen[MAX_CPUS]; /* [p] flush_gen at this CPU's last sync */
	struct tlb_stats stats;	       /* [a] */
	uint64_t fault_count;	       /* [a] pages mapped by demand paging */
	uint64_t unpin_seq;    /* [a] bumped after every vm_space_unpin: wakes waiting edits */
	struct waitq unpin_wq; /* edits waiting for unpin_seq to move (pin.c) */
	spinlock_t region_lock;
	struct vm_region region[VM_SPACE_REGION_MAX]; /* [r] */
	unsigned region_count;			      /* [r] */
};

/*
 * Initialises s with an empty table of the kind's format (x86-64 lower half, EPT, or
 * the whole x86-64 address space for VM_SPACE_KERNEL). `tag`: the VPID of a guest space
 * (the vmm owns VPIDs; 0 when its vCPUs carry their own, as Keel's do); must be 0 for the other kinds (a host space allocates its PCID
 * here, or stays untagged when none is free). Returns 0, -EINVAL or -ENOMEM.
 */
int vm_space_init(struct vm_space *s, enum vm_space_kind kind, uint64_t tag) __must_check;
/*
 * Removes every mapping, frees the frames the space owns and every node, after every
 * CPU that may cache s flushed it (so s->tag may be reused afterwards). No CPU may run
 * s, no pin may be held, no other operation in progress.
 */
void vm_space_fini(struct vm_space *s);

/*
 * Arch hook: how many tags the CPU offers for spaces of `kind` (4096 PCIDs for host
 * spaces when the CPU has them), 0 if it has none. At most VM_SPACE_TAG_COUNT_MAX.
 * Constant after boot.
 */
uint64_t arch_vm_space_tag_count(enum vm_space_kind kind);

/* Root of the table, for CR3 or the EPTP. */
paddr_t vm_space_root_pa(const struct vm_space *s);

/*
 * The running CPU starts running s: marks it active, flushes lazily if a flush since
 * this CPU last synced s may have missed it (tlb_activate), then
 * arch_vm_space_load(s). The caller deactivates the previous space of the same kind
 * first. Does not wait for other CPUs; callable with interrupts disabled.
 */
void vm_space_activate(struct vm_space *s);
/* The running CPU stops running s; it may still cache s (lazy flush on return). */
void vm_space_deactivate(struct vm_space *s);

/*
 * Declares [start, start + len) demand-paged with prop (page-aligned, inside the space,
 * not overlapping another region). Returns 0, -EINVAL, -EEXIST (overlap), -ENOTSUP (as
 * for vm_space_map) or -ENOSPC (VM_SPACE_REGION_MAX regions already).
 */
int vm_space_add_demand_region(struct vm_space *s, vaddr_t start, uint64_t len,
			       struct pt_prop prop) __must_check;

/*
 * Resolves a fault at addr for `access` (VM_ACCESS_*): if the page is mapped with that
 * access, nothing to do (another CPU resolved it, or a stale TLB entry); if it is
 * unmapped inside a demand region that allows the access, maps a zeroed frame
 * (FRAME_USER or FRAME_GUEST_RAM). Returns 0 (resolved: retry the access), -EFAULT (not
 * in any region, access not allowed, or outside the space: the caller injects a fault
 * or ends the program/guest) or -ENOMEM.
 */
int vm_space_handle_fault(struct vm_space *s, vaddr_t addr, unsigned access) __must_check;

/*
 * Maps [addr, addr + len) to [pa, pa + len) with prop, largest leaves first, one flush
 * batch. Returns 0, -EINVAL (unaligned, empty, wraps, outside the space), -EEXIST
 * (something mapped there: nothing changes), -ENOTSUP (the format cannot express prop,
 * or a global leaf in a host user space: global translations are shared by every PCID,
 * SDM Vol 3A 4.10.2.4), -ENOMEM (nothing changes).
 */
int vm_space_map(struct vm_space *s, vaddr_t addr, uint64_t len, paddr_t pa,
		 struct pt_prop prop) __must_check;
/*
 * Removes every mapping in [addr, addr + len) (page-aligned); holes are fine. If a page
 * in it is pinned: waits until it is unpinned and retries, or with VM_NOWAIT returns
 * -EBUSY with nothing changed. Returns after the TLB flush completed on every CPU.
 * Returns 0, -EINVAL, -EBUSY or -ENOMEM (a huge leaf could not be split).
 */
int vm_space_unmap(struct vm_space *s, vaddr_t addr, uint64_t len, unsigned flags) __must_check;
/*
 * Sets the access flags and cache type of every page in [addr, addr + len) to prop's
 * (software bits kept). Every page must be mapped (-EFAULT, nothing changed). Pins as
 * for vm_space_unmap (the kernel space has no pins). Returns 0, -EINVAL, -EFAULT,
 * -EBUSY, -ENOTSUP (as for vm_space_map) or -ENOMEM (pages
 * before the failing one stay changed).
 */
int vm_space_protect(struct vm_space *s, vaddr_t addr, uint64_t len, struct pt_prop prop,
		     unsigned flags) __must_check;

/* ---- Pinning */

#define VM_PIN_INLINE 16			       /* pages recorded inside struct vm_pin */
#define VM_PIN_PAGES_MAX (PAGE_SIZE / sizeof(paddr_t)) /* 512: one frame of addresses */

/* A pinned range. [o] the pinning context only. */
struct vm_pin {
	struct vm_space *space;
	uint64_t offset; /* of the first byte inside the first page */
	uint64_t len;	 /* bytes pinned */
	uint64_t page_count;
	paddr_t *page;		  /* page_inline, or a FRAME_KERNEL frame's bytes */
	struct frame *page_frame; /* that frame, or NULL */
	paddr_t page_inline[VM_PIN_INLINE];
};

/*
 * Pins [addr, addr + len) (any alignment): every page must be mapped with `access`
 * (VM_ACCESS_*), or be in a demand region that allows it (it is faulted in). Raises
 * each page frame's pin_count under a cursor over the range, so an unmap or protect
 * cannot slip in between the check and the pin. Returns 0 (release with
 * vm_space_unpin), -EINVAL (empty, wraps, outside the space), -EFAULT (a page unmapped,
 * without the access, or not RAM from the frame allocator, e.g. MMIO: no pin held), -E2BIG (more than VM_PIN_PAGES_MAX pages) or
 * -ENOMEM.
 */
int vm_space_pin(struct vm_space *s, vaddr_t addr, uint64_t len, unsigned access,
		 struct vm_pin *pin) __must_check;
/* Drops the pins; waiting unmap/protect calls then proceed. */
void vm_space_unpin(struct vm_pin *pin);

/*
 * Kernel pointer to byte `offset` of the pinned range, through the direct map, and in
 * *contig_len how many bytes from there are physically contiguous (within the pin).
 * offset < pin->len.
 */
void *vm_pin_kva(const struct vm_pin *pin, uint64_t offset, uint64_t *contig_len);
/* Copies between the pinned range at offset and buf. Returns 0 or -EINVAL (beyond it). */
int vm_pin_read(const struct vm_pin *pin, uint64_t offset, void *buf, uint64_t len) __must_check;
int vm_pin_write(const struct vm_pin *pin, uint64_t offset, const void *buf,
		 uint64_t len) __must_check;

/*
 * ---- Guest spaces take guest-physical addresses
 *
 * A VM_SPACE_GUEST_EPT space is addressed by gpa_t: these entry points are the only
 * place a guest-physical address becomes the table's input address, and they CHECK
 * the space is a guest space. The vmm uses them only, so a guest-physical address
 * cannot reach a host space (nor a host-virtual one a guest space) without a cast.
 * Same contracts as the vaddr_t functions above.
 */
static inline vaddr_t vm_gpa_input(const struct vm_space *s, gpa_t a)
{
	CHECK(s->kind == VM_SPACE_GUEST_EPT);
	return VA(a.v);
}
static inline int __must_check vm_space_add_demand_region_gpa(struct vm_space *s, gpa_t start,
							      uint64_t len, struct pt_prop prop)
{
	return vm_space_add_demand_region(s, vm_gpa_input(s, start), len, prop);
}
static inline int __must_check vm_space_handle_fault_gpa(struct vm_space *s, gpa_t addr,
							 unsigned access)
{
	return vm_space_handle_fault(s, vm_gpa_input(s, addr), access);
}
static inline int __must_check vm_space_map_gpa(struct vm_space *s, gpa_t addr, uint64_t len,
						paddr_t pa, struct pt_prop prop)
{
	return vm_space_map(s, vm_gpa_input(s, addr), len, pa, prop);
}
static inline int __must_check vm_space_unmap_gpa(struct vm_space *s, gpa_t addr, uint64_t len,
						  unsigned flags)
{
	return vm_space_unmap(s, vm_gpa_input(s, addr), len, flags);
}
static inline int __must_check vm_space_protect_gpa(struct vm_space *s, gpa_t addr, uint64_t len,
						    struct pt_prop prop, unsigned flags)
{
	return vm_space_protect(s, vm_gpa_input(s, addr), len, prop, flags);
}
static inline int __must_check vm_space_pin_gpa(struct vm_space *s, gpa_t addr, uint64_t len,
						unsigned access, struct vm_pin *pin)
{
	return vm_space_pin(s, vm_gpa_input(s, addr), len, access, pin);
}

/* ---- Shared by vm_space.c and pin.c only */

/*
 * Sleeps (interrupts enabled, no lock held) until some pin of s was dropped since
 * unpin_seq read `seq` (a wait queue: the thread blocks, its CPU runs others).
 */
void vm_pin_wait(struct vm_space *s, uint64_t seq);

/* Checks a range: 0 and *end = addr + len, or -EINVAL (empty, wraps, or unaligned when
 * `aligned`). */
int vm_range_check(uint64_t addr, uint64_t len, bool aligned, uint64_t *end) __must_check;
/*
 * Under cursor c (covering va): the physical address of page va if it is mapped with
 * `access`, faulting it in when it is unmapped inside a demand region that allows it.
 * Returns 0, -EFAULT or -ENOMEM.
 */
int vm_page_resolve(struct vm_space *s, struct pt_cursor *c, uint64_t va, unsigned access,
		    paddr_t *pa) __must_check;

#endif
