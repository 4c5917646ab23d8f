/* Static ELF64 executables (elf.h). Pure: reads only the bytes it is given. */
#include <keel/errno.h>
#include <keel/string.h>

#include "elf.h"

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define PT_LOAD 1
#define ET_EXEC 2
#define EM_X86_64 62
#define PF_X 1
#define PF_W 2
#define PF_R 4

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i); /* ELFDATA2LSB */
	return v;
}

/* e_ident and the fixed header fields. */
static const char *uelf_check_header(const uint8_t *b, uint64_t size)
{
	if (size < EHDR_SIZE || memcmp(b,
				       "\x7f"
				       "ELF",
				       4))
		return "not an ELF file";
	if (b[4] != 2 || b[5] != 1 || b[6] != 1)
		return "not ELF64 little-endian version 1";
	if (rd(b + 16, 2) != ET_EXEC)
		return "not a static executable (e_type is not ET_EXEC)";
	if (rd(b + 18, 2) != EM_X86_64)
		return "not x86-64 code";
	if (rd(b + 54, 2) != PHDR_SIZE)
		return "unexpected program header size";
	return NULL;
}

static uint64_t page_down(uint64_t v)
{
	return v & ~(uint64_t)(PAGE_SIZE - 1);
}

/* One PT_LOAD header into *s, checked against the file and the window. */
static const char *uelf_segment(const uint8_t *ph, uint64_t size, uint64_t lo, uint64_t hi,
				struct uelf_segment *s)
{
	uint64_t flags = rd(ph + 4, 4);

	s->offset = rd(ph + 8, 8);
	s->vaddr = rd(ph + 16, 8);
	s->filesz = rd(ph + 32, 8);
	s->memsz = rd(ph + 40, 8);
	s->read = flags & PF_R;
	s->write = flags & PF_W;
	s->exec = flags & PF_X;
	if (s->filesz > s->memsz || s->memsz == 0)
		return "a segment's file size exceeds its memory size (or it is empty)";
	if (s->offset > size || s->filesz > size - s->offset)
		return "a segment lies beyond the end of the file";
	if (s->vaddr < lo || s->vaddr >= hi || s->memsz > hi - s->vaddr)
		return "a segment lies outside the user image window";
	return NULL;
}

/* Segments overlap after rounding to pages (each page has one set of rights). */
static bool uelf_overlap(const struct uelf *e)
{
	for (unsigned i = 0; i < e->count; i++)
		for (unsigned j = i + 1; j < e->count; j++) {
			const struct uelf_segment *a = &e->seg[i], *b = &e->seg[j];
			uint64_t a_end = a->vaddr + a->memsz, b_end = b->vaddr + b->memsz;

			if (page_down(a->vaddr) < b_end && page_down(b->vaddr) < a_end)
				return true;
		}
	return false;
}

static bool uelf_entry_ok(const struct uelf *e)
{
	for (unsigned i = 0; i < e->count; i++)
		if (e->seg[i].exec && e->entry >= e->seg[i].vaddr &&
		    e->entry < e->seg[i].vaddr + e->seg[i].memsz)
			return true;
	return false;
}

int uelf_parse(const void *image, uint64_t size, uint64_t lo, uint64_t hi, struct uelf *out,
	       const char **why)
{
	const uint8_t *b = image;
	uint64_t phoff, phnum;

	*why = uelf_check_header(b, size);
	if (*why)
		return -EINVAL;
	*out = (struct uelf){ .entry = rd(b + 24, 8) };
	phoff = rd(b + 32, 8);
	phnum = rd(b + 56, 2);
	if (phoff > size || phnum > (size - phoff) / PHDR_SIZE) {
		*why = "program headers lie beyond the end of the file";
		return -EINVAL;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + i * PHDR_SIZE;

		if (rd(ph, 4) != PT_LOAD)
			continue;
		if (out->count == UELF_SEGMENTS_MAX) {
			*why = "too many PT_LOAD segments";
			return -EINVAL;
		}
		*why = uelf_segment(ph, size, lo, hi, &out->seg[out->count++]);
		if (*why)
			return -EINVAL;
	}
	*why = !out->count	     ? "no PT_LOAD segment"
	       : uelf_overlap(out)   ? "PT_LOAD segments overlap"
	       : !uelf_entry_ok(out) ? "the entry point is not in an executable segment"
				     : NULL;
	return *why ? -EINVAL : 0;
}
