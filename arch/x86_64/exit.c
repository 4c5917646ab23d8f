/*
 * Ending a run. QEMU: isa-debug-exit at 0xf4 exits with (value << 1) | 1, so pass = 33,
 * fail = 35. Bochs (no device at 0xf4): pass = magic breakpoint `xchg bx,bx`, which
 * the runner's debugger script answers with quit (rc 0); fail = "Shutdown" on port
 * 0x8900 (rc 1). On real hardware or KVM without those devices: halt forever.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/console.h>
#include <keel/kernel.h>
#include <keel/printk.h>

#define QEMU_EXIT_PORT 0xF4
#define QEMU_EXIT_PASS 0x10
#define QEMU_EXIT_FAIL 0x11
#define BOCHS_SHUTDOWN_PORT 0x8900

void arch_halt(void)
{
	hlt();
}

void arch_exit(bool pass)
{
	console_flush();
	outl(QEMU_EXIT_PORT, pass ? QEMU_EXIT_PASS : QEMU_EXIT_FAIL);
	if (pass) {
		__asm__ __volatile__("xchg %bx, %bx");
	} else {
		for (const char *s = "Shutdown"; *s; s++)
			outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*s);
	}
	cli();
	for (;;)
		hlt();
}

void arch_dump_here(void)
{
	struct trap_frame tf = { 0 };
	__asm__ __volatile__("mov %%rsp, %0; mov %%rbp, %1; lea (%%rip), %2"
			     : "=r"(tf.rsp), "=r"(tf.rbp), "=r"(tf.rip));
	tf.rflags = read_rflags();
	tf.vector = ~0ull;
	printk(KERN_EMERG "RIP %016llx RSP %016llx RBP %016llx CR3 %016llx\n",
	       (unsigned long long)tf.rip, (unsigned long long)tf.rsp, (unsigned long long)tf.rbp,
	       (unsigned long long)read_cr3());
	backtrace_print(tf.rip, tf.rbp);
}
