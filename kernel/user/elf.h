/*
 * Static ELF64 executables for user processes: the header and PT_LOAD program headers
 * checked and described, nothing loaded (uvm.c maps the segments). Pure, host-tested
 * (tests/host/test_user_elf.c). ELF layout: the System V ABI, gABI chapter 4-5, and its
 * x86-64 supplement.
 */
#ifndef KERNEL_USER_ELF_H
#define KERNEL_USER_ELF_H

#include <keel/compiler.h>
#include <keel/types.h>

#define UELF_SEGMENTS_MAX 8

struct uelf_segment {
	uint64_t vaddr, memsz;	 /* where and how much (memsz >= filesz) */
	uint64_t offset, filesz; /* bytes from the file */
	bool read, write, exec;	 /* p_flags */
};

struct uelf {
	uint64_t entry;
	unsigned count;
	struct uelf_segment seg[UELF_SEGMENTS_MAX];
};

/*
 * Checks image[0, size) as a static x86-64 ELF64 executable whose PT_LOAD segments lie
 * in [lo, hi), do not overlap (page-rounded) and whose entry is in an executable one.
 * Returns 0 and fills *out, or -EINVAL with *why.
 */
int uelf_parse(const void *image, uint64_t size, uint64_t lo, uint64_t hi, struct uelf *out,
	       const char **why) __must_check;

#endif
