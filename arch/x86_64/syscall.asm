; The SYSCALL entry (SDM Vol 2B SYSCALL, SYSRET; MSRs set in cpu.c). SYSCALL leaves
; RSP as the user's, puts RIP in RCX and RFLAGS in R11 and clears the RFLAGS bits of
; IA32_FMASK (IF, TF, DF, AC, NT): interrupts stay off until the kernel stack is in
; place. The entry builds the same struct trap_frame as isr.asm (vector VEC_SYSCALL),
; so a return can always go through trap_exit's IRETQ instead of SYSRET.
bits 64
default rel

%include "frame.inc"

extern syscall_handler
extern trap_exit

%define CPU_SYSCALL_RSP 64      ; struct cpu fields (asserted in cpu.c)
%define CPU_USER_RSP 72
%define SEL_UDATA (0x20 | 3)
%define SEL_UCODE (0x28 | 3)
%define VEC_SYSCALL 0x100
%define FRAME_RIP 152           ; offsets in struct trap_frame
%define FRAME_RFLAGS 168
%define FRAME_RSP 176

section .text

global syscall_entry
syscall_entry:
	swapgs
	mov [gs:CPU_USER_RSP], rsp
	mov rsp, [gs:CPU_SYSCALL_RSP]
	push SEL_UDATA                  ; ss
	push qword [gs:CPU_USER_RSP]    ; rsp
	push r11                        ; rflags
	push SEL_UCODE                  ; cs
	push rcx                        ; rip
	push 0                          ; error code
	push VEC_SYSCALL
	PUSH_GPRS
	push 0                          ; pad
	push 1                          ; gs_swapped
	mov rdi, rsp
	sti
	call syscall_handler
	cli
	; SYSRET to a non-canonical RIP raises #GP in ring 0 with the user's RSP already
	; loaded (SDM Vol 2B SYSRET, and Vol 3A 6.14.2 on why that stack is unusable): such
	; a return takes IRETQ instead, whose #GP comes with a good kernel stack (trap.c
	; ends the thread). A canonical lower-half RIP has bits 63:47 all zero.
	mov rcx, [rsp + FRAME_RIP]
	mov r11, rcx
	shr r11, 47
	jnz trap_exit
	add rsp, 16                     ; gs_swapped, pad
	POP_GPRS
	mov rcx, [rsp + FRAME_RIP - 136]    ; rsp now at the vector word
	mov r11, [rsp + FRAME_RFLAGS - 136]
	mov rsp, [rsp + FRAME_RSP - 136]
	swapgs
	o64 sysret
