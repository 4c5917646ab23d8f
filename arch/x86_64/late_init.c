/* x86-64 start-up that needs the heap: ACPI, APIC, timers, the other CPUs. */
#include <keel/kernel.h>

void arch_late_init(void)
{
}
