/*
 * Physical frame allocator: a binary buddy allocator over every usable 4 KiB frame in
 * the direct map, with one struct frame per frame in a flat array indexed by
 * pfn - frame_base_pfn, so frame_of() and frame_pa() are O(1).
 *
 * Owns: digesting the boot memory map into "may ever be handed out", the free lists,
 * and the metadata of free frames. Does not know what allocated frames hold.
 * It touches memory only through arch_pa_to_kva(), never by dereferencing a physical
 * address, so tests/host/frame_host_test.c compiles this file natively (-DKEEL_HOST)
 * over a fake physical arena.
 *
 * States of a struct frame (type / flags / order):
 *   free, heads a block    FRAME_FREE / FRAME_F_BUDDY / block order; on free_list[order]
 *   free, inside a block   FRAME_FREE / 0 / 0
 *   allocated, head        its type / owner's / block order; refcount and pins the owner's
 *   allocated, tail        its type / 0 / FRAME_ORDER_TAIL; refcount 0
 *   reserved               FRAME_RESERVED: holes in the map, firmware, memory below
 *                          1 MiB, the kernel image, modules and this metadata array
 * Coalescing looks at the head of a would-be buddy under frame_lock: its type first
 * (a head's type changes only under frame_lock), and its flags and order only when the
 * type is FRAME_FREE. So an owner may write flags/order/priv of its blocks freely, and
 * an allocated block (whose flags are the owner's) is never mistaken for a free buddy.
 */
#include <keel/arch.h>
#include <keel/boot.h>
#include <keel/check.h>
#include <keel/frame.h>
#include <keel/printk.h>
#include <keel/string.h>

#define FRAME_F_BUDDY 0x8000u /* free frame heading a block on a free list */
#define LOW_MEMORY_END MiB(1) /* BIOS data, AP trampoline: never handed out */

/*
 * [c] const after frame_init  [z] frame_lock (counters: written with WRITE_ONCE under
 * it, read without it by the statistics functions)
 * Lock order: see the top of kernel/mm/pt_walk.c.
 */
static spinlock_t frame_lock = SPINLOCK_INIT;
static struct frame *frames;	   /* [c] metadata, frames[pfn - frame_base_pfn] */
static uint64_t frame_base_pfn;	   /* [c] lowest pfn that has metadata */
static uint64_t frame_span;	   /* [c] number of entries in frames[] */
static uint64_t frame_total;	   /* [c] frames given to the allocator at init */
static uint64_t frame_free_frames; /* [z] frames on the free lists */
static struct list_node free_list[FRAME_ORDER_MAX + 1]; /* [z] free heads by order */
static uint64_t free_blocks[FRAME_ORDER_MAX + 1];	/* [z] length of each free_list */

/* ---- pfn ranges: turning the boot memory map into usable memory ---- */

struct pfn_range {
	uint64_t start, end; /* [start, end) in page frame numbers */
};

/* Usable entries merge into at most BOOT_MAX_MEM ranges; each cut adds at most one. */
#define RANGE_MAX (2 * BOOT_MAX_MEM + BOOT_MAX_MODS + 8)

struct range_set {
	struct pfn_range r[RANGE_MAX]; /* sorted, disjoint, non-empty */
	unsigned count;
};

static struct range_set usable_ranges; /* only used during frame_init */

static uint64_t end_of(uint64_t base, uint64_t len)
{
	return len > UINT64_MAX - base ? UINT64_MAX : base + len;
}

/* Adds [start, end) (pfns) keeping the set sorted and merging overlaps/neighbours. */
static void range_add(struct range_set *s, uint64_t start, uint64_t end)
{
	unsigned i = 0, j;

	if (start >= end)
		return;
	while (i < s->count && s->r[i].end < start)
		i++;
	/* r[i..j) overlap or touch [start, end): merge them into one. */
	for (j = i; j < s->count && s->r[j].start <= end; j++) {
		start = MIN(start, s->r[j].start);
		end = MAX(end, s->r[j].end);
	}
	if (j == i) {
		CHECK(s->count < RANGE_MAX);
		memmove(&s->r[i + 1], &s->r[i], (s->count - i) * sizeof(s->r[0]));
		s->count++;
	} else if (j > i + 1) {
		memmove(&s->r[i + 1], &s->r[j], (s->count - j) * sizeof(s->r[0]));
		s->count -= j - i - 1;
	}
	s->r[i] = (struct pfn_range){ start, end };
}

/* Removes [start, end) (pfns) from the set, splitting a range if needed. */
static void range_cut(struct range_set *s, uint64_t start, uint64_t end)
{
	unsigned i = 0;

	if (start >= end)
		return;
	while (i < s->count) {
		struct pfn_range *r = &s->r[i];

		if (r->end <= start || r->start >= end) {
			i++;
		} else if (r->start >= start && r->end <= end) {
			memmove(r, r + 1, (s->count - i - 1) * sizeof(*r));
			s->count--;
		} else if (r->start < start && r->end > end) {
			CHECK(s->count < RANGE_MAX);
			memmove(r + 1, r, (s->count - i) * sizeof(*r));
			s->count++;
			r->end = start;
			r[1].start = end;
			return;
		} else {
			if (r->start < start)
				r->end = start;
			else
				r->start = end;
			i++;
		}
	}
}

/* Cuts the byte range [base, end), widened to whole pages. */
static void range_cut_bytes(struct range_set *s, uint64_t base, uint64_t end)
{
	uint64_t last_pfn = end > UINT64_MAX - PAGE_MASK ? (UINT64_MAX >> PAGE_SHIFT) + 1
							 : ALIGN_UP(end, PAGE_SIZE) >> PAGE_SHIFT;

	range_cut(s, base >> PAGE_SHIFT, last_pfn);
}

/*
 * Fills s with the frames the allocator may manage. Returns the bytes of usable
 * memory that lie above the direct map (not managed yet).
 */
static uint64_t ranges_from_boot_info(struct range_set *s, const struct boot_info *bi)
{
	uint64_t above = 0, limit = ALIGN_DOWN(bi->direct_map_end, PAGE_SIZE);

	s->count = 0;
	for (unsigned i = 0; i < bi->mem_count && i < BOOT_MAX_MEM; i++) {
		const struct boot_mem_region *m = &bi->mem[i];
		uint64_t lo = m->base, hi = end_of(m->base, m->len);

		if (m->type != BOOT_MEM_USABLE)
			continue;
		if (hi > limit)
			above += hi - MAX(lo, limit);
		lo = MAX(lo, LOW_MEMORY_END);
		hi = MIN(hi, limit);
		if (lo < hi) /* then ALIGN_UP(lo) <= limit: no overflow */
			range_add(s, ALIGN_UP(lo, PAGE_SIZE) >> PAGE_SHIFT, hi >> PAGE_SHIFT);
	}
	/* Reserved wins: usable entries may overlap non-usable ones. */
	for (unsigned i = 0; i < bi->mem_count && i < BOOT_MAX_MEM; i++) {
		const struct boot_mem_region *m = &bi->mem[i];

		if (m->type != BOOT_MEM_USABLE)
			range_cut_bytes(s, m->base, end_of(m->base, m->len));
	}
	range_cut_bytes(s, bi->kernel_start.v, bi->kernel_end.v);
	for (unsigned i = 0; i < bi->mod_count && i < BOOT_MAX_MODS; i++)
		range_cut_bytes(s, bi->mods[i].start.v, bi->mods[i].end.v);
	return above;
}

/* ---- the buddy core (frame_lock held) ---- */

static inline struct frame *frame_at(uint64_t pfn)
{
	return &frames[pfn - frame_base_pfn];
}

static inline bool pfn_has_frame(uint64_t pfn)
{
	return pfn >= frame_base_pfn && pfn - frame_base_pfn < frame_span;
}

static inline uint64_t frame_pfn(const struct frame *f)
{
	return frame_base_pfn + (uint64_t)(f - frames);
}

static void free_list_push(uint64_t pfn, unsigned order)
{
	struct frame *f = frame_at(pfn);

	f->type = FRAME_FREE;
	f->flags = FRAME_F_BUDDY;
	f->order = (uint8_t)order;
	list_push_front(&free_list[order], &f->link);
	WRITE_ONCE(free_blocks[order], free_blocks[order] + 1);
}

static void free_list_remove(struct frame *f, unsigned order)
{
	list_remove(&f->link);
	f->flags = 0;
	f->order = 0;
	WRITE_ONCE(free_blocks[order], free_blocks[order] - 1);
}

/*
 * Puts the free block [pfn, pfn + 2^order) on the free lists, merging it with its
 * buddy as long as the buddy is a free block of the same order. Caller holds frame_lock
 * and has already marked every frame of the block FRAME_FREE.
 */
static void buddy_insert(uint64_t pfn, unsigned order)
{
	WRITE_ONCE(frame_free_frames, frame_free_frames + (1ull << order));
	while (order < FRAME_ORDER_MAX) {
		uint64_t buddy = pfn ^ (1ull << order);
		struct frame *b;

		if (!pfn_has_frame(buddy))
			break;
		b = frame_at(buddy);
		if (b->type != FRAME_FREE || !(b->flags & FRAME_F_BUDDY) || b->order != order)
			break;
		free_list_remove(b, order);
		pfn &= ~(1ull << order);
		order++;
	}
	free_list_push(pfn, order);
}

