/*
 * User processes (user.h, include/keel/user.h): creation from a `user=` description and
 * its Multiboot module, threads, the end of a thread or of the whole process, the
 * console, and the reaper that runs in kmain's thread and judges each program.
 *
 * Ending. A process ends when its last thread ends. exit() or a fault marks it dying
 * (with the status or the reason) and unparks every thread: a thread sleeping in an
 * interruptible wait (join, futex, sleep) sees `dying` and returns, a thread in user
 * mode exits at its next return from an interrupt or system call (the tick comes within
 * 10 ms), a thread in a system call finishes it first (pins are always dropped).
 * Nothing a program does reaches a CHECK or a panic.
 */
#include <keel/boot.h>
#include <keel/check.h>
#include <keel/cmdline.h>
#include <keel/errno.h>
#include <keel/heap.h>
#include <keel/printk.h>
#include <keel/string.h>
#include <keel/user.h>

#include "elf.h"
#include "user.h"

CMDLINE_OPT(user, "user", CMDLINE_STR, 0, 0,
	    "NAME,image=MODULE[,arg=WORD][,expect=exit:N|killed[:WORDS]]: run a user program "
	    "(may repeat)");

#define USER_PROCS_MAX 32
#define USER_IMAGE_LO 0x10000ull /* nothing below 64 KiB: null pointers fault */
#define START_BLOCK 256		 /* bytes under the stack top: the arg= string */

static struct process *procs[USER_PROCS_MAX];
static unsigned proc_count;

/* ---- Threads */

static void uthread_main(void *arg)
{
	struct uthread *ut = arg;

	arch_user_start(ut->entry, ut->stack, ut->arg, 0);
}

/* A free tid of p, or 0. [l] */
static unsigned process_free_tid(struct process *p)
{
	for (unsigned tid = 1; tid <= KEEL_THREADS_MAX; tid++)
		if (!p->thread[tid])
			return tid;
	return 0;
}

/* The kernel side of a new user thread: its record, kernel thread and FPU state. */
static struct uthread *uthread_alloc(struct process *p)
{
	struct uthread *ut = kzalloc(sizeof(*ut));

	if (!ut)
		return NULL;
	ut->p = p;
	waitq_init(&ut->sleep_wq);
	ut->t = thread_create(p->desc.name, uthread_main, ut, THREAD_ANY_CPU);
	if (ut->t && arch_thread_user_init(ut->t) == 0) {
		ut->t->user = ut;
		ut->t->space = &p->space;
		return ut;
	}
	if (ut->t) {
		ut->t->state = THREAD_DEAD; /* never started */
		thread_free(ut->t);
	}
	kfree(ut);
	return NULL;
}

int process_thread_create(struct process *p, uint64_t entry, uint64_t arg, uint64_t stack)
{
	struct uthread *ut = uthread_alloc(p);
	unsigned long flags;
	unsigned tid;

	if (!ut)
		return -ENOMEM;
	ut->entry = entry;
	ut->arg = arg;
	ut->stack = stack;
	flags = spin_lock_irqsave(&p->lock);
	tid = __atomic_load_n(&p->dying, __ATOMIC_RELAXED) ? 0 : process_free_tid(p);
	if (tid) {
		ut->tid = tid;
		p->thread[tid] = ut;
		p->live++;
		p->ever++;
	}
	spin_unlock_irqrestore(&p->lock, flags);
	if (!tid) {
		ut->t->state = THREAD_DEAD;
		thread_free(ut->t);
		kfree(ut);
		return -EAGAIN;
	}
	thread_start(ut->t);
	return (int)tid;
}

__noreturn void uthread_exit(int64_t value)
{
	struct uthread *ut = uthread_self();
	struct process *p = ut->p;
	unsigned long flags = spin_lock_irqsave(&p->lock);

	ut->exited = true;
	ut->value = value;
	p->live--;
	spin_unlock_irqrestore(&p->lock, flags);
	waitq_wake_all(&p->wq); /* joins and the reaper */
	thread_exit();
}

void process_kill(struct process *p, const char *reason, int64_t status)
{
	unsigned long flags = spin_lock_irqsave(&p->lock);

	if (!p->dying) {
		__atomic_store_n(&p->dying, true, __ATOMIC_RELEASE);
		p->killed = reason != NULL;
		p->status = status;
		if (reason) {
			snprintf(p->reason, sizeof(p->reason), "%s", reason);
			printk("user: %s (pid %u) killed: %s\n", p->desc.name, p->pid, reason);
		}
		for (unsigned tid = 1; tid <= KEEL_THREADS_MAX; tid++)
			if (p->thread[tid] && !p->thread[tid]->exited)
				sched_unpark(
				    p->thread[tid]->t); /* interruptible waits look again */
	}
	spin_unlock_irqrestore(&p->lock, flags);
	waitq_wake_all(&p->wq);
}

__noreturn void process_exit(int64_t status)
{
	process_kill(uthread_self()->p, NULL, status);
	uthread_exit(status);
}

struct join_arg {
	struct process *p;
	struct uthread *ut;
};

static bool join_ready(void *arg)
{
	const struct join_arg *j = arg;

	return j->ut->exited || __atomic_load_n(&j->p->dying, __ATOMIC_ACQUIRE);
}

int process_thread_join(struct process *p, unsigned tid, int64_t *value)
{
	struct join_arg j = { .p = p };
	unsigned long flags = spin_lock_irqsave(&p->lock);
	int rc = 0;

	j.ut = p->thread[tid];
	if (!j.ut)
		rc = -ESRCH;
	else if (j.ut == uthread_self())
		rc = -EDEADLK;
	else if (j.ut->joined)
		rc = -EINVAL; /* another thread is joining it */
	else
		j.ut->joined = true;
	spin_unlock_irqrestore(&p->lock, flags);
	if (rc)
		return rc;
	rc = waitq_wait(&p->wq, join_ready, &j, WAITQ_FOREVER);
	flags = spin_lock_irqsave(&p->lock);
	if (!j.ut->exited) {
		j.ut->joined = false; /* the process is ending: the reaper takes it */
		rc = -EINTR;
	} else {
		*value = j.ut->value;
		p->thread[tid] = NULL; /* the tid may be used again */
	}
	spin_unlock_irqrestore(&p->lock, flags);
	if (!rc) {
		thread_join(j.ut->t); /* it switched away for the last time: free its stack */
		kfree(j.ut);
	}
	return rc;
}

static bool process_is_dying(void *arg)
{
	return __atomic_load_n(&((struct process *)arg)->dying, __ATOMIC_ACQUIRE);
}

void process_sleep_until(struct process *p, uint64_t deadline_ns)
{
	int rc = waitq_wait(&uthread_self()->sleep_wq, process_is_dying, p, deadline_ns);

	(void)rc; /* -ETIMEDOUT is the normal end of a sleep */
}

/* ---- Console */

static void process_line_flush(struct process *p)
{
	p->line[p->line_len] = 0;
	printk("[%s] %s\n", p->desc.name, p->line);
	if (!strncmp(p->line, "not ok", 6))
		p->not_ok++;
	p->line_len = 0;
}

void process_console_write(struct process *p, const char *buf, uint64_t len)
{
	unsigned long flags = spin_lock_irqsave(&p->line_lock);

	for (uint64_t i = 0; i < len; i++) {
		char c = buf[i];

		if (c != '\n') /* control characters would garble the console: '.' */
			p->line[p->line_len++] = (c < ' ' && c != '\t') || c == 0x7F ? '.' : c;
		if (buf[i] == '\n' || p->line_len == USER_LINE_MAX - 1)
			process_line_flush(p);
	}
	spin_unlock_irqrestore(&p->line_lock, flags);
}

/* ---- The arch's entry points (include/keel/user.h) */

bool user_thread_is_current(void)
{
	return uthread_self() != NULL;
}

int user_page_fault(vaddr_t addr, unsigned access)
{
	return vm_space_handle_fault(&uthread_self()->p->space, addr, access);
}

const char *user_fault_where(vaddr_t addr)
{
	uint64_t guard = uvm_stack_top() - KEEL_STACK_SIZE - PAGE_SIZE;

	return addr.v >= guard && addr.v < guard + PAGE_SIZE ? " (stack overflow: guard page)" : "";
}

