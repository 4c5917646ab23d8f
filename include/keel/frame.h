/*
 * Physical frames and their metadata: the contract between the frame allocator
 * (kernel/frame.c in the kernel, tests/host/frame_fake.c in host tests) and its users,
 * above all the page-table engine in kernel/mm.
 *
 * Every usable physical 4 KiB frame has one struct frame. A frame is either free
 * (owned by the allocator, on a buddy free list) or allocated with a type saying
 * what it holds. Allocated frames start with refcount 1 and pin_count 0.
 */
#ifndef KEEL_FRAME_H
#define KEEL_FRAME_H

#include <keel/check.h>
#include <keel/compiler.h>
#include <keel/list.h>
#include <keel/spinlock.h>
#include <keel/types.h>

enum frame_type {
	FRAME_FREE = 0,	 /* owned by the allocator */
	FRAME_RESERVED,	 /* never handed out: firmware, kernel image, modules, boot data */
	FRAME_KERNEL,	 /* kernel heap, stacks, other kernel-private data */
	FRAME_PT_NODE,	 /* a page-table node (x86-64 paging or EPT) */
	FRAME_USER,	 /* host user-space data */
	FRAME_GUEST_RAM, /* guest-physical RAM backing */
	FRAME_TYPE_COUNT
};

/*
 * Lock legend: [a] atomic accesses only  [o] owner of the allocation
 * [z] allocator lock (free frames only)  [n] the node lock itself
 */
struct frame {
	uint32_t refcount;     /* [a] references; the frame is freed when it drops to 0 */
	uint32_t pin_count;    /* [a] pins held by hypercalls/syscalls using the frame */
	uint8_t type;	       /* [o] enum frame_type */
	uint8_t order;	       /* [z]/[o] buddy order of the block this frame heads */
	uint16_t flags;	       /* [o] type-specific bits */
	spinlock_t lock;       /* [n] page-table node lock (FRAME_PT_NODE) */
	struct list_node link; /* [z] free list; [o] free for the owner's use otherwise */
	uint64_t priv;	       /* [o] owner's use (e.g. a PT node's level) */
};

#define FRAME_ORDER_MAX 18 /* largest block: 2^18 frames = 1 GiB */
/* struct frame.order of an allocated frame that is not the head of its block. */
#define FRAME_ORDER_TAIL 0xffu

/*
 * Allocates 2^order physically contiguous, naturally aligned frames of the given
 * type, zeroed. Returns the head frame or NULL when memory is exhausted.
 * May be called with interrupts disabled; never sleeps.
 */
struct frame *frame_alloc(unsigned order, enum frame_type type) __must_check;
/*
 * frame_alloc without zeroing: the bytes are whatever the block held last. For callers
 * that write every byte before anyone reads one (a page-table node filled before it
 * is published).
 */
struct frame *frame_alloc_raw(unsigned order, enum frame_type type) __must_check;
/* Returns a block from frame_alloc to the allocator (refcount must be 0 or 1). */
void frame_free(struct frame *f, unsigned order);

/* Metadata <-> physical address. pa must be a frame the allocator manages. */
struct frame *frame_of(paddr_t pa);
/*
 * The metadata of pa if the allocator has any (a frame in any state, reserved
 * included), else NULL: device memory, or RAM outside the managed span.
 */
struct frame *frame_lookup(paddr_t pa);
paddr_t frame_pa(const struct frame *f);
/* Kernel pointer to a frame's bytes through the direct map. */
static inline void *frame_kva(const struct frame *f)
{
	return arch_pa_to_kva(frame_pa(f));
}

/*
 * The head of the allocated block containing f (f itself for a head or an order-0
 * block): the frame that carries the block's refcount, pins and order. Each candidate
 * head is a naturally aligned frame, so the search climbs one order at a time past
 * tails. f must be allocated.
 */
static inline struct frame *frame_head(struct frame *f)
{
	paddr_t pa = frame_pa(f);

	for (unsigned o = 1; f->order == FRAME_ORDER_TAIL; o++) {
		CHECK(o <= FRAME_ORDER_MAX);
		f = frame_of(PA(ALIGN_DOWN(pa.v, PAGE_SIZE << o)));
	}
	return f;
}

static inline void frame_get(struct frame *f)
{
	__atomic_fetch_add(&f->refcount, 1, __ATOMIC_RELAXED);
}
/* Drops a reference; returns true if it was the last one (caller then frees). */
static inline bool frame_put(struct frame *f)
{
	return __atomic_sub_fetch(&f->refcount, 1, __ATOMIC_ACQ_REL) == 0;
}

/* Allocator statistics, for tests: frames free now and frames managed in all. */
uint64_t frame_free_count(void);
uint64_t frame_total_count(void);

/* Kernel only (start-up, tests and diagnostics). */
struct boot_info;
/*
 * Builds the frame metadata and free lists from the boot memory map: only usable
 * memory at or above 1 MiB and below bi->direct_map_end, minus the kernel image, the
 * modules and every non-usable map entry (reserved wins over usable where they
 * overlap). Call once, on the boot CPU, before any frame_alloc.
 */
void frame_init(const struct boot_info *bi);
/* Free blocks of exactly this order now (for tests that check coalescing). */
uint64_t frame_order_free_count(unsigned order);
/* Prints the free block count of every order and the totals. */
void frame_dump_stats(void);

#endif
