; A 32-bit kernel that switches to long mode itself and back, as Multiboot kernels
; written for QEMU do (SDM Vol 3A 10.8.5 "Initializing IA-32e Mode", 10.8.5.4
; "Switching Out of IA-32e Mode Operation"). Entered in 32-bit protected mode with
; paging off (mode=32, or QEMU -kernel). Twice: builds nothing new the second time,
; checks the switches repeat.
;  1. CR0.PG with EFER.LME set and CR4.PAE clear raises #GP (QEMU TCG ignores the
;     write instead: accepted only when CPUID does not say Keel)
;  2. CR4.PAE, then CR0.PG: EFER.LMA reads 1 (IA-32e mode active)
;  3. clearing EFER.LME while paging is on raises #GP (compatibility mode: 64-bit IDT;
;     QEMU TCG takes the write: accepted only when not under Keel)
;  4. far jump to a 64-bit code segment: 64-bit arithmetic works
;  5. in 64-bit mode, clearing CR0.PG raises #GP (64-bit IDT; not tried under QEMU
;     TCG, which lets it through)
;  6. back to compatibility mode, CR0.PG off: EFER.LMA reads 0, EFER.LME can be cleared
; Prints a line in 64-bit mode and one back in 32-bit mode; ends through port 0xF4
; with 0, or the number of the failed step (+10 on the second round).
%include "lib.inc"
%include "cpu32.inc"

%define EFER 0xC0000080

start:
	cpu32_init
	call detect_keel
	call build_tables
	mov dword [round], 0
again:
	; 1. LME set (paging off: allowed), PG without PAE: #GP.
	mov ecx, EFER
	rdmsr
	or eax, 1 << 8
	wrmsr
	mov eax, pml4
	mov cr3, eax
	mov dword [exc_count], 0
	mov dword [resume], after_1
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	; QEMU TCG ignores this write instead of raising #GP (its cpu_x86_update_cr0:
	; "XXX: generate an exception"): accepted only when not under Keel.
	cmp dword [on_keel], 0
	jne fail_1
	mov eax, cr0
	test eax, 1 << 31
	jnz fail_1
	jmp step_2
after_1:
	cmp dword [exc_count], 1
	jne fail_1
step_2:

	; 2. PAE then PG: long mode is active.
	mov eax, cr4
	or eax, 1 << 5
	mov cr4, eax
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	mov ecx, EFER
	rdmsr
	test eax, 1 << 10
	jz fail_2

	; 3. LME cannot change while paging is on. IA-32e mode (compatibility mode now)
	; delivers exceptions through 64-bit IDT gates.
	lidt [idtr64]
	mov dword [exc_count], 0
	mov dword [resume64], after_3
	mov dword [resume64 + 4], 0
	mov ecx, EFER
	rdmsr
	and eax, ~(1 << 8)
	wrmsr
	; QEMU TCG takes this write without #GP (its WRMSR of EFER checks no mode):
	; accepted only when not under Keel, with LME put back.
	cmp dword [on_keel], 0
	jne fail_3
	or eax, 1 << 8
	wrmsr
	jmp step_4
after_3:
	cmp dword [exc_count], 1
	jne fail_3

step_4:
	; 4. Into 64-bit code.
	jmp 0x08:long64

bits 64
long64:
	mov rax, 0x123456789
	shr rax, 32
	cmp eax, 1
	jne fail64_4
	cmp dword [rel round], 0
	jne .quiet
	uart_puts msg64, msg64_len
.quiet:
	; 5. Paging cannot be turned off in 64-bit mode. QEMU TCG turns it off (and
	; leaves long mode under the running 64-bit code): only tried under Keel.
	cmp dword [rel on_keel], 0
	je after64_5_done
	mov dword [rel exc_count], 0
	lea rax, [rel after64_5]
	mov [rel resume64], rax
	mov rax, cr0
	btr rax, 31
	mov cr0, rax
	jmp fail64_5
after64_5:
	cmp dword [rel exc_count], 1
	jne fail64_5
after64_5_done:
	; 6. Back to 32-bit code (compatibility mode) through a far return.
	push 0x18
	lea rax, [rel compat]
	push rax
	retfq
fail64_4:
	port_exit 4
fail64_5:
	port_exit 5

; 64-bit #GP handler: counts, resumes at resume64.
on_gp64:
	inc dword [rel exc_count]
	add rsp, 8
	push rax
	mov rax, [rel resume64]
	mov [rsp + 8], rax
	pop rax
	iretq

bits 32
compat:
	mov eax, cr0
	and eax, ~(1 << 31)
	mov cr0, eax
	jmp 0x18:legacy			; now legacy protected mode
legacy:
	lidt [idtr32]
	mov ecx, EFER
	rdmsr
	test eax, 1 << 10
	jnz fail_6
	and eax, ~(1 << 8)
	wrmsr
	rdmsr
	test eax, 1 << 8
	jnz fail_6
	mov eax, cr4			; PAE off again for round 2's step 1
	and eax, ~(1 << 5)
	mov cr4, eax
	cmp dword [round], 0
	jne done
	uart_puts msg32, msg32_len
	mov dword [round], 10
	jmp again
done:
	port_exit 0

; fail_N: the failed step, +10 in the second round.
%macro fail32 1
fail_%1:
	mov al, %1
	add al, [round]
	jmp fail_out
%endmacro
	fail32 1
	fail32 2
	fail32 3
	fail32 6
fail_out:
	mov dx, KEEL_GUEST_EXIT_PORT
	out dx, al
	hlt

; Identity map of the first 1 GiB with 2 MiB pages; the 64-bit IDT's #GP gate.
build_tables:
	mov dword [pml4], pdpt + 3
	mov dword [pdpt], pd + 3
	xor ecx, ecx
.pd:
	mov eax, ecx
	shl eax, 21
	or eax, 0x83			; P, RW, PS
	mov [pd + ecx * 8], eax
	inc ecx
	cmp ecx, 512
	jne .pd
	mov eax, on_gp64
	mov edi, idt64 + 13 * 16
	mov word [edi], ax
	mov word [edi + 2], 0x08
	mov word [edi + 4], 0x8E00
	shr eax, 16
	mov word [edi + 6], ax
	ret

message msg64, "longmode: in 64-bit mode (EFER.LMA = 1)"
message msg32, "longmode: back in 32-bit protected mode (EFER.LMA = 0)"

align 8
round: dd 0
resume64: dq 0
idtr64:
	dw 32 * 16 - 1
	dq idt64
align 16
idt64: times 32 * 16 db 0
align 4096
pml4: times 4096 db 0
pdpt: times 4096 db 0
pd: times 4096 db 0
image_end:
