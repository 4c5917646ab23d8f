; Keel boot entry: Multiboot v1 (a.out kludge) -> 32-bit protected mode -> long mode
; -> higher half. Owns the boot page tables and the boot CPU's initial stack; knows
; nothing of C beyond the kmain signature.
;
; Boot page tables (2 MiB leaves, SDM Vol 3A 4.5):
;   PML4[0]   -> low PDPT  : identity map of 0..4 GiB (only for the jump; dropped in C)
;   PML4[256] -> low PDPT  : direct map, 0xFFFF800000000000 + pa for pa < 4 GiB
;   PML4[511] -> high PDPT : [510] -> PD0: kernel at 0xFFFFFFFF80000000 + pa, pa < 1 GiB

bits 32

KERNEL_VMA      equ 0xFFFFFFFF80000000
MB_MAGIC        equ 0x1BADB002
MB_FLAGS        equ (1 << 0) | (1 << 1) | (1 << 16) ; page-align mods, mem info, a.out kludge
MB_BOOT_MAGIC   equ 0x2BADB002

extern __load_start_pa, __load_end_pa, __bss_end_pa
extern kmain

section .multiboot
align 4
mb_header:
	dd MB_MAGIC
	dd MB_FLAGS
	dd -(MB_MAGIC + MB_FLAGS)
	dd mb_header            ; header_addr (this section is linked at its physical address)
	dd __load_start_pa      ; load_addr
	dd __load_end_pa        ; load_end_addr
	dd __bss_end_pa         ; bss_end_addr
	dd _start32             ; entry_addr

section .boot.text
global _start32
_start32:
	cli
	mov esp, boot_stack32_top
	mov edi, eax            ; Multiboot magic
	mov esi, ebx            ; Multiboot info (physical)
	cmp edi, MB_BOOT_MAGIC
	jne .no_multiboot

	; Long mode available? (CPUID 0x80000001 EDX bit 29)
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_long_mode
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 29
	jz .no_long_mode

	call build_boot_tables

	mov eax, boot_pml4
	mov cr3, eax
	mov eax, cr4
	or eax, (1 << 5)        ; PAE
	mov cr4, eax
	mov ecx, 0xC0000080     ; IA32_EFER
	rdmsr
	or eax, (1 << 8)        ; LME (NXE is set in C after checking CPUID)
	wrmsr
	mov eax, cr0
	or eax, (1 << 31) | (1 << 16) | 1 ; PG, WP, PE
	mov cr0, eax
	lgdt [boot_gdt_ptr]
	jmp 0x08:.long_mode

.no_multiboot:
	mov esi, msg_no_mb
	jmp early_fail
.no_long_mode:
	mov esi, msg_no_lm
	jmp early_fail

bits 64
.long_mode:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor ax, ax
	mov fs, ax
	mov gs, ax
	mov rax, higher_half_entry
	jmp rax

; Fills the boot tables: 4 PDs of 2 MiB leaves (0..4 GiB), shared low PDPT, high PDPT.
bits 32
build_boot_tables:
	mov edi, boot_pd
	xor eax, eax            ; physical address of the current 2 MiB page, low 32 bits
	xor edx, edx            ; high 32 bits
	mov ecx, 2048
.fill_pd:
	mov ebx, eax
	or ebx, 0x83            ; present, writable, page size
	mov [edi], ebx
	mov [edi + 4], edx
	add eax, 0x200000
	adc edx, 0
	add edi, 8
	loop .fill_pd

	mov edi, boot_pdpt_low
	mov eax, boot_pd
	mov ecx, 4
.fill_pdpt:
	mov ebx, eax
	or ebx, 0x03
	mov [edi], ebx
	mov dword [edi + 4], 0
	add eax, 4096
	add edi, 8
	loop .fill_pdpt

	mov eax, boot_pdpt_low
	or eax, 0x03
	mov [boot_pml4], eax
	mov [boot_pml4 + 256 * 8], eax
	mov eax, boot_pdpt_high
	or eax, 0x03
	mov [boot_pml4 + 511 * 8], eax
	mov eax, boot_pd
	or eax, 0x03
	mov [boot_pdpt_high + 510 * 8], eax
	ret

; Prints the NUL-terminated string at esi on COM1 and halts.
early_fail:
	mov dx, 0x3F8
.next:
	lodsb
	test al, al
	jz .halt
	out dx, al
	jmp .next
.halt:
	hlt
	jmp .halt

section .boot.data
align 8
boot_gdt:
	dq 0
	dq 0x00AF9A000000FFFF   ; 0x08: 64-bit code
	dq 0x00CF92000000FFFF   ; 0x10: data
boot_gdt_end:
boot_gdt_ptr:
	dw boot_gdt_end - boot_gdt - 1
	dd boot_gdt
msg_no_mb: db "KEEL PANIC: not loaded by a Multiboot loader", 13, 10, 0
msg_no_lm: db "KEEL PANIC: CPU has no long mode (x86-64)", 13, 10, 0

section .boot.bss nobits
align 4096
global boot_pml4
boot_pml4:      resb 4096
global boot_pdpt_low
boot_pdpt_low:  resb 4096
boot_pdpt_high: resb 4096
boot_pd:        resb 4 * 4096
boot_stack32:   resb 1024
boot_stack32_top:

section .text
bits 64
higher_half_entry:
	mov rsp, boot_stack_top
	xor ebp, ebp
	; rdi = magic, rsi = info (zero-extended by the 32-bit moves above)
	mov edi, edi
	mov esi, esi
	call kmain
.hang:
	cli
	hlt
	jmp .hang

section .bss
align 16
global boot_stack
boot_stack: resb 16384
boot_stack_top:
