/* The kernel's own page table (arch/x86_64/kmap.c), managed by the cursor engine. */
#ifndef ARCH_KMAP_H
#define ARCH_KMAP_H

#include <keel/types.h>
#include <mm/pt.h>

extern struct pt_table kernel_pt;

/* Builds the kernel table with the engine and switches this CPU to it (after frames). */
void kmap_init(void);
/* Makes the direct map of [pa, pa + len) uncacheable (MMIO). Boot CPU, before the APs. */
void kmap_set_uncached(paddr_t pa, uint64_t len);
/* The kernel table's root, through the direct map (its entries 256-511 are shared). */
uint64_t *kmap_root(void);

#endif
