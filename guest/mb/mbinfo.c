/*
 * mbinfo: the Multiboot information block as QEMU -kernel hands it (spec 3.3): the boot
 * magic, the flags for memory sizes, command line, modules and memory map, 639 KiB of
 * low memory, a memory map whose RAM leaves out the 640 KiB-1 MiB hole and the LAPIC
 * page, a command line starting with the kernel's name, and modules that are page-
 * aligned, in order, after the kernel and each with its string.
 * The command line may ask for more: "mods=N WORD1 WORD2" expects N modules and the
 * two words after mods=N (spaces kept); a module whose string's second word is "elf"
 * must hold an ELF file (e.g. this kernel). Without mods= (the differential run) those
 * checks pass by saying nothing, so the TAP lines are the same on every loader.
 * Under QEMU: -append "mods=2 spaced arg" -initrd "K elf,K elf" (K = this file).
 */
#include "mb.h"

#define MB_FLAGS_WANTED 0x4Du /* memory, cmdline, modules, memory map */

extern char _end[];

static const char *find(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++) {
		size_t i = 0;
		while (i < n && s[i] == word[i])
			i++;
		if (i == n)
			return s;
	}
	return NULL;
}

static bool is_elf(const uint8_t *p)
{
	return p[0] == 0x7F && p[1] == 'E' && p[2] == 'L' && p[3] == 'F';
}

/* True if [base, base + len) of type 1 (RAM) covers addr. */
static bool map_ram_at(const struct mb_info *info, uint64_t addr)
{
	uintptr_t p = info->mmap_addr, end = p + info->mmap_length;
	while (p < end) {
		const struct mb_mmap *e = (const struct mb_mmap *)p;
		if (e->type == 1 && addr >= e->addr && addr - e->addr < e->len)
			return true;
		p += e->size + 4;
	}
	return false;
}

static void check_map(const struct mb_info *info)
{
	const struct mb_mmap *first = (const struct mb_mmap *)(uintptr_t)info->mmap_addr;
	tap_ok(info->mmap_length >= 3 * 24 && first->size == 20, "memory map present");
	tap_ok(first->addr == 0 && first->type == 1 && first->len == 0x9FC00,
	       "first map entry: RAM [0, 0x9fc00)");
	tap_ok(!map_ram_at(info, 0x9FC00) && !map_ram_at(info, 0xA0000) &&
		   !map_ram_at(info, 0xF0000),
	       "no RAM in the 640 KiB-1 MiB hole");
	tap_ok(map_ram_at(info, 0x100000) && map_ram_at(info, 0x100000 + 60 * 0x100000u),
	       "RAM from 1 MiB on");
	tap_ok(!map_ram_at(info, 0xFEE00000u) && !map_ram_at(info, 0xFEC00000u),
	       "LAPIC and I/O APIC pages are not RAM");
}

/* The command line's expectations: "mods=N W1 W2" (n = -1 without mods=). */
static int cmdline_mods(const char *cmd, bool *words_ok)
{
	const char *m = find(cmd, "mods=");
	*words_ok = true;
	if (!m)
		return -1;
	*words_ok = find(m, " spaced arg") == m + 6; /* the spaces reached the kernel */
	return m[5] - '0';
}

static void check_modules(const struct mb_info *info, int want)
{
	const struct mb_module *mod = (const struct mb_module *)(uintptr_t)info->mods_addr;
	bool order = true, strings = true, elf = true;
	uint32_t prev_end = (uint32_t)(uintptr_t)_end;
	for (uint32_t i = 0; i < info->mods_count; i++) {
		const char *s = (const char *)(uintptr_t)mod[i].string;
		const char *sp = find(s, " ");
		order = order && !(mod[i].start & 0xFFF) && mod[i].start >= prev_end &&
			mod[i].end >= mod[i].start;
		strings = strings && s[0] && s[0] != ' ';
		if (sp && find(sp, " elf") == sp)
			elf = elf && mod[i].end - mod[i].start > 4 &&
			      is_elf((const uint8_t *)(uintptr_t)mod[i].start);
		prev_end = mod[i].end;
		printf("# module %u: [0x%x, 0x%x) '%s'\n", (unsigned)i, (unsigned)mod[i].start,
		       (unsigned)mod[i].end, s);
	}
	tap_ok(want < 0 || info->mods_count == (uint32_t)want,
	       "module count as the command line says");
	tap_ok(order, "modules page-aligned, after the kernel, in order");
	tap_ok(strings, "each module has its string");
	tap_ok(elf, "modules marked 'elf' hold an ELF file");
}

int mb_main(uint32_t magic, const struct mb_info *info)
{
	tap_plan(15);
	tap_ok(magic == MB_BOOT_MAGIC, "EAX = 0x2BADB002");
	tap_ok((info->flags & MB_FLAGS_WANTED) == MB_FLAGS_WANTED,
	       "flags: memory, command line, modules, memory map");
	tap_ok(info->mem_lower == 639, "mem_lower = 639 KiB");
	tap_ok(info->mem_upper >= 64 * 1024, "mem_upper: at least 64 MiB above 1 MiB");
	check_map(info);
	const char *cmd = (const char *)(uintptr_t)info->cmdline;
	printf("# cmdline '%s'\n", cmd);
	tap_ok(cmd[0] && cmd[0] != ' ', "command line starts with the kernel's name");
	bool words_ok;
	int want = cmdline_mods(cmd, &words_ok);
	tap_ok(words_ok, "spaces in the command line arrive");
	check_modules(info, want);
	return tap_done();
}
