/*
 * Kernel heap (see heap.h): power-of-two size classes HEAP_SLAB_MIN..HEAP_SLAB_MAX
 * carved from single-frame slabs, and whole frame blocks for anything larger.
 * Owns the bytes of FRAME_KERNEL frames it allocated and, on those frames, the
 * `flags`, `priv` and `link` metadata. Knows nothing of what callers store.
 *
 * A slab keeps no header in its page: kfree finds the slab from the object's address
 * through frame_of(arch_kva_to_pa(ptr)), and the slab state lives in the frame:
 *   flags  HEAP_TAG_SLAB | size class index     (HEAP_TAG_LARGE for a frame block)
 *   priv   bits 0-15: offset of the first free object (HEAP_NO_FREE if none)
 *          bits 16-31: objects in use                 (large block: the size asked)
 *   link   on its class's partial list while it has a free object and one in use
 * A free object holds the offset of the next free object in its first word and
 * HEAP_POISON in its second, which makes double frees cheap to catch.
 * An empty slab goes straight back to the frame allocator.
 *
 * Lock order: see the top of kernel/mm/pt_walk.c.
 */
#include <keel/arch.h>
#include <keel/check.h>
#include <keel/frame.h>
#include <keel/heap.h>
#include <keel/list.h>
#include <keel/printk.h>
#include <keel/spinlock.h>
#include <keel/string.h>

#define HEAP_TAG_MASK 0xf000u
#define HEAP_TAG_SLAB 0xa000u
#define HEAP_TAG_LARGE 0xb000u
#define HEAP_CLASS_MASK 0x000fu
#define HEAP_NO_FREE 0xffffu
#define HEAP_POISON 0xfee1dead5a1ab0f5ull
#define HEAP_CLASS_COUNT 8 /* 16, 32, ..., 2048 */

_Static_assert(HEAP_SLAB_MIN << (HEAP_CLASS_COUNT - 1) == HEAP_SLAB_MAX, "size classes");
_Static_assert(HEAP_SLAB_MIN >= 2 * sizeof(uint64_t), "a free object holds two words");

/* [c] const  [l] heap_class.lock */
struct heap_class {
	spinlock_t lock;
	uint32_t size;		  /* [c] object size in bytes */
	struct list_node partial; /* [l] slabs with both free and used objects */
};

#define HEAP_CLASS(i)                         \
	[i] = { .lock = SPINLOCK_INIT,        \
		.size = HEAP_SLAB_MIN << (i), \
		.partial = LIST_INIT(heap_classes[i].partial) }

static struct heap_class heap_classes[HEAP_CLASS_COUNT] = {
	HEAP_CLASS(0), HEAP_CLASS(1), HEAP_CLASS(2), HEAP_CLASS(3),
	HEAP_CLASS(4), HEAP_CLASS(5), HEAP_CLASS(6), HEAP_CLASS(7),
};

/* ---- slab state packed in the frame's priv ---- */

static inline unsigned slab_free_off(const struct frame *f)
{
	return (unsigned)(f->priv & 0xffff);
}

static inline unsigned slab_in_use(const struct frame *f)
{
	return (unsigned)((f->priv >> 16) & 0xffff);
}

static inline void slab_set(struct frame *f, unsigned free_off, unsigned in_use)
{
	f->priv = (uint64_t)free_off | ((uint64_t)in_use << 16);
}

static inline uint64_t *slab_obj(struct frame *f, unsigned off)
{
	return (uint64_t *)((uint8_t *)frame_kva(f) + off);
}

static unsigned class_of(size_t size)
{
	unsigned c = 0;

	while ((size_t)HEAP_SLAB_MIN << c < size)
		c++;
	return c;
}

/* Turns a fresh frame into an empty slab of class c: every object free. */
static void slab_init(struct frame *f, unsigned c)
{
	unsigned size = heap_classes[c].size;

	for (unsigned off = 0; off < PAGE_SIZE; off += size) {
		uint64_t *obj = slab_obj(f, off);

		obj[0] = off + size < PAGE_SIZE ? off + size : HEAP_NO_FREE;
		obj[1] = HEAP_POISON;
	}
	f->flags = (uint16_t)(HEAP_TAG_SLAB | c);
	slab_set(f, 0, 0);
	list_init(&f->link);
}

/* Takes the first free object of slab f. Caller holds the class lock. */
static void *slab_pop(struct frame *f)
{
	unsigned off = slab_free_off(f);
	uint64_t *obj;

	CHECK(off != HEAP_NO_FREE);
	obj = slab_obj(f, off);
	CHECK(obj[1] == HEAP_POISON); /* a free object was written to: use after free */
	slab_set(f, (unsigned)obj[0], slab_in_use(f) + 1);
	obj[1] = 0;
	return obj;
}

