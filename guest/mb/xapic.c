/*
 * xapic: the apic kernel (apic.c) driving the xAPIC page at 0xFEE00000 even where CPUID
 * offers x2APIC, so that under Keel every register access goes through MMIO emulation
 * (the EPT-violation path and its instruction decoder) into the emulated LAPIC.
 */
#define APIC_FORCE_XAPIC 1
#include "apic.c"
