/*
 * Guest images: deciding what a boot module holds (a flat binary, or a static ELF32/ELF64
 * executable for x86) and where its bytes go in guest RAM, before anything is copied.
 * Pure: no allocation, no guest state, no printk, so host tests can feed it any bytes.
 */
#ifndef KEEL_VMM_IMAGE_H
#define KEEL_VMM_IMAGE_H

#include <keel/compiler.h>
#include <keel/types.h>

enum guest_image_kind {
	GUEST_IMAGE_FLAT,
	GUEST_IMAGE_ELF32,
	GUEST_IMAGE_ELF64,
	GUEST_IMAGE_MB_AOUT, /* loaded by a Multiboot header's address fields */
};

/* Segment rights: the ELF p_flags bits (a flat image is all three). */
#define GUEST_IMAGE_X 1u
#define GUEST_IMAGE_W 2u
#define GUEST_IMAGE_R 4u

/*
 * One piece of guest RAM to fill: [gpa, gpa + mem_size) gets the image bytes
 * [file_off, file_off + file_size), then zeros up to mem_size (file_size <= mem_size).
 */
struct guest_image_seg {
	gpa_t gpa;
	uint64_t file_off;
	uint64_t file_size;
	uint64_t mem_size;
	uint32_t flags; /* GUEST_IMAGE_X/W/R */
};

#define GUEST_IMAGE_SEG_MAX 8

struct guest_image {
	enum guest_image_kind kind;
	uint64_t entry; /* guest-physical; inside an X segment */
	bool multiboot; /* parsed by guest_image_parse_multiboot */
	unsigned seg_count;
	struct guest_image_seg seg[GUEST_IMAGE_SEG_MAX]; /* in program header order */
};

/* Where an image may go in a guest whose RAM is [0, mem). */
struct guest_image_layout {
	uint64_t flat_gpa; /* a flat image is loaded and entered here */
	uint64_t load_min; /* nothing is loaded below (Keel's page tables and GDT live there) */
	uint64_t mem;
	uint64_t hole_lo, hole_hi; /* nothing is loaded in [hole_lo, hole_hi) either */
};

/*
 * Parses the size bytes at data. An image whose first 4 bytes are not "\x7fELF" (or that
 * is shorter than 4 bytes) is flat: one RWX segment of size bytes at lay->flat_gpa,
 * entered at its first byte. Otherwise it must be a valid little-endian ELF32 (EM_386) or
 * ELF64 (EM_X86_64) ET_EXEC whose PT_LOAD segments (p_memsz > 0; at most
 * GUEST_IMAGE_SEG_MAX) are loaded at p_paddr inside [lay->load_min, lay->mem), do not
 * overlap, and whose e_entry is a guest-physical address inside an executable one.
 * Fills *out and returns 0, or returns:
 *   -EINVAL   empty image, or a layout with load_min > mem
 *   -ENOEXEC  malformed ELF (truncated, bad header fields, tables or segments outside the
 *             file, p_filesz > p_memsz, overlapping segments, bad entry, no PT_LOAD)
 *   -ENOTSUP  valid ELF Keel does not run: big-endian, other machine, not ET_EXEC,
 *             PT_INTERP/PT_DYNAMIC, more than GUEST_IMAGE_SEG_MAX PT_LOAD segments
 *   -ERANGE   an image or a segment outside [load_min, mem)
 * and writes a one-line English reason naming the field into why (why_len bytes, may be
 * 0). *out is unspecified on error.
 */
int __must_check guest_image_parse(const void *data, uint64_t size,
				   const struct guest_image_layout *lay, struct guest_image *out,
				   char *why, size_t why_len);

struct mb_header;

/*
 * Parses a Multiboot v1 kernel whose header h (mb_header_find) was found in it, as QEMU
 * -kernel does: with MB_HF_AOUT_KLUDGE in the header's flags, one RWX segment from the
 * address fields (3.1.3: the file from header offset - (header_addr - load_addr), up to
 * load_end_addr or the end of the file, zeros up to bss_end_addr; entered at
 * entry_addr), whatever the file's format; otherwise the file must be an ELF32 and is
 * parsed as guest_image_parse does (an ELF64 is refused, as QEMU refuses it). Same
 * placement rules and errors as guest_image_parse; out->multiboot is set.
 */
int __must_check guest_image_parse_multiboot(const void *data, uint64_t size,
					     const struct mb_header *h,
					     const struct guest_image_layout *lay,
					     struct guest_image *out, char *why, size_t why_len);

/* "flat", "ELF32", "ELF64", "Multiboot a.out-kludge" ("?" for anything else). */
const char *guest_image_kind_str(enum guest_image_kind kind);

#endif
