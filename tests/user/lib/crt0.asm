; crt0 of Keel user programs. The kernel starts the main thread here with rdi = the
; arg= string (in the start block under the stack top) and rsp 16-byte aligned minus 8,
; as after a call. Calls user_main(arg) (runtime.c), which ends the process.
bits 64
default rel

section .text.start progbits alloc exec nowrite align=16
global _start
extern user_main

_start:
	cld                     ; the C ABI's DF = 0
	xor ebp, ebp            ; end of frame-pointer chains
	and rsp, -16
	call user_main
	ud2                     ; not reached: user_main exits

section .note.GNU-stack noalloc noexec nowrite progbits
