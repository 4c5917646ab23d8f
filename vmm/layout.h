/*
 * The guest-physical layout Keel writes into every guest, and where images, stacks and
 * real-mode code go. guest_mem.c fills it; vmcs.c points the start state at it.
 *
 *   0x1000 PML4, 0x2000 PDPT, 0x3000 PD: long mode only, 2 MiB pages identity-mapping
 *          the first 1 GiB (above RAM too, so a stray access is an EPT violation that
 *          Keel reports, not a guest page fault)
 *   0x4000 GDT: null, 0x08 64-bit code, 0x10 data, 0x18 32-bit code
 *   0x7C00 flat real-mode images (CS:IP 0000:7C00, SP 0x7C00 - vcpu * 1 KiB)
 *   0x100000 flat long/32-bit images, entered at their first byte; ELF segments at
 *          their physical addresses, at or above 0x100000
 *   RSP of vCPU i (long, 32-bit): top of RAM - i * 64 KiB
 * Multiboot guests (multiboot.h) get none of the above but the stacks: their image goes
 * where its header or ELF says (from 0x500; below 1 MiB only under 0x9000), and Keel
 * writes only the page QEMU uses too:
 *   0x9000 memory map, 0x9500 info structure, 0x9600 GDT: null, 0x08 32-bit code,
 *          0x10 data (flat); the module list, strings and modules follow the image
 * Entry registers: rdi = arg=, rsi = vCPU index, rdx = vCPU count.
 */
#ifndef VMM_LAYOUT_H
#define VMM_LAYOUT_H

#define GUEST_PML4 0x1000ull /* long mode: PML4, PDPT 0x2000, PD 0x3000 */
#define GUEST_GDT 0x4000ull  /* null, 0x08 code64, 0x10 data, 0x18 code32 */
#define GUEST_GDT_LIMIT (4 * 8 - 1)
#define GUEST_SEL_CODE64 0x08
#define GUEST_SEL_DATA 0x10
#define GUEST_SEL_CODE32 0x18
#define GUEST_LOAD 0x100000ull	       /* flat long/32-bit images; lowest ELF segment */
#define GUEST_REAL_LOAD 0x7C00ull      /* flat real-mode images, CS:IP = 0000:7C00 */
#define GUEST_REAL_TOP 0xA0000ull      /* real-mode images end below this */
#define GUEST_STACK_SIZE 0x10000ull    /* per vCPU, long and 32-bit: below the top of RAM */
#define GUEST_REAL_STACK_SIZE 0x400ull /* per vCPU, real mode: below 0x7C00 */

#define GUEST_MB_LOAD_MIN 0x500ull /* Multiboot images: above the real-mode IVT/BDA */
#define GUEST_MB_LOW 0x9000ull	   /* memory map (QEMU's ADDR_E820_MAP) */
#define GUEST_MB_INFO 0x9500ull	   /* info structure (QEMU's ADDR_MBI) */
#define GUEST_MB_GDT 0x9600ull	   /* null, 0x08 code32, 0x10 data */
#define GUEST_MB_GDT_LIMIT (3 * 8 - 1)
#define GUEST_MB_SEL_CODE 0x08
#define GUEST_MB_HOLE_END 0x100000ull /* no image byte in [GUEST_MB_LOW, this) */
#define GUEST_LOW_RAM_END 0x9FC00ull  /* RAM below 1 MiB ends (EBDA, VGA, ROMs above) */

#endif
