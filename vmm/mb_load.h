/*
 * A Multiboot guest's handoff written into its RAM (multiboot.h says what and where):
 * the info structure, memory map, command line, module list and the modules' bytes,
 * taken from Keel's own boot modules by name.
 */
#ifndef VMM_MB_LOAD_H
#define VMM_MB_LOAD_H

#include <keel/boot.h>

#include "guest.h"
#include "image.h"

/* Keel's boot module whose string is name, or NULL. */
const struct boot_module *guest_module_find(const char *name);

/*
 * Writes g's Multiboot handoff for description d and its parsed image img (already
 * loaded): the command line is "IMAGE CMDLINE" (QEMU puts the kernel's file name
 * first), each module= value names a boot module by its first word and is that
 * module's string. Sets g->mb_info. Returns 0, -ENOENT (a module= names no module),
 * -ERANGE (it does not fit in RAM), -ENOMEM or a write's error, with a reason in why.
 */
int guest_mb_load(struct guest *g, const struct guest_desc *d, const struct guest_image *img,
		  char *why, size_t why_len) __must_check;

#endif
