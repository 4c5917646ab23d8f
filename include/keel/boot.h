/*
 * What the boot loader told us, copied out of the Multiboot structures early in
 * start-up (arch/x86_64/multiboot.c) so nothing else reads loader memory.
 */
#ifndef KEEL_BOOT_H
#define KEEL_BOOT_H

#include <keel/types.h>

#define BOOT_MAX_MEM 64
#define BOOT_MAX_MODS 96
#define BOOT_CMDLINE_MAX 4096

enum boot_mem_type { BOOT_MEM_USABLE = 1, BOOT_MEM_RESERVED = 2, BOOT_MEM_ACPI = 3 };

struct boot_mem_region {
	uint64_t base, len;
	uint32_t type; /* enum boot_mem_type (Multiboot types; anything else: reserved) */
};

struct boot_module {
	paddr_t start, end; /* [start, end) physical */
	char name[64];	    /* the module's string (GRUB: after the path; QEMU: the path) */
};

struct boot_info {
	char cmdline[BOOT_CMDLINE_MAX];
	struct boot_mem_region mem[BOOT_MAX_MEM];
	unsigned mem_count;
	struct boot_module mods[BOOT_MAX_MODS];
	unsigned mod_count;
	paddr_t kernel_start, kernel_end; /* image including .bss, page aligned */
	uint64_t direct_map_end;	  /* physical memory below this is in the direct map */
};

extern struct boot_info boot_info;

#endif
