; Interrupt and exception entry stubs: one per vector, all ending in trap_common, which
; saves the general registers as a struct trap_frame (arch/x86_64/include/arch/cpu.h) and calls
; trap_handler(frame); trap_exit returns through the frame (SWAPGS around user mode).
bits 64
default rel

%include "frame.inc"

extern trap_handler
extern trap_catch_arm

section .text

; Vectors whose exceptions push an error code (SDM Vol 3A 6.15, Table 6-1).
%define HAS_ERR(v) ((v) == 8 || (v) == 10 || (v) == 11 || (v) == 12 || (v) == 13 || (v) == 14 || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

%macro ISR 1
align 16
isr_%1:
%if !HAS_ERR(%1)
	push 0
%endif
	push %1
	jmp trap_common
%endmacro

%assign v 0
%rep 256
ISR v
%assign v v + 1
%endrep

; The frame as struct trap_frame (arch/x86_64/include/arch/cpu.h): the CPU's five words,
; error code and vector, the 15 general registers, a pad word and gs_swapped. Entries
; from user mode SWAPGS to the kernel's GS base and back on the way out (gs_swapped =
; 1). So do exceptions taken in the kernel while GS still holds the user's base: the
; only ones possible are an NMI, #MC or #DF in the few instructions around SWAPGS on
; entry or exit, and the #GP of an IRETQ to a bad user frame; the kernel's GS base is
; in the upper half, so reading IA32_GS_BASE tells (an interrupt, >= 32, arrives in
; kernel mode only with IF = 1, outside those windows).
trap_common:
	cld
	PUSH_GPRS
	test byte [rsp + 144], 3        ; CS of the interrupted context: its RPL
	jnz .from_user
	cmp qword [rsp + 120], 32
	jae .kernel_gs
	mov ecx, 0xC0000101             ; IA32_GS_BASE
	rdmsr
	test edx, edx
	js .kernel_gs
.from_user:
	swapgs
	push 0                          ; pad: keeps the call 16-byte aligned
	push 1
	jmp .handle
.kernel_gs:
	push 0
	push 0
.handle:
	mov rdi, rsp
	call trap_handler
; The way out of every trap frame, also for user threads entering user mode the first
; time (arch_user_enter) and for SYSCALL returns that cannot use SYSRET.
global trap_exit
trap_exit:
	cli                             ; handlers of user traps ran with interrupts on
	pop rax                         ; gs_swapped
	add rsp, 8                      ; pad
	test rax, rax
	jz .restore
	swapgs
.restore:
	POP_GPRS
	add rsp, 16                     ; vector, error code
; A #GP here is an IRETQ to a bad user frame (non-canonical RIP): trap.c ends the thread.
global trap_iretq
trap_iretq:
	iretq

; __noreturn void arch_user_enter(struct trap_frame *tf): leaves for user mode through
; the frame (built on top of the thread's kernel stack).
global arch_user_enter
arch_user_enter:
	mov rsp, rdi
	jmp trap_exit

; int trap_catch(struct trap_catch *c): saves the caller's context into c and arms it
; on this CPU (trap_catch_arm returns 0 to our caller). An exception while armed
; resumes here with eax = vector + 1 (see trap_handler).
global trap_catch
trap_catch:
	mov rax, [rsp]
	mov [rdi + 56], rax     ; rip: our return address
	lea rax, [rsp + 8]
	mov [rdi + 0], rax      ; rsp after the return
	mov [rdi + 8], rbp
	mov [rdi + 16], rbx
	mov [rdi + 24], r12
	mov [rdi + 32], r13
	mov [rdi + 40], r14
	mov [rdi + 48], r15
	jmp trap_catch_arm

section .rodata
align 8
global isr_table
isr_table:
%assign v 0
%rep 256
	dq isr_ %+ v
%assign v v + 1
%endrep
