/* The kernel's own page table (arch/x86_64/kmap.c), managed by the cursor engine. */
#ifndef ARCH_KMAP_H
#define ARCH_KMAP_H

#include <keel/types.h>
#include <mm/vm_space.h>

/*
 * The kernel table as a space (VM_SPACE_KERNEL): vm_space_map / unmap / protect on it
 * work at any time after kmap_init, from any CPU, and return after every online CPU
 * dropped the old translations (kernel/mm/tlb.h). Leaves must be global.
 *
 * Top-level entries. Host spaces copy PML4 entries 256-511 of this table once, when
 * first loaded (vm_space_x86.c), and the AP trampoline copies them when the APs start
 * (smp.c), so those entries must never change after kmap_init. By construction:
 * kmap_init points each of them to a level-3 node (empty where nothing is mapped) before
 * anything copies them, and the table keeps its root entries (keep_root_entries: an
 * unmap empties the node under a root entry instead of clearing the entry). So a new
 * mapping anywhere in the upper half is seen by every space, old ones included.
 *
 * CPUs coming online. The flushes of this table go to the online CPUs; a CPU starting
 * up uses the table before it is online. So no flush of this table is dispatched while
 * a CPU comes online: the start-up code closes the bring-up gate before the AP runs its
 * first instruction and opens it once the AP is online (tlb_cpu_bringup_begin/end in
 * kernel/mm/tlb.h); an edit made meanwhile waits in its flush, with interrupts as its
 * caller left them (enabled, vm_space.h), serving cross-CPU calls. Code that runs on a
 * CPU before it is online must not edit this table.
 */
extern struct vm_space kernel_space;

/* Upper-half root entries: PML4 indices [KMAP_ROOT_FIRST, KMAP_ROOT_END), 512 GiB each. */
#define KMAP_ROOT_FIRST 256u
#define KMAP_ROOT_END 512u
#define KMAP_ROOT_SLOT_SHIFT 39
/* First (canonical) address under root entry i. */
uint64_t kmap_root_slot_va(unsigned i);
/* True if root entry i of the kernel table points to a level-3 node. */
bool kmap_root_entry_is_table(unsigned i);

/* Builds the kernel table with the engine and switches this CPU to it (after frames). */
void kmap_init(void);
/* Makes the direct map of [pa, pa + len) uncacheable (MMIO), on every CPU. May wait. */
void kmap_set_uncached(paddr_t pa, uint64_t len);
/* The kernel table's root, through the direct map (its entries 256-511 are copied into
 * every host space and never change after kmap_init). */
uint64_t *kmap_root(void);

#endif