static void *slab_alloc(unsigned c)
{
	struct heap_class *hc = &heap_classes[c];
	unsigned long irq = spin_lock_irqsave(&hc->lock);
	struct frame *f;
	void *obj;

	if (list_is_empty(&hc->partial)) {
		/* No frame allocator call under a class lock: drop it, then come back. */
		spin_unlock_irqrestore(&hc->lock, irq);
		f = frame_alloc(0, FRAME_KERNEL);
		if (!f)
			return NULL;
		slab_init(f, c);
		irq = spin_lock_irqsave(&hc->lock);
		list_push_front(&hc->partial, &f->link);
	}
	f = list_entry(hc->partial.next, struct frame, link);
	obj = slab_pop(f);
	if (slab_free_off(f) == HEAP_NO_FREE)
		list_remove(&f->link); /* full: off the partial list */
	spin_unlock_irqrestore(&hc->lock, irq);
	return obj;
}

/* True if off is on slab f's free list. Caller holds the class lock. */
static bool slab_is_free(struct frame *f, unsigned off)
{
	for (unsigned o = slab_free_off(f); o != HEAP_NO_FREE; o = (unsigned)slab_obj(f, o)[0])
		if (o == off)
			return true;
	return false;
}

static void slab_free(struct frame *f, const void *ptr)
{
	unsigned c = f->flags & HEAP_CLASS_MASK;
	struct heap_class *hc = &heap_classes[c];
	unsigned off = (unsigned)((const uint8_t *)ptr - (const uint8_t *)frame_kva(f));
	uint64_t *obj = slab_obj(f, off);
	bool was_full, empty;
	unsigned long irq;

	CHECK(c < HEAP_CLASS_COUNT);
	CHECK(off % hc->size == 0); /* a pointer into the middle of an object */
	irq = spin_lock_irqsave(&hc->lock);
	/* The poison word is only a hint (callers may store it); the list walk decides. */
	CHECK(obj[1] != HEAP_POISON || !slab_is_free(f, off)); /* double free */
	CHECK(slab_in_use(f) > 0);
	was_full = slab_free_off(f) == HEAP_NO_FREE;
	obj[0] = slab_free_off(f);
	obj[1] = HEAP_POISON;
	slab_set(f, off, slab_in_use(f) - 1);
	empty = slab_in_use(f) == 0;
	if (empty && !was_full)
		list_remove(&f->link);
	else if (was_full && !empty)
		list_push_back(&hc->partial, &f->link);
	spin_unlock_irqrestore(&hc->lock, irq);

	if (empty) {
		f->flags = 0;
		f->priv = 0;
		frame_free(f, 0);
	}
}

static void *large_alloc(size_t size)
{
	uint64_t pages = (size + PAGE_MASK) >> PAGE_SHIFT;
	unsigned order = 0;
	struct frame *f;

	while ((1ull << order) < pages) {
		if (++order > FRAME_ORDER_MAX)
			return NULL;
	}
	f = frame_alloc(order, FRAME_KERNEL);
	if (!f)
		return NULL;
	f->flags = HEAP_TAG_LARGE;
	f->priv = size;
	return frame_kva(f);
}

void *kmalloc(size_t size)
{
	if (size > HEAP_SLAB_MAX)
		return size > (PAGE_SIZE << FRAME_ORDER_MAX) ? NULL : large_alloc(size);
	return slab_alloc(class_of(size));
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);

	if (p && size <= HEAP_SLAB_MAX)
		memset(p, 0, size); /* frame blocks come zeroed from frame_alloc */
	return p;
}

/* The heap frame that holds ptr; CHECKs that ptr can be a heap pointer at all. */
static struct frame *heap_frame_of(const void *ptr)
{
	struct frame *f;

	CHECK(IS_ALIGNED((uintptr_t)ptr, HEAP_ALIGN));
	f = frame_of(arch_kva_to_pa(ptr));
	CHECK(f->type == FRAME_KERNEL);
	switch (f->flags & HEAP_TAG_MASK) {
	case HEAP_TAG_SLAB:
		break;
	case HEAP_TAG_LARGE:
		CHECK(ptr == frame_kva(f)); /* inside a large block */
		break;
	default:
		panic("heap: %p was not handed out by kmalloc", ptr);
	}
	return f;
}

void kfree(const void *ptr)
{
	struct frame *f;

	if (!ptr)
		return;
	f = heap_frame_of(ptr);
	if ((f->flags & HEAP_TAG_MASK) == HEAP_TAG_SLAB) {
		slab_free(f, ptr);
	} else {
		f->flags = 0;
		f->priv = 0;
		frame_free(f, f->order);
	}
}

size_t kmalloc_usable_size(const void *ptr)
{
	struct frame *f = heap_frame_of(ptr);

	if ((f->flags & HEAP_TAG_MASK) == HEAP_TAG_SLAB)
		return heap_classes[f->flags & HEAP_CLASS_MASK].size;
	return PAGE_SIZE << f->order;
}

void *krealloc(void *ptr, size_t size)
{
	size_t have;
	void *p;

	if (!ptr)
		return kmalloc(size);
	if (size == 0) {
		kfree(ptr);
		return NULL;
	}
	have = kmalloc_usable_size(ptr);
	if (size <= have)
		return ptr;
	p = kmalloc(size);
	if (!p)
		return NULL;
	memcpy(p, ptr, have);
	kfree(ptr);
	return p;
}

void heap_init(void)
{
	printk(KERN_INFO "heap: %u size classes %u..%u bytes, larger from frame blocks\n",
	       HEAP_CLASS_COUNT, HEAP_SLAB_MIN, HEAP_SLAB_MAX);
}
