/*
 * IDT and exception handling. An exception is resolved, in order, by: a registered
 * handler (NMI), the exception-fixup table (probing instructions such as rdmsr_safe),
 * an armed trap_catch (tests that raise exceptions on purpose); anything else is fatal:
 * a readable dump (vector name, error code, CR2, registers, symbolised frame-pointer
 * backtrace) and panic. Gate layout: SDM Vol 3A 6.14.1.
 */
#include <arch/cpu.h>
#include <arch/x86.h>
#include <keel/check.h>
#include <keel/errno.h>
#include <keel/printk.h>
#include <keel/sched.h>
#include <keel/user.h>

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __packed;

struct extable_entry {
	uint64_t fault_rip, fixup_rip;
};

extern const uint64_t isr_table[256];
extern const struct extable_entry __extable_start[], __extable_end[];

static struct idt_gate idt[256] __aligned(16);
static irq_handler_t handlers[256];
static uint64_t spurious_count;

static const char *const exc_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM device not available",
	"#DF double fault",
	"coprocessor overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 FP error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD FP",
	"#VE virtualization",
	"#CP control protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV hypervisor injection",
	"#VC VMM communication",
	"#SX security",
	"reserved 31",
};

static void idt_set_gate(unsigned v, uint64_t off, uint8_t ist)
{
	idt[v] = (struct idt_gate){
		.off_lo = off & 0xFFFF,
		.sel = SEL_KCODE,
		.ist = ist,
		.type = 0x8E, /* present, DPL 0, 64-bit interrupt gate */
		.off_mid = (off >> 16) & 0xFFFF,
		.off_hi = off >> 32,
	};
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++)
		idt_set_gate(v, isr_table[v], 0);
	/* INT3 and INTO from user mode raise #BP and #OF (DPL 3), not #GP (SDM Vol 3A 6.12.1.1) */
	idt[3].type = idt[4].type = 0xEE;
	idt[8].ist = IST_DOUBLE_FAULT;
	idt[2].ist = IST_NMI;
	idt[18].ist = IST_MACHINE_CHECK;
}

void idt_load(void)
{
	struct __packed {
		uint16_t limit;
		uint64_t base;
	} ptr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ __volatile__("lidt %0" ::"m"(ptr));
}

void irq_set_handler(uint8_t vector, irq_handler_t h)
{
	CHECK(vector >= 32 || vector == 2);
	__atomic_store_n(&handlers[vector], h, __ATOMIC_RELEASE);
}

const char *trap_vector_name(unsigned v)
{
	return v < 32 ? exc_names[v] : "interrupt";
}

int trap_catch_arm(struct trap_catch *c)
{
	c->vector = c->error = c->cr2 = c->fault_rip = c->fault_rsp = 0;
	this_cpu()->catch = c;
	return 0;
}

void trap_uncatch(void)
{
	this_cpu()->catch = NULL;
}

/* Resumes the armed catch context: trap_catch returns vector + 1. */
static void catch_fire(struct trap_catch *c, struct trap_frame *tf)
{
	this_cpu()->catch = NULL;
	c->vector = tf->vector;
	c->error = tf->error;
	c->cr2 = tf->vector == 14 ? read_cr2() : 0;
	c->fault_rip = tf->rip;
	c->fault_rsp = (uint64_t)tf; /* where the frame landed: shows IST use */
	tf->rip = c->rip;
	tf->rsp = c->rsp;
	tf->rbp = c->rbp;
	tf->rbx = c->rbx;
	tf->r12 = c->r12;
	tf->r13 = c->r13;
	tf->r14 = c->r14;
	tf->r15 = c->r15;
	tf->rax = tf->vector + 1;
	tf->cs = SEL_KCODE;
	tf->ss = SEL_KDATA;
	tf->rflags &= ~0x100ull; /* a single-step #DB must not fire again */
}

static bool extable_fixup(struct trap_frame *tf)
{
	size_t n = SECTION_COUNT(__extable_start, __extable_end);
	for (size_t i = 0; i < n; i++) {
		if (__extable_start[i].fault_rip == tf->rip) {
			tf->rip = __extable_start[i].fixup_rip;
			return true;
		}
	}
	return false;
}

