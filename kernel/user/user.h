/*
 * User processes, inside kernel/user/: the process and user-thread records shared by
 * its files. A process is a host vm_space (its own PCID) plus up to KEEL_THREADS_MAX
 * threads; a user thread is a kernel thread (include/keel/sched.h) whose `user` points
 * here and whose `space` is the process's space (loaded at every switch to it).
 *
 * Lock order: see kernel/mm/pt_walk.c (struct process.lock: taken alone or with the
 * console's; never held across vm_space operations or any wait).
 */
#ifndef KERNEL_USER_USER_H
#define KERNEL_USER_USER_H

#include <keel/sched.h>
#include <keel/spinlock.h>
#include <keel/waitq.h>
#include <mm/vm_space.h>
#include <uapi/keel_syscall.h>

#include "user_desc.h"

#define USER_REASON_MAX 160
#define USER_LINE_MAX 200

struct process;

/* Lock legend: [c] const after creation  [l] process lock  [a] atomic */
struct uthread {
	struct thread *t;	    /* [c] the kernel thread */
	struct process *p;	    /* [c] */
	unsigned tid;		    /* [c] 1 .. KEEL_THREADS_MAX */
	uint64_t entry, stack, arg; /* [c] where it starts in user mode */
	bool exited;		    /* [l] ended (its value is set) */
	bool joined;		    /* [l] a thread_join took its value */
	int64_t value;		    /* [l] thread_exit's value */
	struct waitq sleep_wq;	    /* sleep and joins of it wait here */
};

struct process {
	struct user_desc desc; /* [c] */
	unsigned pid;	       /* [c] */
	struct vm_space space; /* [c] fields; edited through vm_space_* */
	spinlock_t lock;
	struct uthread *thread[KEEL_THREADS_MAX + 1]; /* [l] by tid (0 unused) */
	unsigned live;				      /* [l] threads not yet ended */
	unsigned ever;				      /* [l] threads created */
	bool dying;		      /* [a] written under [l]: ending (exit, a fault) */
	bool killed;		      /* [l] ended by the kernel (reason says why) */
	int64_t status;		      /* [l] exit status */
	char reason[USER_REASON_MAX]; /* [l] */
	uint64_t mmap_next;	      /* [l] where the next kernel-chosen mmap goes */
	struct waitq wq;	      /* threads ending (joins, the reaper) */
	spinlock_t line_lock;	      /* the console line below (irqsave: printk inside) */
	char line[USER_LINE_MAX];     /* [line_lock] output not yet printed */
	unsigned line_len;	      /* [line_lock] */
	unsigned not_ok;	      /* [line_lock] TAP "not ok" lines printed */
	uint64_t syscall_count;	      /* [a] */
};

/* The running thread's user record (NULL for kernel threads). */
static inline struct uthread *uthread_self(void)
{
	return sched_self()->user;
}

/* ---- process.c */
/* Creates a thread of p starting in user mode at entry (rdi = arg, rsp = stack).
 * Returns its tid, or -EAGAIN (no free tid, or p ending) / -ENOMEM. */
int process_thread_create(struct process *p, uint64_t entry, uint64_t arg, uint64_t stack);
/* Ends the calling user thread with value; the process ends with its last thread. */
__noreturn void uthread_exit(int64_t value);
/* Ends the process of the calling thread with status (exit) and the thread itself. */
__noreturn void process_exit(int64_t status);
/* Marks p ending (killed with reason if reason != NULL) and wakes its sleepers. */
void process_kill(struct process *p, const char *reason, int64_t status);
/* Prints len bytes of p's output, a line at a time as "[name] text". */
void process_console_write(struct process *p, const char *buf, uint64_t len);
/* Waits until thread tid of p ended: 0 and its value, -ESRCH, -EDEADLK (itself),
 * -EINVAL (already joined) or -EINTR (the process is ending). */
int process_thread_join(struct process *p, unsigned tid, int64_t *value);
/* Sleeps until deadline_ns or until p is ending. */
void process_sleep_until(struct process *p, uint64_t deadline_ns);

/* ---- uvm.c: the process's memory */
/* Bytes to copy into fresh pages: len bytes to offset `at` of the range. */
struct uvm_src {
	const uint8_t *bytes;
	uint64_t at, len;
};
/* Maps [va, va + len) (page-aligned) to fresh zeroed pages with prop, src (or NULL)
 * copied in. The space owns the frames (freed after the unmap's flush). 0, -EEXIST
 * (something there), -ENOMEM (the pages mapped so far are unmapped again). */
int uvm_map_fresh(struct vm_space *s, uint64_t va, uint64_t len, struct pt_prop prop,
		  const struct uvm_src *src);
/* KEEL_PROT_* to page properties (user pages). -EINVAL: no READ (x86 has no write- or
 * execute-only pages). */
int uvm_prot(uint64_t prot, struct pt_prop *out);
/* Sets up a fresh space: heap and stack demand regions. 0 or a negative errno. */
int uvm_layout(struct vm_space *s);
/* The main thread's initial stack pointer (below its start block). */
uint64_t uvm_stack_top(void);

/* ---- futex.c */
int futex_wait(struct process *p, uint64_t va, uint32_t expected, uint64_t timeout_ms);
unsigned futex_wake(struct process *p, uint64_t va, uint64_t count);

#endif
