/*
 * Page-table engine, lower layer: walking. The explicit depth-first walker, cursor
 * begin/end (lock-free descent, node locking), positioning, query and find_next.
 * Uses only the bottom layer (pt_entry.c, pt_node.c) and the epoch: never the batch
 * nor anything above. Knows no format bits (pt_format.h) and no TLB instruction.
 * It owns the outermost locks, so Keel's lock order is written here, and only here.
 */

/*
 * LOCK ORDER (the whole kernel and the vmm; every other file points here)
 *
 * Outermost first. A CPU takes a lock only while every lock it already holds comes
 * earlier in this list, and only where that earlier lock's entry names it under
 * "inside". Any lock may have 8 (the console) inside it. For all of them: never wait
 * for another CPU (an acknowledgement, a pin, a grace period) while holding a spinlock
 * with interrupts disabled, and a lock that an interrupt handler or a cross-CPU called
 * function may take is always taken with interrupts off (spin_lock_irqsave).
 *
 *  1. Page-table node locks: struct frame.lock of each FRAME_PT_NODE frame
 *     (include/keel/frame.h), taken by pt_cursor_begin below. Guard the entries of the
 *     cursor's range, each node's stray flag, and (through the cursor) the pin counts of
 *     the frames mapped there (pin.c). Among themselves: the lowest node covering the
 *     range, then every existing node below it that meets the range, top-down and in
 *     address order within a level (depth-first pre-order). A CPU holding two cursors
 *     (copy_from) begins them in one global order of tables (a fork: parent, then child)
 *     and they share no node. The lock-free descent takes one node lock, with no other
 *     lock of that table held, to install a missing child; a cursor also locks the new
 *     unpublished nodes it creates in its range, out of this order (no other CPU can
 *     reach them yet). Interrupts as the cursor's user left them, and enabled whenever
 *     another CPU may have to be waited for (tlb.c CHECKs it); no cursor in an
 *     interrupt handler or a called function, so none of them ever waits for a node
 *     lock. Inside: 2 (the fault path), 7 (allocating and freeing
 *     nodes, batch chunks, demand frames); and the batch's flush hook (an early flush,
 *     kernel/mm/tlb.c), which waits for other CPUs: allowed because interrupts are
 *     enabled and nothing a called function does needs a node lock. Never waited for
 *     inside: a grace period (pt_flush_batch_finish runs after pt_cursor_end) or a pin
 *     (vm_space drops its cursor first).
 *  2. struct vm_space.region_lock (kernel/mm/vm_space.h): the space's demand regions.
 *     Interrupts untouched. Taken alone, or inside 1 (a fault looks its region up under
 *     its cursor); never held while a cursor begins. Inside: nothing.
 *  3. vm_host_tags.lock (kernel/mm/vm_space.c): the PCID allocator (which tags are in
 *     use). Interrupts untouched. Taken alone, by vm_space_init and vm_space_fini.
 *     Inside: nothing.
 *  4. struct guest.lock (vmm/guest.h), taken only through guest_lock(), whose
 *     struct guest_locked handle the functions that need it take: a guest's end state
 *     (state, status, reason) and its console line (vmm/dev/console.c). Interrupts off.
 *     Taken alone; never held across vm_space operations or any wait; never nested
 *     with 5. Inside: only 8 (printk).
 *  5. The vCPU run-queue lock, struct runq.lock (vmm/sched.c), taken only through
 *     runq_lock() (a struct runq_locked handle): the run and sleep queues. Interrupts
 *     off. Taken alone; never nested with 4 (it reads a guest's end state with an
 *     atomic load). Inside: nothing.
 * 5a. Emulated-device locks (vmm/dev/: struct vpic.lock, struct vpit.lock), one per
 *     device's state. Interrupts off. Taken alone: a device drops its lock before it
 *     calls anything that locks (another device, the guest lock). Inside: only 8.
 *  6. struct heap_class.lock (kernel/heap.c), one per size class: its partial slabs.
 *     Interrupts off. Never two at once; dropped before calling the frame allocator.
 *     Inside: nothing.
 *  7. frame_lock (kernel/frame.c): the buddy free lists, their counters and the type of
 *     free block heads. Interrupts off. Taken alone or inside 1. Inside: nothing.
 *  7a. struct waitq.lock (include/keel/waitq.h), one per wait queue (a space's
 *     unpin queue, a thread's exit queue, futexes, joins): its sleepers. Interrupts
 *     off (a wake may come from an interrupt handler). Taken alone, never two at once;
 *     never held while sleeping. Inside: 7b (a wake unparks its sleepers).
 *  7a'. struct process.lock (kernel/user/user.h): a process's threads and end state.
 *     Interrupts off. Taken alone. Inside: 7b (unparking its threads when it is
 *     killed). struct process.line_lock (its console line): alone, nothing inside.
 *     Neither is held across vm_space operations or any wait.
 *  7b. sched.lock (kernel/sched.c): the ready queue, the sleepers with deadlines and
 *     every thread's state and permit. Interrupts off, also in the tick. Taken alone
 *     or inside 7a; held across a context switch (the switched-to thread drops it).
 *     Inside: nothing.
 *  8. console_lock (kernel/printk.c): console output. Interrupts off. Innermost: any
 *     code may print while holding any of 1-7b. Inside: nothing. Panic breaks it
 *     (printk_break_lock), so a CHECK that fails while it is held still prints.
 *
 * No lock of their own, but they wait for other CPUs; what they may be called under:
 *  - Cross-CPU calls (kernel/smp_call.c): each (caller, target) pair has one request
 *    slot, claimed through its busy flag, and each CPU a lock-free queue; claim and
 *    push run with interrupts off. Waiting for a busy slot or for acknowledgements
 *    serves the CPU's own queue (smp_call_poll). Called functions run with interrupts
 *    off and may take only 4-8. So smp_call with wait may run under 1 (interrupts on),
 *    never under a lock that a called function takes, nor under any spinlock held with
 *    interrupts off.
 *  - The TLB flusher (kernel/mm/tlb.c): atomics and the bring-up gate, no lock. A
 *    kernel-table flush may wait at the gate under 1; bring-up closes it holding no
 *    lock. Both waits serve the CPU's call queue.
 *  - Epoch grace periods (kernel/mm/epoch.c): a cursor is a read section from begin to
 *    end; epoch_synchronize runs with no cursor on its CPU and no spinlock held.
 *  - Pin waits (kernel/mm/vm_space.c): no cursor and no spinlock held, interrupts on.
 * Test code's own locks (kernel/smp_call_test.c) are taken alone.
 */
