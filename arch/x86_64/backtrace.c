/*
 * Frame-pointer backtraces with symbol names. The kernel is built with frame pointers;
 * the symbol table (.ksyms) is generated from the first link by scripts/gen-ksyms.sh
 * and linked into the final image (text addresses do not move between the links).
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/printk.h>

struct ksym {
	uint64_t addr;
	const char *name;
};

extern const uint64_t ksyms_count;
extern const struct ksym ksyms_table[];
extern const char __text_start[], __text_end[];

const char *ksym_lookup(uint64_t addr, uint64_t *offset)
{
	if (addr < (uint64_t)__text_start || addr >= (uint64_t)__text_end || !ksyms_count)
		return NULL;
	uint64_t lo = 0, hi = ksyms_count; /* find the last symbol with addr <= addr */
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;
		if (ksyms_table[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (ksyms_table[lo].addr > addr)
		return NULL;
	*offset = addr - ksyms_table[lo].addr;
	return ksyms_table[lo].name;
}

/* A frame pointer we may dereference: aligned, in kernel memory. */
static bool frame_ptr_ok(uint64_t rbp)
{
	return rbp && !(rbp & 7) && rbp >= DIRECT_MAP_BASE && rbp < ~0ull - 16;
}

void backtrace_print(uint64_t rip, uint64_t rbp)
{
	printk(KERN_EMERG "backtrace:\n");
	for (int depth = 0; depth < 32; depth++) {
		uint64_t off = 0;
		const char *name = ksym_lookup(rip, &off);
		printk(KERN_EMERG "  #%d %016llx %s+0x%llx\n", depth, (unsigned long long)rip,
		       name ? name : "?", (unsigned long long)off);
		if (!frame_ptr_ok(rbp))
			break;
		const uint64_t *frame = (const uint64_t *)rbp;
		uint64_t next = frame[0];
		rip = frame[1];
		if (!rip || next <= rbp)
			break;
		rbp = next;
	}
}
