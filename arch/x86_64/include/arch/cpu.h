/*
 * Per-CPU state of the x86-64 kernel, reached through GS base: %gs:0 holds the
 * struct's own address. Owns the layout of the trap frame pushed by isr.asm.
 */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <keel/arch.h>
#include <keel/compiler.h>

/* Interrupt vectors (0-31 exceptions; 0x20-0x2F the masked legacy PIC). */
#define VEC_LAPIC_TIMER 0xF0
#define VEC_IPI_CALL 0xF1 /* cross-CPU function call (kernel/smp_call.c) */
#define VEC_IPI_TEST 0xF2 /* IPI delivery test */
#define VEC_IPI_STOP 0xF3 /* panic: stop all other CPUs */
#define VEC_SPURIOUS 0xFF
#define VEC_SYSCALL 0x100 /* not a vector: marks a SYSCALL frame (syscall.asm) */

/* GDT slots (selectors in x86.h). */
#define GDT_ENTRIES 9
#define GDT_SPARE 8

/* Saved by isr.asm (and the SYSCALL entry, syscall.asm); layout fixed by the push
 * order there. gs_swapped: the entry swapped GS to the kernel's (trap_exit swaps back). */
struct trap_frame {
	uint64_t gs_swapped, pad;
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iopb;
} __packed;

#define IST_DOUBLE_FAULT 1
#define IST_NMI 2
#define IST_MACHINE_CHECK 3
#define IST_STACK_SIZE 8192
#define KSTACK_SIZE 16384

/* A armed "catch" lets a test or probe survive an expected exception (trap_catch). */
struct trap_catch {
	uint64_t rsp, rbp, rbx, r12, r13, r14, r15, rip; /* jump context */
	volatile uint64_t vector, error, cr2, fault_rip, fault_rsp;
};

/* Lock legend: [c] const once online  [p] owning CPU only  [a] atomic */
struct cpu {
	struct cpu *self;	   /* [c] must stay first: %gs:0 */
	unsigned id;		   /* [c] dense index */
	uint32_t apic_id;	   /* [c] */
	volatile bool online;	   /* [a] set by the CPU itself when ready */
	uint8_t *kstack_top;	   /* [c] */
	struct trap_catch *catch;  /* [p] armed catch, or NULL */
	uint64_t irq_count;	   /* [p] interrupts taken */
	uint64_t ipi_test_count;   /* [a] VEC_IPI_TEST received */
	unsigned preempt_count;	   /* [p] kernel/sched.c: switch only at 0 (arch_preempt_*) */
	uint64_t syscall_rsp;	   /* [p] kernel stack top of the running thread (SYSCALL) */
	uint64_t user_rsp;	   /* [p] scratch: user RSP during the SYSCALL entry */
	uint64_t gdt[GDT_ENTRIES]; /* [c] see GDT_* (x86.h); GDT_SPARE is for tests */
	struct tss tss;		   /* [c] */
	uint8_t ist_stacks[3][IST_STACK_SIZE] __aligned(16);
};

extern struct cpu cpus[MAX_CPUS];
extern unsigned cpu_count; /* CPUs found (BSP is index 0) */

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ __volatile__("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* Loads GDT/TSS/IDT and GS base for c on the running CPU (BSP at boot, APs at entry). */
void cpu_init_this(struct cpu *c);

typedef void (*irq_handler_t)(struct trap_frame *tf);
/* Installs the handler for an interrupt vector >= 32 (not exceptions). */
void irq_set_handler(uint8_t vector, irq_handler_t h);

/* Arms a catch: returns 0 now, and nonzero (the vector + 1) if an exception on this
 * CPU is then raised before trap_uncatch. Like setjmp; the caller must not return
 * while armed. */
int trap_catch(struct trap_catch *c) __attribute__((returns_twice));
void trap_uncatch(void);

/* User mode (user_entry.c): the frame came from ring 3; an exception there (not NMI,
 * #DF, #MC), resolved or ending the process; the #GP of trap_exit's IRETQ to a bad
 * user frame. */
bool trap_from_user(const struct trap_frame *tf);
void trap_user_exception(struct trap_frame *tf);
bool trap_is_bad_user_return(const struct trap_frame *tf);
const char *trap_vector_name(unsigned v);

void idt_init(void);
void idt_load(void);
void trap_dump(const struct trap_frame *tf);
/* Prints a frame-pointer backtrace starting at rbp. */
void backtrace_print(uint64_t rip, uint64_t rbp);
/* Name of the kernel symbol containing addr, and the offset into it; NULL if none. */
const char *ksym_lookup(uint64_t addr, uint64_t *offset);

#endif
