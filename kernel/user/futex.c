/*
 * Futexes (user.h): a thread sleeps while a 32-bit user word holds an expected value,
 * until a wake on that address. 64 buckets hashed by (process, address), each a wait
 * queue and a wake sequence. No lost wake-up: the sleeper reads the sequence before the
 * word, and a waker bumps it after the user changed the word, before waking the queue,
 * so either the sleeper sees the new word (-EAGAIN), or it sees the sequence move (its
 * waitq condition) whenever it checks it. The word is read under a short pin that is
 * never held while sleeping (an munmap of it must not wait for a futex).
 */
#include <keel/errno.h>
#include <keel/time.h>

#include "syscall.h"

#define FUTEX_BUCKETS 64

static struct futex_bucket {
	struct waitq q;
	uint64_t seq; /* [a] bumped by every wake that hashes here */
} futex_buckets[FUTEX_BUCKETS];
static bool futex_ready; /* [a] */
static spinlock_t futex_init_lock = SPINLOCK_INIT;

static struct futex_bucket *futex_bucket(struct process *p, uint64_t va)
{
	uint64_t h = ((uintptr_t)p >> 6) ^ (va >> 2);

	if (!__atomic_load_n(&futex_ready, __ATOMIC_ACQUIRE)) {
		unsigned long flags = spin_lock_irqsave(&futex_init_lock);

		if (!futex_ready) {
			for (unsigned i = 0; i < FUTEX_BUCKETS; i++)
				waitq_init(&futex_buckets[i].q);
			__atomic_store_n(&futex_ready, true, __ATOMIC_RELEASE);
		}
		spin_unlock_irqrestore(&futex_init_lock, flags);
	}
	h ^= h >> 17;
	return &futex_buckets[(h * 0x9E3779B97F4A7C15ull) >> 58];
}

static int futex_read(struct process *p, uint64_t va, uint32_t *val)
{
	struct vm_pin pin;
	int rc;

	if (va & 3)
		return -EINVAL;
	rc = sys_pin(p, va, 4, VM_ACCESS_READ, &pin);
	if (rc)
		return rc;
	rc = vm_pin_read(&pin, 0, val, 4);
	vm_space_unpin(&pin);
	return rc;
}

struct futex_sleep {
	struct futex_bucket *b;
	struct process *p;
	uint64_t seq;
};

static bool futex_woken(void *arg)
{
	const struct futex_sleep *f = arg;

	return __atomic_load_n(&f->b->seq, __ATOMIC_ACQUIRE) != f->seq ||
	       __atomic_load_n(&f->p->dying, __ATOMIC_ACQUIRE);
}

int futex_wait(struct process *p, uint64_t va, uint32_t expected, uint64_t timeout_ms)
{
	struct futex_sleep f = { .b = futex_bucket(p, va), .p = p };
	uint64_t deadline = timeout_ms ? time_ns() + timeout_ms * NSEC_PER_MSEC : WAITQ_FOREVER;
	uint32_t val;
	int rc;

	f.seq = __atomic_load_n(&f.b->seq, __ATOMIC_SEQ_CST); /* before the word */
	rc = futex_read(p, va, &val);
	if (rc)
		return rc;
	if (val != expected)
		return -EAGAIN;
	rc = waitq_wait(&f.b->q, futex_woken, &f, deadline);
	if (!rc && __atomic_load_n(&p->dying, __ATOMIC_ACQUIRE))
		rc = -EINTR;
	return rc;
}

unsigned futex_wake(struct process *p, uint64_t va, uint64_t count)
{
	struct futex_bucket *b = futex_bucket(p, va);

	(void)count; /* every sleeper of the bucket looks again: spurious wakes are allowed */
	__atomic_fetch_add(&b->seq, 1, __ATOMIC_SEQ_CST);
	return waitq_wake_all(&b->q);
}
