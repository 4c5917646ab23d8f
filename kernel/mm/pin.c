/*
 * Pinning (see vm_space.h): a hypercall or syscall handler pins the buffer it uses in
 * place, so the pages cannot be unmapped or re-protected under it (no time-of-check /
 * time-of-use gap). Pins are counts in struct frame, raised under a cursor over the
 * range: vm_space_unmap/protect look at them under a cursor too, so the two serialise
 * on the node locks. Unpinning needs no lock (a count only falls). An edit that meets a
 * pin sleeps on the space's wait queue until an unpin (vm_pin_wait).
 */
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/string.h>

#include "vm_space.h"

/*
 * Only memory the frame allocator handed out can be pinned: it has the counts, and the
 * direct map reaches it as ordinary RAM. Device memory (no metadata, or reserved
 * frames: holes, firmware) cannot be used as a hypercall buffer.
 */
static bool vm_frame_pinnable(const struct frame *f)
{
	return f && f->type != FRAME_FREE && f->type != FRAME_RESERVED;
}

static void vm_pin_drop(struct vm_pin *pin, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		struct frame *f = frame_of(pin->page[i]);

		CHECK(__atomic_fetch_sub(&f->pin_count, 1, __ATOMIC_SEQ_CST) > 0);
	}
}

/* Points pin->page at room for pin->page_count addresses. 0 or -ENOMEM. */
static int vm_pin_alloc(struct vm_pin *pin)
{
	pin->page_frame = NULL;
	pin->page = pin->page_inline;
	if (pin->page_count <= VM_PIN_INLINE)
		return 0;
	pin->page_frame = frame_alloc(0, FRAME_KERNEL);
	if (!pin->page_frame)
		return -ENOMEM;
	pin->page = frame_kva(pin->page_frame);
	return 0;
}

static void vm_pin_free(struct vm_pin *pin)
{
	if (pin->page_frame)
		frame_free(pin->page_frame, 0);
	pin->page_frame = NULL;
	pin->page = NULL;
	pin->page_count = 0;
}

int vm_space_pin(struct vm_space *s, vaddr_t addr, uint64_t len, unsigned access,
		 struct vm_pin *pin)
{
	struct pt_flush_batch b;
	struct pt_cursor c;
	uint64_t end, first, last, i = 0;
	int rc = vm_range_check(addr.v, len, false, &end);

	if (rc)
		return rc;
	first = ALIGN_DOWN(addr.v, PAGE_SIZE);
	last = ALIGN_UP(end, PAGE_SIZE);
	if (last < end)
		return -EINVAL; /* the last page ends at 2^64: outside every space */
	*pin = (struct vm_pin){ .space = s,
				.offset = addr.v - first,
				.len = len,
				.page_count = (last - first) >> PAGE_SHIFT };
	if (pin->page_count > VM_PIN_PAGES_MAX)
		return -E2BIG;
	rc = vm_pin_alloc(pin);
	if (rc)
		return rc;
	tlb_batch_init(&b, s);
	rc = pt_cursor_begin(&c, &s->table, VA(first), VA(last), &b);
	if (rc)
		goto out_free;
	for (; i < pin->page_count; i++) {
		struct frame *f = NULL;

		rc = vm_page_resolve(s, &c, first + (i << PAGE_SHIFT), access, &pin->page[i]);
		if (!rc)
			f = frame_lookup(pin->page[i]);
		if (!rc && !vm_frame_pinnable(f))
			rc = -EFAULT; /* device memory or a frame that is not in use */
		if (rc)
			break;
		__atomic_fetch_add(&f->pin_count, 1, __ATOMIC_RELAXED);
	}
	if (rc)
		vm_pin_drop(pin, i);
	pt_cursor_end(&c);
	pt_flush_batch_finish(&b);
	if (!rc)
		return 0;
out_free:
	vm_pin_free(pin);
	return rc;
}

void vm_space_unpin(struct vm_pin *pin)
{
	struct vm_space *s = pin->space;

	vm_pin_drop(pin, pin->page_count);
	vm_pin_free(pin);
	__atomic_fetch_add(&s->unpin_seq, 1, __ATOMIC_SEQ_CST); /* after the counts fell */
	waitq_wake_all(&s->unpin_wq);				/* after the condition changed */
}

struct vm_pin_wait_arg {
	struct vm_space *s;
	uint64_t seq;
};

static bool vm_unpin_seen(void *arg)
{
	const struct vm_pin_wait_arg *w = arg;

	return __atomic_load_n(&w->s->unpin_seq, __ATOMIC_SEQ_CST) != w->seq;
}

/*
 * Waiting on the frame's own count would read metadata that may be freed and reused by
 * then; the space's sequence cannot. One queue per space: an unpin wakes every edit of
 * that space waiting, and each looks at its own pins again.
 */
void vm_pin_wait(struct vm_space *s, uint64_t seq)
{
	struct vm_pin_wait_arg w = { .s = s, .seq = seq };
	int rc;

	CHECK(arch_irqs_enabled());
	rc = waitq_wait(&s->unpin_wq, vm_unpin_seen, &w, WAITQ_FOREVER);
	CHECK(rc == 0); /* no deadline */
}

void *vm_pin_kva(const struct vm_pin *pin, uint64_t offset, uint64_t *contig_len)
{
	uint64_t at = pin->offset + offset;
	uint64_t idx = at >> PAGE_SHIFT;
	paddr_t pa = PA(pin->page[idx].v + (at & PAGE_MASK));
	uint64_t run = PAGE_SIZE - (at & PAGE_MASK);

	CHECK(offset < pin->len);
	while (++idx < pin->page_count && pin->page[idx].v == pin->page[idx - 1].v + PAGE_SIZE)
		run += PAGE_SIZE;
	*contig_len = MIN(run, pin->len - offset);
	return arch_pa_to_kva(pa);
}

/* Copies len bytes between the pin at offset and buf, in either direction. */
static int vm_pin_copy(const struct vm_pin *pin, uint64_t offset, void *buf, uint64_t len,
		       bool to_pin)
{
	uint8_t *p = buf;

	if (offset > pin->len || len > pin->len - offset)
		return -EINVAL;
	while (len) {
		uint64_t run;
		void *kva = vm_pin_kva(pin, offset, &run);

		run = MIN(run, len);
		if (to_pin)
			memcpy(kva, p, run);
		else
			memcpy(p, kva, run);
		p += run;
		offset += run;
		len -= run;
	}
	return 0;
}

int vm_pin_read(const struct vm_pin *pin, uint64_t offset, void *buf, uint64_t len)
{
	return vm_pin_copy(pin, offset, buf, len, false);
}

int vm_pin_write(const struct vm_pin *pin, uint64_t offset, const void *buf, uint64_t len)
{
	return vm_pin_copy(pin, offset, (void *)buf, len, true);
}