void trap_dump(const struct trap_frame *tf)
{
	uint64_t off = 0;
	const char *sym = ksym_lookup(tf->rip, &off);
	printk(KERN_EMERG "%s (vector %llu) error 0x%llx on CPU %u\n", trap_vector_name(tf->vector),
	       (unsigned long long)tf->vector, (unsigned long long)tf->error, arch_cpu_id());
	printk(KERN_EMERG "RIP %016llx %s+0x%llx  CS %llx RFLAGS %016llx\n",
	       (unsigned long long)tf->rip, sym ? sym : "?", (unsigned long long)off,
	       (unsigned long long)tf->cs, (unsigned long long)tf->rflags);
	printk(KERN_EMERG "RSP %016llx SS %llx CR2 %016llx CR3 %016llx\n",
	       (unsigned long long)tf->rsp, (unsigned long long)tf->ss,
	       (unsigned long long)read_cr2(), (unsigned long long)read_cr3());
	printk(KERN_EMERG "RAX %016llx RBX %016llx RCX %016llx RDX %016llx\n",
	       (unsigned long long)tf->rax, (unsigned long long)tf->rbx,
	       (unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
	printk(KERN_EMERG "RSI %016llx RDI %016llx RBP %016llx R8  %016llx\n",
	       (unsigned long long)tf->rsi, (unsigned long long)tf->rdi,
	       (unsigned long long)tf->rbp, (unsigned long long)tf->r8);
	printk(KERN_EMERG "R9  %016llx R10 %016llx R11 %016llx R12 %016llx\n",
	       (unsigned long long)tf->r9, (unsigned long long)tf->r10, (unsigned long long)tf->r11,
	       (unsigned long long)tf->r12);
	printk(KERN_EMERG "R13 %016llx R14 %016llx R15 %016llx\n", (unsigned long long)tf->r13,
	       (unsigned long long)tf->r14, (unsigned long long)tf->r15);
	if (tf->vector == 14)
		printk(KERN_EMERG "page fault: %s, %s, %s%s\n",
		       tf->error & 1 ? "protection violation" : "not present",
		       tf->error & 2 ? "write" : "read",
		       tf->error & 16 ? "instruction fetch" : "data access",
		       tf->error & 8 ? ", reserved bit set in a paging entry" : "");
	backtrace_print(tf->rip, tf->rbp);
}

void trap_handler(struct trap_frame *tf)
{
	unsigned v = (unsigned)tf->vector;
	irq_handler_t h = __atomic_load_n(&handlers[v], __ATOMIC_ACQUIRE);
	if (v >= 32) {
		this_cpu()->irq_count++;
		if (h)
			h(tf);
		else
			spurious_count++;
		sched_irq_exit(); /* the tick may have ended the slice */
		if (trap_from_user(tf))
			user_return();
		return;
	}
	if (trap_from_user(tf) && v != 2 && v != 8 && v != 18) {
		trap_user_exception(tf); /* a user program never panics the kernel */
		return;
	}
	if (trap_is_bad_user_return(tf))
		user_kill("return to a non-canonical address 0x%llx",
			  (unsigned long long)*(const uint64_t *)tf->rsp); /* the IRETQ frame */
	if (v == 2 && h && !this_cpu()->catch) { /* an armed catch means a test raised it */
		h(tf);
		return;
	}
	if (extable_fixup(tf))
		return;
	struct trap_catch *c = this_cpu()->catch;
	if (c) {
		catch_fire(c, tf);
		return;
	}
	printk_break_lock();
	printk(KERN_EMERG "\nKEEL PANIC: unhandled exception\n");
	trap_dump(tf);
	panic("unhandled %s at %llx", trap_vector_name(v), (unsigned long long)tf->rip);
}

/*
 * The fixup for an instruction labelled 1: when it faults, execution resumes after it
 * (label 2) with %[err] = %[efault]. The extable entry pairs 1 with the fixup code.
 */
#define EXTABLE_EFAULT                   \
	"2:\n"                           \
	".pushsection .fixup, \"ax\"\n"  \
	"3: mov %[efault], %[err]\n"     \
	"   jmp 2b\n"                    \
	".popsection\n"                  \
	".pushsection .extable, \"a\"\n" \
	"   .balign 8\n"                 \
	"   .quad 1b, 3b\n"              \
	".popsection\n"

/* rdmsr/wrmsr with an extable entry: a #GP on an unknown MSR returns -EFAULT. */
int rdmsr_safe(uint32_t msr, uint64_t *val)
{
	uint32_t lo = 0, hi = 0;
	int err = 0;
	__asm__ __volatile__("1: rdmsr\n" EXTABLE_EFAULT
			     : "+a"(lo), "+d"(hi), [err] "+r"(err)
			     : "c"(msr), [efault] "i"(-EFAULT));
	*val = ((uint64_t)hi << 32) | lo;
	return err;
}

int probe_read_u64(const void *p, uint64_t *out)
{
	uint64_t v = 0;
	int err = 0;
	__asm__ __volatile__("1: movq (%[p]), %[v]\n" EXTABLE_EFAULT
			     : [v] "+r"(v), [err] "+r"(err)
			     : [p] "r"(p), [efault] "i"(-EFAULT));
	if (!err)
		*out = v;
	return err;
}

int wrmsr_safe(uint32_t msr, uint64_t val)
{
	int err = 0;
	__asm__ __volatile__("1: wrmsr\n" EXTABLE_EFAULT
			     : [err] "+r"(err)
			     : "c"(msr), "a"((uint32_t)val),
			       "d"((uint32_t)(val >> 32)), [efault] "i"(-EFAULT)
			     : "memory");
	return err;
}
