/*
 * The Multiboot test kernels' own library (guest/mb): what a kernel written for QEMU's
 * `pc` machine uses, and nothing of Keel's: output on COM1 (printf and TAP from
 * guest/lib, whose console hook mb.c points at the UART), the Multiboot v1 info block,
 * and the end through isa-debug-exit (port 0xF4). start.asm calls
 *     int mb_main(uint32_t magic, const struct mb_info *info);
 * and ends the kernel with mb_exit(its return value): 0 = pass.
 */
#ifndef GUEST_MB_H
#define GUEST_MB_H

#include "keel_guest.h"

#define MB_BOOT_MAGIC 0x2BADB002u /* EAX at entry (Multiboot spec 3.2) */

/* Multiboot v1 information structure (spec 3.3); fields valid as flags say. */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;	/* flags bit 0: KiB below 1 MiB, above 1 MiB */
	uint32_t boot_device;		/* bit 1 */
	uint32_t cmdline;		/* bit 2: physical address of a C string */
	uint32_t mods_count, mods_addr; /* bit 3: an array of struct mb_module */
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr; /* bit 6: struct mb_mmap entries */
} __attribute__((packed));

struct mb_module {
	uint32_t start, end, string, reserved;
} __attribute__((packed));

/* One memory-map entry; `size` does not count itself (spec 3.3). */
struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type; /* 1 = available RAM */
} __attribute__((packed));

int mb_main(uint32_t magic, const struct mb_info *info);

/* Prints "# mb-exit V" (the runner's end marker) and writes V to port 0xF4. */
__attribute__((noreturn)) void mb_exit(int failed);

static inline uint32_t mb_read_cr0(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

#endif