/*
 * Takes a free block of exactly 2^order frames, splitting a larger one if needed; the
 * upper halves go back on the free lists. Caller holds frame_lock. Returns the head
 * pfn, or UINT64_MAX if no block is large enough.
 */
static uint64_t buddy_take(unsigned order)
{
	unsigned k = order;
	uint64_t pfn;
	struct frame *f;

	while (k <= FRAME_ORDER_MAX && list_is_empty(&free_list[k]))
		k++;
	if (k > FRAME_ORDER_MAX)
		return UINT64_MAX;
	f = list_entry(free_list[k].next, struct frame, link);
	CHECK(f->type == FRAME_FREE && f->order == k);
	pfn = frame_pfn(f);
	free_list_remove(f, k);
	while (k > order) {
		k--;
		free_list_push(pfn + (1ull << k), k);
	}
	WRITE_ONCE(frame_free_frames, frame_free_frames - (1ull << order));
	return pfn;
}

/* ---- the contract (frame.h) ---- */

struct frame *frame_lookup(paddr_t pa)
{
	uint64_t pfn = pa.v >> PAGE_SHIFT;

	return pfn_has_frame(pfn) ? frame_at(pfn) : NULL;
}

struct frame *frame_of(paddr_t pa)
{
	uint64_t pfn = pa.v >> PAGE_SHIFT;

	CHECK(pfn_has_frame(pfn));
	return frame_at(pfn);
}

paddr_t frame_pa(const struct frame *f)
{
	CHECK(f >= frames && (uint64_t)(f - frames) < frame_span);
	return PA(frame_pfn(f) << PAGE_SHIFT);
}

struct frame *frame_alloc_raw(unsigned order, enum frame_type type)
{
	unsigned long irq;
	uint64_t pfn;
	struct frame *f;

	CHECK(order <= FRAME_ORDER_MAX);
	CHECK(type > FRAME_RESERVED && type < FRAME_TYPE_COUNT);
	irq = spin_lock_irqsave(&frame_lock);
	pfn = buddy_take(order);
	if (pfn != UINT64_MAX)
		frame_at(pfn)->type = (uint8_t)type; /* no longer a buddy candidate */
	spin_unlock_irqrestore(&frame_lock, irq);
	if (pfn == UINT64_MAX)
		return NULL;

	/* The block is ours now: its metadata and bytes are set up outside the lock. */
	f = frame_at(pfn);
	for (uint64_t i = 1; i < (1ull << order); i++) {
		struct frame *t = f + i;

		CHECK(t->type == FRAME_FREE && !(t->flags & FRAME_F_BUDDY));
		t->type = (uint8_t)type;
		t->order = FRAME_ORDER_TAIL;
	}
	f->order = (uint8_t)order;
	f->flags = 0;
	f->priv = 0;
	f->refcount = 1;
	f->pin_count = 0;
	spin_init(&f->lock);
	list_init(&f->link);
	return f;
}

struct frame *frame_alloc(unsigned order, enum frame_type type)
{
	struct frame *f = frame_alloc_raw(order, type);

	if (f)
		memset(frame_kva(f), 0, PAGE_SIZE << order);
	return f;
}

/*
 * Returns the block headed by f. CHECKs that it is an allocated head of this order,
 * unpinned, with at most one reference: anything else is a double free, a free of a
 * reserved or tail frame, or a size mismatch.
 */
void frame_free(struct frame *f, unsigned order)
{
	uint64_t pfn = frame_pa(f).v >> PAGE_SHIFT; /* CHECKs that f is metadata */
	unsigned long irq;

	CHECK(order <= FRAME_ORDER_MAX);
	CHECK(f->type != FRAME_FREE && f->type != FRAME_RESERVED && f->type < FRAME_TYPE_COUNT);
	CHECK(f->order == order);
	CHECK(IS_ALIGNED(pfn, 1ull << order));
	CHECK(READ_ONCE(f->pin_count) == 0);
	CHECK(READ_ONCE(f->refcount) <= 1);
	for (uint64_t i = 1; i < (1ull << order); i++) {
		struct frame *t = f + i;

		CHECK(t->order == FRAME_ORDER_TAIL && t->type == f->type);
		t->type = FRAME_FREE;
		t->order = 0;
		t->flags = 0;
	}
	f->order = 0;
	f->refcount = 0;
	f->priv = 0;
	f->flags = 0;
	list_init(&f->link);

	irq = spin_lock_irqsave(&frame_lock);
	f->type = FRAME_FREE; /* under the lock: coalescing reads the type of heads */
	buddy_insert(pfn, order);
	spin_unlock_irqrestore(&frame_lock, irq);
}

