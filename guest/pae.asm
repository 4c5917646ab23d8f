; A 32-bit kernel with PAE paging (SDM Vol 3A 4.4), outside long mode: the four PDPTEs
; are loaded when paging starts (Keel loads them into the VMCS: SDM Vol 3C 27.3.2.4)
; and when CR3 changes (the CPU, without an exit). Entered in 32-bit protected mode with
; paging off (mode=32, or QEMU -kernel).
;  1. CR0.PG with a PDPT whose entry 3 has a reserved bit set raises #GP (Vol 3A
;     4.4.1; QEMU TCG loads no PDPTEs and takes the write: accepted only when not
;     under Keel, and paging is turned off again)
;  2. a good PDPT: paging on; linear 0x40000000 (PDPTE 1) aliases physical 0, so a
;     store there reads back at its physical address; CR4.PGE on while paging
;  3. MOV to CR3 of a second PDPT whose PDPTE 1 maps 0x40000000 to physical 0x200000:
;     a store there lands at 0x200000 (read with paging off again)
; Prints a line and ends through port 0xF4 with 0, or the number of the failed step.
%include "lib.inc"
%include "cpu32.inc"

%define PAE (1 << 5)
%define PGE (1 << 7)
%define PG (1 << 31)

start:
	cpu32_init
	call detect_keel
	call build_tables
	mov eax, cr4
	or eax, PAE
	mov cr4, eax

	; 1. Reserved bit in a PDPTE: #GP at CR0.PG.
	mov eax, pdpt_bad
	mov cr3, eax
	mov dword [exc_count], 0
	mov dword [resume], after_1
	mov eax, cr0
	or eax, PG
	mov cr0, eax
	cmp dword [on_keel], 0
	jne fail_1
	mov eax, cr0
	and eax, ~PG
	mov cr0, eax
	jmp step_2
after_1:
	cmp dword [exc_count], 1
	jne fail_1
	mov eax, cr0
	test eax, PG
	jnz fail_1

step_2:
	; 2. PAE paging with the good PDPT; an alias at 0x40000000.
	mov eax, pdpt
	mov cr3, eax
	mov eax, cr0
	or eax, PG
	mov cr0, eax
	mov eax, cr0
	test eax, PG
	jz fail_2
	mov eax, cr4
	or eax, PGE
	mov cr4, eax
	mov dword [0x40000000 + probe], 0x12345678
	cmp dword [probe], 0x12345678
	jne fail_2

	; 3. CR3 switch (no exit): PDPTE 1 now maps 0x40000000 to 0x200000.
	mov eax, pdpt2
	mov cr3, eax
	mov dword [0x40000000], 0xCAFEF00D
	mov eax, cr0
	and eax, ~PG
	mov cr0, eax
	cmp dword [0x200000], 0xCAFEF00D
	jne fail_3
	cmp dword [probe], 0x12345678
	jne fail_3

	uart_puts msg_ok, msg_ok_len
	port_exit 0
fail_1:
	port_exit 1
fail_2:
	port_exit 2
fail_3:
	port_exit 3

; PD0: identity 0-1 GiB (2 MiB pages); PD1: 0x40000000 -> 0; PD2: 0x40000000 ->
; 0x200000. pdpt: PD0, PD1; pdpt2: PD0, PD2; pdpt_bad: pdpt plus entry 3 with bit 5.
build_tables:
	xor ecx, ecx
.pd0:
	mov eax, ecx
	shl eax, 21
	or eax, 0x83			; P, RW, PS
	mov [pd0 + ecx * 8], eax
	inc ecx
	cmp ecx, 512
	jne .pd0
	mov dword [pd1], 0x83
	mov dword [pd2], 0x200000 | 0x83
	mov dword [pdpt], pd0 + 1	; PDPTE: P only (RW/US are reserved here)
	mov dword [pdpt + 8], pd1 + 1
	mov dword [pdpt2], pd0 + 1
	mov dword [pdpt2 + 8], pd2 + 1
	mov dword [pdpt_bad], pd0 + 1
	mov dword [pdpt_bad + 8], pd1 + 1
	mov dword [pdpt_bad + 24], pd1 + 1 + (1 << 5)
	ret

message msg_ok, "pae: PAE paging on with PDPTEs checked and loaded, aliases through two PDPTs"

align 4
probe: dd 0
align 32
pdpt: times 4 dq 0
pdpt2: times 4 dq 0
pdpt_bad: times 4 dq 0
align 4096
pd0: times 4096 db 0
pd1: times 4096 db 0
pd2: times 4096 db 0
image_end:
