/* x86-64 start-up that needs the heap: ACPI, APIC, timers, the other CPUs. */
#include "kmap.h"
#include <arch/acpi.h>
#include <arch/apic.h>
#include <arch/x86.h>
#include <keel/kernel.h>
#include <keel/smp.h>
#include <keel/time.h>

/*
 * Order: the kernel's own table first (built by the engine; the APIC maps its registers
 * uncached through it and the APs load it); the MADT (CPUs, APIC address); the APIC before interrupts are ever
 * enabled (it masks the 8259s, which the BIOS left over the exception vectors); the
 * clock before anything waits (it calibrates the APIC timer and starts the tick);
 * then the APs, which need the calibrated INIT/SIPI delays. Interrupts are on after.
 */
void arch_late_init(void)
{
	kmap_init();
	acpi_init();
	apic_init_bsp();
	time_init();
	smp_start_aps();
	sti();
}
