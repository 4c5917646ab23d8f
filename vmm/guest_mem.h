/*
 * Guest memory: the EPT vm_space that holds a guest's RAM [0, mem), demand-paged, and
 * every write Keel makes into it (its GDT and page tables, the image) by guest-physical
 * address. All addresses here are gpa_t; only vm_space's _gpa entry points see them.
 */
#ifndef VMM_GUEST_MEM_H
#define VMM_GUEST_MEM_H

#include "guest.h"
#include "image.h"

/* Creates g's EPT space with RAM [0, g->mem) demand-paged. Returns 0, -ENOMEM, -EINVAL. */
int guest_mem_init(struct guest *g) __must_check;
/* Frees the space and every frame it holds. No vCPU may run, no pin may be held. */
void guest_mem_fini(struct guest *g);
/* Copies len bytes to gpa through a pin (pages fault in); src NULL writes zeros.
 * Returns 0 or the pin's error (-EFAULT outside RAM, -ENOMEM). */
int guest_mem_write(struct guest *g, gpa_t gpa, const void *src, uint64_t len) __must_check;
/* Copies len bytes from gpa into dst through a pin (pages fault in). Returns 0 or the
 * pin's error (-EFAULT outside RAM or on MMIO, -ENOMEM). */
int guest_mem_read(struct guest *g, gpa_t gpa, void *dst, uint64_t len) __must_check;
/* Writes Keel's GDT and, in long mode, the identity page tables (layout.h). */
int guest_mem_build_tables(struct guest *g) __must_check;
/* Loads a parsed image's segments from data (file bytes, then zeros to mem_size). */
int guest_mem_load_image(struct guest *g, const struct guest_image *img,
			 const uint8_t *data) __must_check;
/* Faults every page of RAM in now (populate=eager). */
int guest_mem_populate(struct guest *g) __must_check;
/*
 * Gives [gpa, gpa + len) back: unmapped, frames freed after every CPU running the guest
 * flushed; a later touch maps fresh zeroed pages. Both page-aligned, inside RAM.
 * Returns 0, -EINVAL, -ENOMEM, or -EBUSY when a page is pinned (nothing changed).
 */
int guest_mem_release(struct guest *g, gpa_t gpa, uint64_t len) __must_check;

#endif
