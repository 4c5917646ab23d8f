; crt0: the entry of the C guests, assembled twice: -DGUEST_BITS=64 (long mode) and
; -DGUEST_BITS=32 (32-bit protected mode). The linker script puts .text.start first,
; so _start is also the first byte of the flat .bin images.
; Entry (Keel loader): rdi/edi = arg, rsi/esi = vCPU index, rdx/edx = vCPU count, the
; stack pointer 16-byte aligned at the vCPU's stack top. Calls
; guest_main(arg, vcpu, vcpu_count) and ends the guest with its return value.
%include "keel_hypercall.inc"

section .text.start progbits alloc exec nowrite align=16
global _start
extern guest_main

%if GUEST_BITS == 64
bits 64
_start:
	cld				; the C ABI's DF = 0 (rep movsb/stosb in string.c)
	xor ebp, ebp			; end of frame-pointer chains
	call guest_main			; the arguments are already in rdi, rsi, rdx
	movsxd rdi, eax
%else
bits 32
_start:
	cld
	xor ebp, ebp
	sub esp, 4			; keeps 16-byte alignment at the call
	push edx
	push esi
	push edi
	call guest_main
	mov edi, eax
%endif
	mov eax, KEEL_HC_EXIT
	vmcall
.halt:					; not reached: exit ends every vCPU
	hlt
	jmp .halt

section .note.GNU-stack noalloc noexec nowrite progbits