#include <keel/errno.h>
#include <keel/spinlock.h>

#include "epoch.h"
#include "pt_internal.h"

static uint64_t pt_stray_retries; /* [a] statistics */

uint64_t pt_stat_stray_retries(void)
{
	return __atomic_load_n(&pt_stray_retries, __ATOMIC_RELAXED);
}

void pt_dfs_init(struct pt_dfs *it, const struct pt_format *f, struct frame *root, unsigned top,
		 uint64_t base, uint64_t lo, uint64_t hi)
{
	it->fmt = f;
	it->lo = lo;
	it->hi = hi;
	it->top = top;
	it->cur = top;
	it->started = false;
	it->done = false;
	it->tables_only = false;
	it->stack[top] = root;
	it->next[top] = MAX(lo, base);
	it->end[top] = MIN(hi, base + pt_span(f, top));
	it->node = root;
	it->level = top;
	it->idx = 0;
	it->va = base;
}

enum pt_dfs_event pt_dfs_next(struct pt_dfs *it)
{
	const struct pt_format *f = it->fmt;

	if (!it->started) {
		it->started = true;
		return PT_DFS_ENTER;
	}
	while (!it->done) {
		unsigned l = it->cur;
		struct frame *n = it->stack[l];
		uint64_t va = it->next[l], base;

		if (va >= it->end[l] || (l == 1 && it->tables_only)) {
			it->node = n;
			it->level = l;
			if (l == it->top)
				it->done = true;
			else
				it->cur = l + 1;
			return PT_DFS_EXIT;
		}
		base = ALIGN_DOWN(va, pt_size(f, l));
		it->next[l] = base + pt_size(f, l);
		it->idx = pt_index(f, l, va);
		f->decode(pt_entry_load(n, it->idx), l, &it->entry);
		if (it->entry.kind == PT_ENTRY_ABSENT)
			continue;
		it->va = base;
		if (it->entry.kind == PT_ENTRY_LEAF) {
			it->node = n;
			it->level = l;
			return PT_DFS_LEAF;
		}
		CHECK(l > 1);
		it->cur = l - 1;
		it->stack[l - 1] = frame_of(it->entry.pa);
		it->next[l - 1] = MAX(it->lo, base);
		it->end[l - 1] = MIN(it->hi, base + pt_size(f, l));
		it->node = it->stack[l - 1];
		it->level = l - 1;
		return PT_DFS_ENTER;
	}
	return PT_DFS_DONE;
}

/*
 * Converts a canonical [start, end) to linear positions, checking alignment,
 * emptiness, canonical form, the canonical hole and the usable root indices.
 */
