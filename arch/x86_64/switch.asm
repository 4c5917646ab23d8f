; Kernel thread context switch (kernel/sched.c). Only the callee-saved registers of the
; SysV ABI live across a call, so a switch saves those and the stack pointer; the
; caller-saved ones are dead at the call, and RFLAGS (interrupts off during every
; switch) and the FPU state (user threads only: arch/x86_64/thread.c) are handled by
; the callers.
bits 64
default rel

extern sched_thread_start

section .text

; void arch_context_switch(uint64_t *prev_ksp, uint64_t next_ksp)
global arch_context_switch
arch_context_switch:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	mov [rdi], rsp
	mov rsp, rsi
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret

; Where a new thread's first switch returns to (arch_thread_init builds that frame):
; a zero frame pointer ends backtraces here.
global arch_thread_entry
arch_thread_entry:
	xor ebp, ebp
	call sched_thread_start
	ud2
