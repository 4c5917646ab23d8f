; Real mode -> protected mode -> real mode, made by the guest itself as a boot loader
; does (SDM Vol 3A 10.9.1 "Switching to Protected Mode", 10.9.2 "Switching Back to
; Real-Address Mode"); under unrestricted guest CR0.PE is the guest's (no exit).
; Entered in real mode at 0000:7C00 (mode=real). Then, in protected mode, paging with
; 32-bit tables (CR0.PG, which Keel owns: an exit) and back.
;  1. LGDT, CR0.PE, far jump to a 32-bit code segment: CS is a protected-mode
;     selector and 32-bit code runs (a 32-bit operand without prefix)
;  2. 32-bit paging with a 4 MiB identity page (CR4.PSE, CR0.PG): EFER.LMA stays 0;
;     paging off again
;  3. 16-bit protected-mode segment, CR0.PE cleared, far jump to real mode: CR0.PE
;     reads 0, real-mode segment arithmetic works (DS = 0x07C0 addresses 0x7C00)
; Exits through port 0xF4 with 0x30 when all hold, else 0x31-0x33 for the step.
%define GUEST_REAL_MODE
%include "lib.inc"

%define pd 0x10000			; the page directory, outside the image

start:
	cli
	lgdt [gdtr]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp 0x08:pm32

bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, 0x12345678		; a 32-bit immediate: only decodes so in 32-bit code
	cmp eax, 0x12345678
	jne fail32_1
	mov ax, cs
	cmp ax, 0x08
	jne fail32_1

	; 2. 32-bit paging, 4 MiB page 0 identity.
	cld
	mov edi, pd
	xor eax, eax
	mov ecx, 1024
	rep stosd
	mov dword [pd], 0x83		; P, RW, PS
	mov eax, pd
	mov cr3, eax
	mov eax, cr4
	or eax, 1 << 4			; PSE
	mov cr4, eax
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	mov eax, cr0
	test eax, 1 << 31
	jz fail32_2
	mov ecx, 0xC0000080
	rdmsr
	test eax, 1 << 10
	jnz fail32_2
	mov eax, cr0
	and eax, ~(1 << 31)
	mov cr0, eax

	; 3. Back to real mode through a 16-bit segment.
	jmp 0x18:pm16
fail32_1:
	port_exit 0x31
fail32_2:
	port_exit 0x32

bits 16
pm16:
	mov ax, 0x20			; 16-bit data, 64 KiB limit
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, cr0
	and eax, ~1
	mov cr0, eax
	jmp 0:real_again
real_again:
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	smsw ax
	test al, 1
	jnz .fail3
	mov ax, 0x07C0
	mov ds, ax
	cmp byte [0], 0xFA		; the first byte of the image (cli), at 07C0:0000
	jne .fail4
	xor ax, ax
	mov ds, ax
	uart_puts msg_ok, msg_ok_len
	port_exit 0x30
.fail3:
	port_exit 0x33
.fail4:
	port_exit 0x34

message msg_ok, "realprot: real -> protected (with 32-bit paging) -> real mode"

align 8
gdt:
	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 32-bit code
	dq 0x00CF93000000FFFF		; 0x10 32-bit data
	dq 0x00009B000000FFFF		; 0x18 16-bit code, 64 KiB
	dq 0x000093000000FFFF		; 0x20 16-bit data, 64 KiB
gdt_end:
gdtr:
	dw gdt_end - gdt - 1
	dd gdt
