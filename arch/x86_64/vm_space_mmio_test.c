/*
 * Device memory in a host space: the I/O APIC's registers (no struct frame: outside
 * the frame allocator's span) mapped uncached into a host user space answer through
 * the space's own address; pinning them is refused, and after the unmap the address
 * faults. Before vm_space could map MMIO, the map itself stopped the kernel (frame
 * metadata looked up for an address that has none).
 */
#include <arch/acpi.h>
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/ktest.h>
#include <mm/vm_space.h>

#define MMIO_VA 0x600000ull
#define IOAPIC_REGSEL 0x00 /* index register (I/O APIC datasheet, 3.1) */
#define IOAPIC_WIN 0x10	   /* data window */
#define IOAPIC_VER 0x01	   /* bits 7:0 version, 23:16 highest redirection entry */

/* Reads the I/O APIC version register through va under a catch; 0 or vector + 1. */
static int ioapic_version(uint64_t va, uint32_t *ver)
{
	struct trap_catch c;
	int r = trap_catch(&c);
	if (r == 0) {
		*(volatile uint32_t *)(va + IOAPIC_REGSEL) = IOAPIC_VER;
		*ver = *(volatile uint32_t *)(va + IOAPIC_WIN);
		trap_uncatch();
	}
	return r;
}

KTEST(vm_space_maps_device_memory_uncached)
{
	if (!acpi_info.ioapic_count)
		KT_SKIP("no I/O APIC in the MADT");
	paddr_t pa = acpi_info.ioapics[0].base;
	if (frame_lookup(pa))
		KT_SKIP("the I/O APIC page has frame metadata here");
	struct pt_prop uc = PT_PROP(PT_PROP_R | PT_PROP_W | PT_PROP_USER);
	uc.cache = PT_CACHE_UC;
	struct vm_space s;
	struct vm_pin pin;
	uint32_t ver = 0;
	KT_ASSERT_EQ(vm_space_init(&s, VM_SPACE_HOST_USER, 0), 0);
	int map = vm_space_map(&s, VA(MMIO_VA), PAGE_SIZE, PA(ALIGN_DOWN(pa.v, PAGE_SIZE)), uc);
	int pinned = vm_space_pin(&s, VA(MMIO_VA), 4, VM_ACCESS_READ, &pin);
	vm_space_activate(&s);
	int r1 = ioapic_version(MMIO_VA + (pa.v & PAGE_MASK), &ver);
	int unmap = vm_space_unmap(&s, VA(MMIO_VA), PAGE_SIZE, 0);
	uint32_t dummy;
	int r2 = ioapic_version(MMIO_VA + (pa.v & PAGE_MASK), &dummy);
	vm_space_deactivate(&s);
	vm_space_fini(&s);
	KT_ASSERT_EQ(map, 0);
	KT_ASSERT_EQ(pinned, -EFAULT);
	KT_ASSERT_EQ(r1, 0);
	/* a device answered: a version byte and a plausible redirection-entry count */
	KT_ASSERT((ver & 0xFF) >= 0x11 && (ver & 0xFF) <= 0x20);
	KT_ASSERT(((ver >> 16) & 0xFF) >= 1 && ((ver >> 16) & 0xFF) < 240);
	KT_ASSERT_EQ(unmap, 0);
	KT_ASSERT_EQ(r2, 14 + 1); /* #PF after the unmap */
}
