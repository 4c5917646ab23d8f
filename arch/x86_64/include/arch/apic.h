/*
 * Local APIC (xAPIC through MMIO, or x2APIC through MSRs, one mode for all CPUs) and
 * the legacy 8259 PICs, which are remapped to 0x20-0x2F and fully masked.
 * Register layout: SDM Vol 3A chapter 11 "Advanced Programmable Interrupt Controller
 * (APIC)" (chapter 10 in editions before 2023; sections named below).
 */
#ifndef ARCH_APIC_H
#define ARCH_APIC_H

#include <keel/cpumask.h>
#include <keel/types.h>

/*
 * Boot CPU: masks the 8259 PICs, picks the APIC mode (x2APIC when CPUID has it,
 * unless the command line says apic=xapic), enables the local APIC (spurious vector,
 * LVTs masked, LINT1 = NMI), maps the xAPIC page uncached, records cpus[0].apic_id,
 * installs the spurious/IPI-test handlers. Call before interrupts are first enabled
 * and before time_init starts the tick. Needs acpi_init first (for the address).
 */
void apic_init_bsp(void);
/* Same for an application processor, in the mode the boot CPU chose. */
void apic_init_ap(void);

bool apic_is_x2apic(void);
const char *apic_mode_name(void); /* "x2APIC" or "xAPIC" */
/* APIC ID of the running CPU (32-bit in x2APIC mode, 8-bit in xAPIC mode). */
uint32_t apic_id_self(void);
/* Largest APIC ID that IPIs can address in the mode in use. */
uint32_t apic_id_max(void);
void apic_eoi(void);

/* IPIs (SDM Vol 3A 11.6 "Issuing Interprocessor Interrupts"). Fixed, edge,
 * physical destination; any context. */
void apic_send_ipi(uint32_t apic_id, uint8_t vector);
void apic_send_ipi_mask(cpumask_t cpus, uint8_t vector); /* by dense CPU index */
void apic_send_ipi_all_but_self(uint8_t vector);
void apic_send_ipi_self(uint8_t vector);
void apic_send_nmi(uint32_t apic_id);
void apic_send_nmi_all_but_self(void);
/* MP start-up (SDM Vol 3A 9.4.4 "MP Initialization Example"). */
void apic_send_init(uint32_t apic_id);
void apic_send_sipi(uint32_t apic_id, uint8_t page);

/*
 * Local APIC timer. apic_timer_calibrate measures its input frequency (after the
 * divider) against the calibrated TSC; apic_timer_periodic starts a periodic
 * interrupt on vector at hz on the running CPU. apic_timer_current is the raw
 * current-count register (tests).
 */
uint64_t apic_timer_calibrate(void);
uint64_t apic_timer_hz(void);
void apic_timer_periodic(uint8_t vector, unsigned hz);
void apic_timer_stop(void);
uint32_t apic_timer_current(void);

#endif
