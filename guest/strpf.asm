; strpf: a REP INSB whose buffer runs into a page the guest's own tables mark not
; present: Keel must deliver #PF (CR2 the first byte not reached, error code "write to
; a non-present page") with RDI and RCX saying how far it got, and the instruction
; must finish after the handler maps the page again. The guest clears the present bit
; of its 2 MiB page at 2 MiB (Keel's identity tables, PD at 0x3000) and keeps its stack
; and IDT below it. Exits through port 0xF4 with 0 when all hold (status 1), else the
; failed step 1-4.
%include "lib.inc"

PD		equ 0x3000
BUF		equ 0x200000 - 8	; 8 bytes before the page, 8 in it

start:
	mov rsp, stack_top
	lea rax, [pf_handler]		; IDT gate 14: 64-bit interrupt gate, CS 0x08
	mov [idt + 14 * 16], ax
	mov word [idt + 14 * 16 + 2], 0x08
	mov word [idt + 14 * 16 + 4], 0x8E00
	shr rax, 16
	mov [idt + 14 * 16 + 6], ax
	shr rax, 16
	mov [idt + 14 * 16 + 8], eax
	lidt [idtr]
	mov rdi, BUF			; fill the buffer with 0xEE while it is mapped
	mov ecx, 16
	mov al, 0xEE
	rep stosb
	and qword [PD + 8], ~1		; 2 MiB - 4 MiB: not present
	invlpg [0x200000]

	mov dx, 0x510			; fw_cfg RAM_SIZE: 8 bytes, then zeros
	mov ax, 3
	out dx, ax
	mov rdi, BUF
	mov ecx, 16
	mov dx, 0x511
	cld
	rep insb
	cmp dword [faults], 1		; 1: exactly one #PF
	jne fail1
	mov rax, 0x200000		; 2: CR2, error code, RDI/RCX at the fault
	cmp [fault_cr2], rax
	jne fail2
	cmp qword [fault_err], 2	; W/R = 1, P = 0
	jne fail2
	cmp [fault_rdi], rax
	jne fail2
	cmp qword [fault_rcx], 8
	jne fail2
	test rcx, rcx			; 3: the instruction finished
	jnz fail3
	mov rax, BUF + 16
	cmp rdi, rax
	jne fail3
	mov rax, [BUF]			; 4: the bytes: RAM_SIZE of mem=4M, then zeros
	cmp rax, 4 << 20
	jne fail4
	cmp qword [BUF + 8], 0
	jne fail4
	port_exit 0
fail1:	port_exit 1
fail2:	port_exit 2
fail3:	port_exit 3
fail4:	port_exit 4

pf_handler:				; error code on the stack; maps the page again
	inc dword [faults]
	pop qword [fault_err]
	mov [fault_rdi], rdi
	mov [fault_rcx], rcx
	push rax
	mov rax, cr2
	mov [fault_cr2], rax
	or qword [PD + 8], 1
	invlpg [0x200000]
	pop rax
	iretq

align 8
faults:		dq 0
fault_err:	dq 0
fault_cr2:	dq 0
fault_rdi:	dq 0
fault_rcx:	dq 0
idtr:		dw 15 * 16 - 1
		dq idt
align 16
idt:		times 15 * 16 db 0
		times 4096 db 0
stack_top:
