/*
 * Basic types shared by the kernel and the host unit tests.
 * Physical, virtual and guest-physical addresses are distinct one-member structs so
 * that passing one for another does not compile. Never include arch headers here.
 */
#ifndef KEEL_TYPES_H
#define KEEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint64_t v;
} paddr_t; /* host-physical address */
typedef struct {
	uint64_t v;
} vaddr_t; /* host-virtual address (or, for a page table, its input address) */
typedef struct {
	uint64_t v;
} gpa_t; /* guest-physical address */

#define PA(x) ((paddr_t){ .v = (uint64_t)(x) })
#define VA(x) ((vaddr_t){ .v = (uint64_t)(x) })
#define GPA(x) ((gpa_t){ .v = (uint64_t)(x) })

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ull << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SIZE - 1)
#define SIZE_2M (1ull << 21)
#define SIZE_1G (1ull << 30)

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

#endif
