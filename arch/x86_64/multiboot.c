/*
 * Copies what the Multiboot v1 loader passed (command line, memory map, modules) into
 * boot_info, reading loader memory through the direct map. After this nothing reads
 * the loader's structures, so their memory need not be reserved.
 * Layout: Multiboot Specification 0.6.96, section 3.3.
 */
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/check.h>
#include <keel/printk.h>
#include <keel/string.h>

struct boot_info boot_info;

#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
} __packed;

struct mb_mmap {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
} __packed;

struct mb_mod {
	uint32_t start, end, string, reserved;
} __packed;

static void copy_str(char *dst, size_t size, uint32_t pa)
{
	const char *s = pa ? pa_to_kva(PA(pa)) : "";
	size_t n = strnlen(s, size - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * QEMU and GRUB put the kernel image's path first on the command line ("/boot/keel.elf
 * test=*"). Drop a first word that has no '=' and looks like a path.
 */
static void strip_image_path(char *cmd)
{
	size_t len = 0;
	bool has_eq = false, pathlike = false;
	for (; cmd[len] && cmd[len] != ' '; len++) {
		has_eq |= cmd[len] == '=';
		pathlike |= cmd[len] == '/' || cmd[len] == '.';
	}
	if (!len || has_eq || !pathlike)
		return;
	while (cmd[len] == ' ')
		len++;
	memmove(cmd, cmd + len, strlen(cmd + len) + 1);
}

static void copy_mmap(const struct mb_info *mbi)
{
	uint64_t off = 0;
	while (off + sizeof(struct mb_mmap) <= mbi->mmap_length) {
		const struct mb_mmap *e = pa_to_kva(PA(mbi->mmap_addr + off));
		if (boot_info.mem_count == BOOT_MAX_MEM) {
			printk(KERN_WARN "boot: memory map has over %d entries; rest ignored\n",
			       BOOT_MAX_MEM);
			break;
		}
		boot_info.mem[boot_info.mem_count++] =
		    (struct boot_mem_region){ e->base, e->len, e->type };
		off += e->size + sizeof(e->size);
	}
}

/* Without a memory map, fall back to the lower/upper memory sizes. */
static void synth_mmap(const struct mb_info *mbi)
{
	boot_info.mem[0] =
	    (struct boot_mem_region){ 0, (uint64_t)mbi->mem_lower << 10, BOOT_MEM_USABLE };
	boot_info.mem[1] =
	    (struct boot_mem_region){ MiB(1), (uint64_t)mbi->mem_upper << 10, BOOT_MEM_USABLE };
	boot_info.mem_count = 2;
}

static void copy_mods(const struct mb_info *mbi)
{
	const struct mb_mod *m = pa_to_kva(PA(mbi->mods_addr));
	for (uint32_t i = 0; i < mbi->mods_count; i++) {
		if (boot_info.mod_count == BOOT_MAX_MODS) {
			printk(KERN_WARN "boot: over %d modules; rest ignored\n", BOOT_MAX_MODS);
			break;
		}
		struct boot_module *bm = &boot_info.mods[boot_info.mod_count++];
		bm->start = PA(m[i].start);
		bm->end = PA(m[i].end);
		copy_str(bm->name, sizeof(bm->name), m[i].string);
	}
}

void multiboot_parse(uint64_t info_pa)
{
	extern char __load_start_pa[], __bss_end_pa[];
	const struct mb_info *mbi = pa_to_kva(PA(info_pa));
	boot_info.kernel_start = PA((uint64_t)__load_start_pa);
	boot_info.kernel_end = PA(ALIGN_UP((uint64_t)__bss_end_pa, PAGE_SIZE));
	boot_info.direct_map_end = GiB(4);
	if (mbi->flags & MBI_CMDLINE) {
		copy_str(boot_info.cmdline, sizeof(boot_info.cmdline), mbi->cmdline);
		strip_image_path(boot_info.cmdline);
	}
	if (mbi->flags & MBI_MMAP)
		copy_mmap(mbi);
	else if (mbi->flags & MBI_MEM)
		synth_mmap(mbi);
	if (mbi->flags & MBI_MODS)
		copy_mods(mbi);
}
