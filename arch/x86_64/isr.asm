; Interrupt and exception entry stubs: one per vector, all ending in trap_common, which
; saves the general registers as a struct trap_frame (arch/x86_64/include/arch/cpu.h) and calls
; trap_handler(frame). Kernel-only for now: no SWAPGS (no user mode yet).
bits 64
default rel

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

trap_common:
	cld
	push rax
	push rbx
	push rcx
	push rdx
	push rsi
	push rdi
	push rbp
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	mov rdi, rsp
	call trap_handler
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rbp
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16             ; vector, error code
	iretq

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
