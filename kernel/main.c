/*
 * kmain: start-up order on the boot CPU, then either the kernel tests (test=GLOB) or
 * run mode. Order matters: console first (so every failure can be reported), then
 * exceptions, then memory, then the other CPUs.
 */
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/console.h>
#include <keel/frame.h>
#include <keel/kernel.h>
#include <keel/ktest_run.h>
#include <keel/printk.h>
#include <keel/sched.h>
#include <keel/user.h>

static void print_memory(void)
{
	uint64_t usable = 0;
	for (unsigned i = 0; i < boot_info.mem_count; i++)
		if (boot_info.mem[i].type == BOOT_MEM_USABLE)
			usable += boot_info.mem[i].len;
	printk("mem: %llu MiB usable in %u map entries; kernel image %llx-%llx; %u modules\n",
	       (unsigned long long)(usable >> 20), boot_info.mem_count,
	       (unsigned long long)boot_info.kernel_start.v,
	       (unsigned long long)boot_info.kernel_end.v, boot_info.mod_count);
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		printk("mod %u: '%s' %llx-%llx\n", i, boot_info.mods[i].name,
		       (unsigned long long)boot_info.mods[i].start.v,
		       (unsigned long long)boot_info.mods[i].end.v);
}

/* The VMX side (vmm/) overrides these; a kernel built without it still links. */
__attribute__((weak)) void vmm_init(void)
{
}
__attribute__((weak)) bool vmm_run_guests(void)
{
	return true;
}

void kmain(uint64_t mb_magic, uint64_t mb_info_pa)
{
	console_init();
	arch_early_init(mb_magic, mb_info_pa);
	console_set_e9(cmdline_get_bool("e9", false));
	printk_set_level((int)cmdline_get_int("loglevel", 6));
	printk("Keel booting; cmdline '%s'\n", boot_info.cmdline);
	if (cmdline_parse()) {
		printk(KERN_ERR "KEEL: refusing to start with a bad command line\n");
		printk("KEEL-VERDICT: FAIL (bad command line)\n");
		arch_exit(false);
	}
	print_memory();
	frame_init(&boot_info);
	sched_init(); /* before the APs: each makes its start-up context its idle thread */
	arch_late_init();
	crash_selftest();
	vmm_init();

	char globs[256];
	if (cmdline_get_str("test", globs, sizeof(globs)))
		ktest_run_all(globs);
	bool guests_ok = vmm_run_guests();
	bool users_ok = user_run_programs(); /* after the guests: vCPU loops keep their CPUs */
	printk("Keel is up.\n");
	printk("KEEL-DONE\n");
	arch_exit(guests_ok && users_ok);
}
