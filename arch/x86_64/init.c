/*
 * x86-64 start-up on the boot CPU: boot info, descriptor tables, NX, and dropping the
 * boot identity map so the whole lower half is free for user spaces and guests.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/boot.h>
#include <keel/kernel.h>
#include <keel/printk.h>

extern uint64_t boot_pml4[512];
extern uint8_t boot_stack[];
void multiboot_parse(uint64_t info_pa);

static void enable_nx(void)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	if (d & (1u << 20)) /* NX (SDM Vol 2A CPUID leaf 80000001H EDX bit 20) */
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
}

void arch_early_init(uint64_t mb_magic, uint64_t mb_info_pa)
{
	(void)mb_magic; /* checked by boot.asm */
	idt_init();
	cpus[0].kstack_top = boot_stack + KSTACK_SIZE;
	cpu_init_this(&cpus[0]);
	multiboot_parse(mb_info_pa);
	enable_nx();
	/* The identity map was only for the jump to the higher half. */
	uint64_t *pml4 = pa_to_kva(kva_to_pa(boot_pml4));
	pml4[0] = 0;
	write_cr3(read_cr3());
}
