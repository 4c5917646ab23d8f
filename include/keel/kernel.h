/* Kernel-wide entry points implemented by the arch and used by generic start-up code. */
#ifndef KEEL_KERNEL_H
#define KEEL_KERNEL_H

#include <keel/compiler.h>

/* Ends the run: flushes the console and tells the emulator pass or fail
 * (QEMU isa-debug-exit, Bochs magic breakpoint / shutdown port); halts otherwise. */
__noreturn void arch_exit(bool pass);
/* Halts this CPU until the next interrupt. */
void arch_halt(void);
/* Prints the current registers and a backtrace of the caller. */
void arch_dump_here(void);
/* Architecture start-up on the boot CPU before the frame allocator (descriptor tables,
 * exception handling, boot info). */
void arch_early_init(uint64_t mb_magic, uint64_t mb_info_pa);
/* Architecture start-up that needs the heap: ACPI, APIC, timers, other CPUs. */
void arch_late_init(void);
/* Crashes on purpose when the command line says crash=KIND (tests the fatal path). */
void crash_selftest(void);

/* VMX start-up (VMXON everywhere, capability preflight) and running the guest= guests;
 * vmm/ provides them, kernel/main.c has empty weak defaults. */
void vmm_init(void);
/* Runs the guests the command line describes; false if any did not do what its
 * description expects (or could not start). True when there are none. */
bool vmm_run_guests(void);

#endif
