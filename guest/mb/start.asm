; The entry of the Multiboot test kernels (guest/mb): a Multiboot v1 header (spec 3.1.1)
; and _start, entered as QEMU -kernel (or GRUB, or Keel's Multiboot handoff) enters such a
; kernel: 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the info block.
; Sets a stack, calls mb_main(magic, info) and ends with mb_exit(its return value).
; Nothing here knows Keel: these kernels are what a user already has for QEMU.

MB_MAGIC	equ 0x1BADB002
MB_FLAGS	equ 0x00000003		; bit 0: modules page-aligned, bit 1: memory info

section .multiboot progbits alloc noexec nowrite align=4
	dd MB_MAGIC
	dd MB_FLAGS
	dd -(MB_MAGIC + MB_FLAGS)

section .text.start progbits alloc exec nowrite align=16
bits 32
global _start
extern mb_main, mb_exit
_start:
	cld
	mov esp, mb_stack_top
	xor ebp, ebp
	sub esp, 8			; 16-byte alignment at the call
	push ebx
	push eax
	call mb_main
	add esp, 16
	push eax
	call mb_exit			; does not return
.halt:
	cli
	hlt
	jmp .halt

section .bss nobits alloc noexec write align=16
	resb 16384
mb_stack_top:

section .note.GNU-stack noalloc noexec nowrite progbits
