; AP start-up trampoline. smp.c copies trampoline_start..trampoline_end to physical
; TRAMP_BASE (0x8000) and fills trampoline_data; a Startup IPI with vector 0x08 starts
; an AP here in real mode at CS:IP = 0800:0000 (SDM Vol 3A 9.4.4 "MP Initialization
; Example", 11.6.1 for the SIPI vector). The code goes real mode -> protected mode ->
; long mode (SDM Vol 3A 10.8.5 "Initializing IA-32e Mode": PAE, CR3, EFER.LME, then
; CR0.PG) on page tables of its own below 4 GiB (identity map of the low 2 MiB plus the
; kernel's upper-half PML4 entries; smp.c builds them), then calls the C entry with the
; stack and argument smp.c left in trampoline_data.
; The code is assembled into .rodata and never runs where it is linked: every address
; it uses is computed for TRAMP_BASE with T().

TRAMP_BASE      equ 0x8000
DIRECT_MAP_BASE equ 0xFFFF800000000000
%define T(x) (TRAMP_BASE + (x) - trampoline_start)

section .rodata
align 16
global trampoline_start, trampoline_end, trampoline_data

bits 16
trampoline_start:
	cli
	cld
	mov ax, cs                      ; 0x0800
	mov ds, ax
	lgdt [tr_gdtr - trampoline_start]
	mov eax, cr0
	or eax, 1                       ; PE
	mov cr0, eax
	jmp dword 0x08:T(tr_pm32)

bits 32
tr_pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, cr4
	or eax, 1 << 5                  ; PAE
	mov cr4, eax
	mov eax, [T(tr_cr3)]
	mov cr3, eax
	mov ecx, 0xC0000080             ; IA32_EFER: the BSP's LME, NXE, SCE
	mov eax, [T(tr_efer)]
	xor edx, edx
	wrmsr
	mov eax, [T(tr_cr0)]            ; the BSP's CR0: PG, PE, WP, NE; CD and NW clear
	mov cr0, eax
	jmp 0x18:T(tr_lm64)

bits 64
tr_lm64:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	; Same GDT, addressed through the direct map, so it stays reachable after the C
	; entry switches to the kernel's page tables (which have no identity map).
	lgdt [T(tr_gdtr64)]
	mov rsp, [T(tr_stack)]
	mov rdi, [T(tr_arg)]
	mov dword [T(tr_alive)], 1
	xor ebp, ebp
	mov rax, [T(tr_entry)]
	call rax                        ; never returns
.hang:
	cli
	hlt
	jmp .hang

align 8
tr_gdt:
	dq 0
	dq 0x00CF9A000000FFFF           ; 0x08: 32-bit code
	dq 0x00CF92000000FFFF           ; 0x10: data
	dq 0x00AF9A000000FFFF           ; 0x18: 64-bit code
tr_gdt_end:
tr_gdtr:
	dw tr_gdt_end - tr_gdt - 1
	dd T(tr_gdt)
align 8
	dw 0, 0, 0                      ; pads tr_gdtr64's base to 8 bytes
tr_gdtr64:
	dw tr_gdt_end - tr_gdt - 1
	dq DIRECT_MAP_BASE + T(tr_gdt)

; Filled by smp.c (struct trampoline_data): keep the two layouts in step.
align 8
trampoline_data:
tr_cr3:   dd 0                      ; trampoline PML4, physical, below 4 GiB
tr_efer:  dd 0
tr_cr0:   dd 0
tr_alive: dd 0                      ; set by the AP once in long mode
tr_stack: dq 0
tr_arg:   dq 0
tr_entry: dq 0
trampoline_end:
