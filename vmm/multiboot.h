/*
 * The Multiboot v1 handoff (Multiboot Specification 0.6.96, sections 3.1-3.3), as
 * QEMU's `-kernel` gives it: the header a kernel carries in its first 8 KiB, and the
 * boot information Keel writes into the guest (memory sizes, a memory map with the PC
 * holes, the command line with the kernel's name first, modules with their strings).
 * Pure: no allocation, no guest state, no printk; host-tested (tests/host/test_multiboot.c).
 * Where the pieces go in guest RAM: layout.h (the low page) and mb_plan (the rest).
 */
#ifndef VMM_MULTIBOOT_H
#define VMM_MULTIBOOT_H

#include <keel/compiler.h>
#include <keel/types.h>

#define MB_HEADER_MAGIC 0x1BADB002u  /* 3.1.2: in the header */
#define MB_BOOT_MAGIC 0x2BADB002u    /* 3.2: in EAX at entry */
#define MB_HEADER_SEARCH 8192u	     /* 3.1.1: the header lies in the first 8 KiB */
#define MB_HEADER_SIZE 48u	     /* magic .. depth: 12 words */
#define MB_HF_PAGE_ALIGN (1u << 0)   /* 3.1.2: modules page-aligned */
#define MB_HF_MEMINFO (1u << 1)	     /* mem_* fields wanted */
#define MB_HF_VIDEO (1u << 2)	     /* a video mode wanted (not given, as by QEMU) */
#define MB_HF_AOUT_KLUDGE (1u << 16) /* the address fields say where to load */

/* Info flags (3.3) Keel sets: the ones QEMU sets (0x24f). */
#define MB_IF_MEMORY (1u << 0)
#define MB_IF_BOOTDEV (1u << 1)
#define MB_IF_CMDLINE (1u << 2)
#define MB_IF_MODS (1u << 3)
#define MB_IF_MMAP (1u << 6)
#define MB_IF_LOADER_NAME (1u << 9)
#define MB_INFO_FLAGS \
	(MB_IF_MEMORY | MB_IF_BOOTDEV | MB_IF_CMDLINE | MB_IF_MODS | MB_IF_MMAP | MB_IF_LOADER_NAME)
#define MB_BOOT_DEVICE 0x8000FFFFu /* "first BIOS disk, no partition", as QEMU says */
#define MB_INFO_SIZE 88u	   /* 3.3: up to vbe_interface_len (no framebuffer) */
#define MB_MMAP_ENTRY 24u	   /* size field (20) + base, length, type */
#define MB_MMAP_COUNT 7u
#define MB_MOD_ENTRY 16u /* mod_start, mod_end, string, reserved */
#define MB_MOD_MAX 8u
#define MB_LOADER_NAME "keel"

/* A Multiboot header found in an image (3.1.2, 3.1.3). */
struct mb_header {
	uint64_t offset; /* file offset of the magic word */
	uint32_t flags;
	/* valid with MB_HF_AOUT_KLUDGE */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/*
 * Finds the first 4-byte-aligned Multiboot header (magic, flags and checksum summing to
 * 0 mod 2^32) whose 48 bytes lie in the first 8 KiB and inside the size bytes at data.
 * True with *h filled, false if the image has none.
 */
bool mb_header_find(const void *data, uint64_t size, struct mb_header *h);

/* What the handoff carries, from the guest's description and its image. */
struct mb_boot {
	uint64_t mem;		     /* bytes of guest RAM [0, mem) */
	uint64_t image_lo, image_hi; /* the kernel: lowest segment start, highest end */
	const char *cmdline;	     /* the whole command line ("kernel.elf args") */
	unsigned mod_count;
	const char *mod_string[MB_MOD_MAX]; /* each module's string ("name args") */
	uint64_t mod_size[MB_MOD_MAX];	    /* its bytes */
};

/*
 * Where the pieces go. The low page (layout.h GUEST_MB_LOW) holds the memory map and
 * the info structure at QEMU's addresses; the area (module list, then the module
 * strings, the command line and the loader's name) follows the kernel image at the
 * next page, as in QEMU, and the modules follow the area, each on its own page.
 */
struct mb_plan {
	uint64_t area_gpa, area_len;
	uint64_t mod_gpa[MB_MOD_MAX];
	uint64_t end; /* first byte after the last module (or the area) */
	uint32_t info_gpa, mmap_gpa;
};

/*
 * Plans b's handoff. Returns 0, -EINVAL (more than MB_MOD_MAX modules, a NULL string,
 * an image not inside RAM) or -ERANGE (the area or the modules do not fit below mem),
 * with a one-line reason in why (why_len bytes, may be 0).
 */
int mb_plan(const struct mb_boot *b, struct mb_plan *p, char *why, size_t why_len) __must_check;

/* Bytes mb_build writes at GUEST_MB_LOW: the memory map, then the info structure. */
#define MB_LOW_SIZE 0x600u

/*
 * Fills low (MB_LOW_SIZE bytes, written at GUEST_MB_LOW) and area (p->area_len bytes,
 * written at p->area_gpa) for a plan mb_plan accepted. Little-endian fields.
 */
void mb_build(const struct mb_boot *b, const struct mb_plan *p, uint8_t *low, uint8_t *area);

#endif