static int pt_range_to_lin(const struct pt_format *f, vaddr_t start, vaddr_t end, uint64_t *lo,
			   uint64_t *hi)
{
	uint64_t last = end.v - 1; /* end 0 means 2^64 */
	uint64_t top_size = pt_size(f, f->levels);

	if (!IS_ALIGNED(start.v, PAGE_SIZE) || !IS_ALIGNED(end.v, PAGE_SIZE))
		return -EINVAL;
	if (end.v != 0 && end.v <= start.v)
		return -EINVAL;
	if (!pt_va_is_canonical(f, start.v) || !pt_va_is_canonical(f, last))
		return -EINVAL;
	if (f->sign_extend && ((start.v ^ last) >> (f->va_bits - 1)) & 1)
		return -EINVAL; /* crosses the canonical hole */
	*lo = start.v & pt_lin_mask(f);
	*hi = (last & pt_lin_mask(f)) + 1;
	if (*lo < f->top_first * top_size || *hi > (f->top_last + 1ull) * top_size)
		return -EINVAL;
	return 0;
}

/*
 * Installs a fresh node under entry idx of n if it is still absent. Called by the
 * lock-free descent with no other lock held. Returns false if n went stray or memory
 * ran out (the descent then stops at n).
 */
static bool pt_install_child(struct pt_cursor *c, struct frame *n, unsigned level, unsigned idx)
{
	struct frame *child;
	bool ok = false;

	spin_lock(&n->lock);
	if (pt_node_is_stray(n))
		goto out_unlock;
	if (pt_entry_load(n, idx) != 0) {
		ok = true;
		goto out_unlock;
	}
	child = pt_node_alloc(level - 1);
	if (!child)
		goto out_unlock;
	pt_entry_store(n, idx, c->fmt->encode_table(frame_pa(child), level));
	ok = true;
out_unlock:
	spin_unlock(&n->lock);
	return ok;
}

/*
 * Lock-free descent from the root to the lowest node holding every entry the cursor may
 * have to change, creating missing nodes on the way. Stops above a leaf. Returns the node and
 * sets *level. Inside an epoch section, so no node it reads can be freed meanwhile.
 */
static struct frame *pt_descend_lockfree(struct pt_cursor *c, unsigned *level)
{
	const struct pt_format *f = c->fmt;
	struct frame *n = c->table->root;
	unsigned l = f->levels;

	/*
	 * Go down only while the range lies inside one entry without covering all of it:
	 * an entry the range covers whole may itself be replaced (huge leaf, detach), so
	 * its node must be the one we lock.
	 */
	while (l > 1 &&
	       ALIGN_DOWN(c->start, pt_size(f, l)) == ALIGN_DOWN(c->end - 1, pt_size(f, l)) &&
	       c->end - c->start < pt_size(f, l)) {
		unsigned idx = pt_index(f, l, c->start);
		struct pt_entry e;

		f->decode(pt_entry_load(n, idx), l, &e);
		if (e.kind == PT_ENTRY_TABLE) {
			n = frame_of(e.pa);
			l--;
		} else if (e.kind == PT_ENTRY_LEAF || !pt_install_child(c, n, l, idx)) {
			break;
		}
	}
	*level = l;
	return n;
}

/* Locks every existing node below the guard that intersects the range, in pre-order. */
static void pt_lock_range(struct pt_cursor *c)
{
	unsigned g = c->guard_level;
	uint64_t base = ALIGN_DOWN(c->start, pt_span(c->fmt, g));
	struct pt_dfs it;
	enum pt_dfs_event ev;

	pt_dfs_init(&it, c->fmt, c->path[g], g, base, c->start, c->end);
	it.tables_only = true;
	(void)pt_dfs_next(&it); /* the guard itself: already locked */
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev == PT_DFS_ENTER)
			spin_lock(&it.node->lock);
	}
}

int pt_cursor_begin(struct pt_cursor *c, struct pt_table *t, vaddr_t start, vaddr_t end,
		    struct pt_flush_batch *b)
{
	struct frame *guard;
	unsigned level;
	int err;

	c->table = t;
	c->fmt = t->fmt;
	c->batch = b;
	err = pt_range_to_lin(t->fmt, start, end, &c->start, &c->end);
	if (err)
		return err;
	c->epoch_cpu = epoch_read_lock();
	for (;;) {
		guard = pt_descend_lockfree(c, &level);
		spin_lock(&guard->lock);
		if (!pt_node_is_stray(guard))
			break;
		spin_unlock(&guard->lock); /* detached under us: start again from the root */
		__atomic_fetch_add(&pt_stray_retries, 1, __ATOMIC_RELAXED);
	}
	for (unsigned l = 0; l <= PT_MAX_LEVELS; l++)
		c->kva_node[l] = NULL;
	c->dec.valid = false;
	c->enc.valid = false;
	c->guard_level = level;
	c->level = level;
	c->path[level] = guard;
	c->va = c->start;
	pt_lock_range(c);
	return 0;
}