uint64_t frame_free_count(void)
{
	return READ_ONCE(frame_free_frames);
}

uint64_t frame_total_count(void)
{
	return frame_total;
}

uint64_t frame_order_free_count(unsigned order)
{
	return order <= FRAME_ORDER_MAX ? READ_ONCE(free_blocks[order]) : 0;
}

void frame_dump_stats(void)
{
	uint64_t counts[FRAME_ORDER_MAX + 1], free;
	unsigned long irq = spin_lock_irqsave(&frame_lock);

	memcpy(counts, free_blocks, sizeof(counts));
	free = frame_free_frames;
	spin_unlock_irqrestore(&frame_lock, irq);

	printk(KERN_INFO "frame: %llu of %llu frames free (%llu KiB); free blocks by order:\n",
	       (unsigned long long)free, (unsigned long long)frame_total,
	       (unsigned long long)(free * (PAGE_SIZE >> 10)));
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++) {
		if (counts[k])
			printk(KERN_INFO "frame:   order %2u: %llu\n", k,
			       (unsigned long long)counts[k]);
	}
}

/* ---- start-up ---- */

/* Finds room for the metadata array inside the usable ranges (highest fit) and takes it. */
static uint64_t take_metadata_pages(struct range_set *s, uint64_t pages)
{
	for (unsigned i = s->count; i-- > 0;) {
		if (s->r[i].end - s->r[i].start >= pages) {
			uint64_t start = s->r[i].end - pages;

			range_cut(s, start, start + pages);
			return start;
		}
	}
	panic("frame: no contiguous room for %llu pages of frame metadata",
	      (unsigned long long)pages);
}

/* Gives [start, end) to the buddy lists as the largest naturally aligned blocks. */
static void free_range(uint64_t start, uint64_t end)
{
	while (start < end) {
		unsigned order = 0;

		while (order < FRAME_ORDER_MAX && IS_ALIGNED(start, 2ull << order) &&
		       start + (2ull << order) <= end)
			order++;
		for (uint64_t i = 0; i < (1ull << order); i++)
			frame_at(start + i)->type = FRAME_FREE;
		buddy_insert(start, order);
		start += 1ull << order;
	}
}

void frame_init(const struct boot_info *bi)
{
	struct range_set *s = &usable_ranges;
	uint64_t above, meta_pfn, meta_pages;
	unsigned long irq;

	above = ranges_from_boot_info(s, bi);
	if (s->count == 0)
		panic("frame: the memory map has no usable memory in the direct map");
	frame_base_pfn = s->r[0].start;
	frame_span = s->r[s->count - 1].end - frame_base_pfn;
	meta_pages = ALIGN_UP(frame_span * sizeof(struct frame), PAGE_SIZE) >> PAGE_SHIFT;
	meta_pfn = take_metadata_pages(s, meta_pages);
	frames = arch_pa_to_kva(PA(meta_pfn << PAGE_SHIFT));

	for (uint64_t i = 0; i < frame_span; i++) {
		frames[i] = (struct frame){ .type = FRAME_RESERVED };
		spin_init(&frames[i].lock);
		list_init(&frames[i].link);
	}
	spin_init(&frame_lock);
	irq = spin_lock_irqsave(&frame_lock);
	frame_free_frames = 0;
	for (unsigned k = 0; k <= FRAME_ORDER_MAX; k++) {
		list_init(&free_list[k]);
		free_blocks[k] = 0;
	}
	for (unsigned i = 0; i < s->count; i++)
		free_range(s->r[i].start, s->r[i].end);
	frame_total = frame_free_frames;
	spin_unlock_irqrestore(&frame_lock, irq);

	printk(KERN_INFO "frame: %llu frames (%llu MiB) managed, pfn 0x%llx-0x%llx, "
			 "metadata %llu KiB at 0x%llx\n",
	       (unsigned long long)frame_total, (unsigned long long)(frame_total >> 8),
	       (unsigned long long)frame_base_pfn,
	       (unsigned long long)(frame_base_pfn + frame_span),
	       (unsigned long long)(meta_pages << 2), (unsigned long long)(meta_pfn << PAGE_SHIFT));
	if (above)
		printk(KERN_WARN "frame: warning: %llu KiB of usable memory above the direct "
				 "map end 0x%llx is not managed\n",
		       (unsigned long long)(above >> 10), (unsigned long long)bi->direct_map_end);
}
