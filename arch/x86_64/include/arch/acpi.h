/*
 * What the x86-64 kernel takes from the ACPI tables: the processors and interrupt
 * controllers listed in the MADT. Filled once by acpi_init on the boot CPU, read-only
 * afterwards. Without usable tables it describes one CPU (the boot CPU) and the
 * architectural default addresses.
 */
#ifndef ARCH_ACPI_H
#define ARCH_ACPI_H

#include <keel/arch.h>
#include <keel/types.h>

#define ACPI_MAX_IOAPICS 8

struct acpi_ioapic {
	uint8_t id;
	paddr_t base;
	uint32_t gsi_base;
};

struct acpi_info {
	bool have_madt;			 /* false: nothing below came from firmware */
	uint8_t revision;		 /* RSDP revision: 0 = ACPI 1.0 (RSDT), 2+ = XSDT */
	paddr_t lapic_base;		 /* MADT local APIC address (after any 64-bit override) */
	bool pcat_compat;		 /* MADT flag: dual 8259 PICs present (must be masked) */
	uint32_t cpu_apic_ids[MAX_CPUS]; /* enabled processors, firmware order */
	unsigned cpu_count;
	unsigned cpus_ignored; /* enabled processors beyond MAX_CPUS */
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	unsigned ioapic_count;
};

extern struct acpi_info acpi_info;

/*
 * Finds the RSDP (EBDA, then the BIOS area 0xE0000-0xFFFFF), the RSDT or XSDT and
 * the MADT, validating every checksum, and fills acpi_info. Prints what it found, or
 * why it fell back to one CPU. Needs the direct map of the low 4 GiB.
 */
void acpi_init(void);

/* Kernel pointer to the table with this signature (checksum valid), or NULL. */
const void *acpi_find_table(const char sig[4]);

#endif