void pt_cursor_end(struct pt_cursor *c)
{
	unsigned g = c->guard_level;
	uint64_t base = ALIGN_DOWN(c->start, pt_span(c->fmt, g));
	struct pt_dfs it;
	enum pt_dfs_event ev;

	pt_dfs_init(&it, c->fmt, c->path[g], g, base, c->start, c->end);
	it.tables_only = true;
	while ((ev = pt_dfs_next(&it)) != PT_DFS_DONE) {
		if (ev == PT_DFS_EXIT)
			spin_unlock(&it.node->lock);
	}
	epoch_read_unlock(c->epoch_cpu);
	c->table = NULL;
}

void pt_cursor_seek(struct pt_cursor *c, uint64_t va)
{
	while (c->level < c->guard_level && ALIGN_DOWN(va, pt_span(c->fmt, c->level)) !=
						ALIGN_DOWN(c->va, pt_span(c->fmt, c->level)))
		c->level++;
	c->va = va;
}

void pt_cursor_descend(struct pt_cursor *c, struct pt_entry *e)
{
	CHECK(c->va >= c->start && c->va < c->end);
	for (;;) {
		unsigned l = c->level;

		pt_decode_entry(c, pt_path_load(c, l), l, e);
		if (e->kind != PT_ENTRY_TABLE)
			return;
		CHECK(l > 1);
		c->path[l - 1] = frame_of(e->pa);
		c->level = l - 1;
	}
}

uint64_t pt_cursor_window_end(const struct pt_cursor *c, uint64_t len)
{
	return len >= c->end - c->va ? c->end : c->va + len;
}

vaddr_t pt_cursor_va(const struct pt_cursor *c)
{
	return pt_lin_to_va(c->fmt, c->va);
}

int pt_cursor_jump(struct pt_cursor *c, vaddr_t va)
{
	uint64_t lin = va.v & pt_lin_mask(c->fmt);

	if (!IS_ALIGNED(va.v, PAGE_SIZE) || !pt_va_is_canonical(c->fmt, va.v) || lin < c->start ||
	    lin >= c->end)
		return -EINVAL;
	pt_cursor_seek(c, lin);
	return 0;
}

static void pt_fill_item(const struct pt_cursor *c, const struct pt_entry *e, unsigned level,
			 struct pt_item *out)
{
	uint64_t size = pt_size(c->fmt, level);

	*out = (struct pt_item){
		.kind = e->kind == PT_ENTRY_LEAF ? PT_ITEM_LEAF : PT_ITEM_NONE,
		.va = pt_lin_to_va(c->fmt, ALIGN_DOWN(c->va, size)),
		.size = size,
		.level = level,
		.pa = e->kind == PT_ENTRY_LEAF ? e->pa : PA(0),
		.prop = e->kind == PT_ENTRY_LEAF ? e->prop : (struct pt_prop){ 0 },
	};
}

/*
 * pt_cursor_query's fast path: a 4 KiB leaf the decode memo recognises, in the level-1
 * node on the cursor's path. Returns false (nothing done) otherwise.
 */
static bool pt_query_fast(struct pt_cursor *c, struct pt_item *out)
{
	uint64_t raw;
	paddr_t pa;

	if (c->level != 1 || c->va >= c->end)
		return false;
	raw = pt_path_load(c, 1);
	if (!raw || !pt_memo_decode(c->fmt, &c->dec, raw, &pa))
		return false;
	*out = (struct pt_item){ .kind = PT_ITEM_LEAF,
				 .va = pt_lin_to_va(c->fmt, c->va),
				 .size = PAGE_SIZE,
				 .level = 1,
				 .pa = pa,
				 .prop = c->dec.prop };
	return true;
}

int pt_cursor_query(struct pt_cursor *c, struct pt_item *out)
{
	struct pt_entry e;

	if (pt_query_fast(c, out))
		return 0;
	if (c->va >= c->end)
		return -ENOENT;
	pt_cursor_descend(c, &e);
	pt_fill_item(c, &e, c->level, out);
	return 0;
}

int pt_cursor_find_next(struct pt_cursor *c, uint64_t len, struct pt_item *out)
{
	uint64_t limit = pt_cursor_window_end(c, len);
	struct pt_entry e;

	while (c->va < limit) {
		pt_cursor_descend(c, &e);
		if (e.kind == PT_ENTRY_LEAF) {
			pt_fill_item(c, &e, c->level, out);
			return 0;
		}
		pt_cursor_seek(c, ALIGN_DOWN(c->va, pt_size(c->fmt, c->level)) +
				      pt_size(c->fmt, c->level));
	}
	pt_cursor_seek(c, limit);
	return -ENOENT;
}
