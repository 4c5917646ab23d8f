/* The kernel's own page table (arch/x86_64/kmap.c), managed by the cursor engine. */
#ifndef ARCH_KMAP_H
#define ARCH_KMAP_H

#include <keel/types.h>
#include <mm/vm_space.h>

/*
 * The kernel table as a space (VM_SPACE_KERNEL): vm_space_map / unmap / protect on it
 * work at any time after kmap_init, from any CPU, and return after every online CPU
 * dropped the old translations (kernel/mm/tlb.h). Leaves must be global. New mappings
 * must lie under existing top-level entries (PML4 256-511 are copied into host spaces
 * once): the direct map's and the kernel image's.
 */
extern struct vm_space kernel_space;

/* Builds the kernel table with the engine and switches this CPU to it (after frames). */
void kmap_init(void);
/* Makes the direct map of [pa, pa + len) uncacheable (MMIO), on every CPU. May wait. */
void kmap_set_uncached(paddr_t pa, uint64_t len);
/* The kernel table's root, through the direct map (its entries 256-511 are shared). */
uint64_t *kmap_root(void);

#endif