void user_kill(const char *fmt, ...)
{
	char reason[USER_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	process_kill(uthread_self()->p, reason, -1);
	uthread_exit(-1);
}

void user_return(void)
{
	struct uthread *ut = uthread_self();

	if (ut && __atomic_load_n(&ut->p->dying, __ATOMIC_ACQUIRE))
		uthread_exit(0);
}

/* ---- Creation */

/* Maps every PT_LOAD segment of e from image into p's space. */
static int process_load(struct process *p, const uint8_t *image, const struct uelf *e)
{
	for (unsigned i = 0; i < e->count; i++) {
		const struct uelf_segment *sg = &e->seg[i];
		uint64_t va = ALIGN_DOWN(sg->vaddr, PAGE_SIZE);
		uint64_t end = ALIGN_UP(sg->vaddr + sg->memsz, PAGE_SIZE);
		struct uvm_src src = { image + sg->offset, sg->vaddr - va, sg->filesz };
		uint64_t prot = KEEL_PROT_READ | (sg->write ? KEEL_PROT_WRITE : 0) |
				(sg->exec ? KEEL_PROT_EXEC : 0);
		struct pt_prop prop;
		int rc = uvm_prot(prot, &prop);

		if (!rc)
			rc = uvm_map_fresh(&p->space, va, end - va, prop, &src);
		if (rc)
			return rc;
	}
	return 0;
}

/* Writes the arg= string under the stack top (faulting the page in); returns where. */
static int process_start_block(struct process *p, uint64_t *arg_va)
{
	uint64_t at = uvm_stack_top() - START_BLOCK;
	struct vm_pin pin;
	int rc = vm_space_pin(&p->space, VA(at), START_BLOCK, VM_ACCESS_WRITE, &pin);

	if (rc)
		return rc;
	rc = vm_pin_write(&pin, 0, p->desc.arg, strlen(p->desc.arg) + 1);
	vm_space_unpin(&pin);
	*arg_va = at;
	return rc;
}

static const struct boot_module *find_module(const char *name)
{
	for (unsigned i = 0; i < boot_info.mod_count; i++)
		if (!strcmp(boot_info.mods[i].name, name))
			return &boot_info.mods[i];
	return NULL;
}

/* Builds p's space from its image and starts its main thread. *why on failure. */
static int process_build(struct process *p, const char **why)
{
	const struct boot_module *m = find_module(p->desc.image);
	struct uelf e;
	uint64_t arg_va;
	int rc;

	if (!m) {
		*why = "no Multiboot module of that name";
		return -EINVAL;
	}
	rc = uelf_parse(arch_pa_to_kva(m->start), m->end.v - m->start.v, USER_IMAGE_LO,
			KEEL_HEAP_BASE, &e, why);
	if (rc)
		return rc;
	*why = "out of memory";
	rc = vm_space_init(&p->space, VM_SPACE_HOST_USER, 0);
	if (rc)
		return rc;
	rc = uvm_layout(&p->space);
	if (!rc)
		rc = process_load(p, arch_pa_to_kva(m->start), &e);
	if (!rc)
		rc = process_start_block(p, &arg_va);
	if (!rc)
		rc = process_thread_create(p, e.entry, arg_va, arg_va - 8);
	if (rc < 0) {
		vm_space_fini(&p->space);
		return rc;
	}
	return 0;
}

static struct process *process_new(const struct user_desc *d)
{
	struct process *p = kzalloc(sizeof(*p));

	if (!p)
		return NULL;
	p->desc = *d;
	p->pid = proc_count + 1;
	spin_init(&p->lock);
	spin_init(&p->line_lock);
	waitq_init(&p->wq);
	p->mmap_next = KEEL_MMAP_BASE;
	return p;
}

/* ---- The reaper */

static bool process_ended(void *arg)
{
	const struct process *p = arg;

	return __atomic_load_n(&p->live, __ATOMIC_ACQUIRE) == 0;
}

/* Waits for p's last thread, frees its threads and space, prints its verdict. */
static bool process_reap(struct process *p)
{
	unsigned long flags;
	const char *why = "";
	bool ok;
	int rc = waitq_wait(&p->wq, process_ended, p, WAITQ_FOREVER);

	CHECK(rc == 0);
	flags = spin_lock_irqsave(&p->lock); /* a killer's unparks are over */
	spin_unlock_irqrestore(&p->lock, flags);
	for (unsigned tid = 1; tid <= KEEL_THREADS_MAX; tid++) {
		struct uthread *ut = p->thread[tid];

		if (ut) {
			thread_join(ut->t); /* its FPU state goes with it */
			kfree(ut);
		}
	}
	flags = spin_lock_irqsave(&p->line_lock);
	if (p->line_len)
		process_line_flush(p);
	spin_unlock_irqrestore(&p->line_lock, flags);
	ok = user_desc_judge(&p->desc, p->killed, p->reason, p->status, p->not_ok, &why);
	printk("user verdict: %s: %s (%s%s%s, status %lld, %u threads, %llu demand pages)%s%s\n",
	       p->desc.name, ok ? "PASS" : "FAIL", p->killed ? "killed: " : "exited",
	       p->killed ? p->reason : "", "", (long long)p->status, p->ever,
	       (unsigned long long)p->space.fault_count, ok ? "" : ": ", ok ? "" : why);
	vm_space_fini(&p->space);
	return ok;
}

/* Parses the nth user= option and starts it. False (after a FAIL verdict) if it could
 * not start. */
static bool user_start_one(unsigned n)
{
	char buf[256];
	struct user_desc d;
	struct process *p;
	const char *why = "";
	int rc;

	if (!cmdline_get_nth("user", n, buf, sizeof(buf)))
		return true;
	rc = user_desc_parse(buf, &d, &why);
	if (!rc && proc_count == USER_PROCS_MAX) {
		why = "too many user programs";
		rc = -ENOSPC;
	}
	p = rc ? NULL : process_new(&d);
	if (!rc && !p) {
		why = "out of memory";
		rc = -ENOMEM;
	}
	if (!rc)
		rc = process_build(p, &why);
	if (!rc) {
		procs[proc_count++] = p;
		return true;
	}
	printk("user verdict: %s: FAIL (could not start: %s)\n", rc && p ? p->desc.name : buf, why);
	kfree(p);
	return false;
}

bool user_run_programs(void)
{
	bool ok = true;
	unsigned n = 0;
	char buf[8];

	while (cmdline_get_nth("user", n, buf, sizeof(buf)))
		ok &= user_start_one(n++);
	if (!n)
		return true;
	printk("user: %u program(s) running\n", proc_count);
	for (unsigned i = 0; i < proc_count; i++) {
		ok &= process_reap(procs[i]);
		kfree(procs[i]);
	}
	return ok;
}
