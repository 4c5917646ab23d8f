; The MSRs of Keel's guest CPU, 64-bit flat guest: each one read, written, and refused
; with #GP where the SDM says (Vol 4 table 2-2; WRMSR in Vol 2B), through a 64-bit IDT.
;  1. RDMSR/WRMSR of MSRs the model lacks (0x345 PERF_CAPABILITIES, 0xC0001000) raise
;     #GP, and the pushed RFLAGS has RF set (a fault: SDM Vol 3A 6.5, 2.3)
;  2. EFER: SCE set and cleared; reserved bit 9 raises #GP
;  3. TSC: a write becomes the TSC offset (RDTSC and RDMSR read from the new value on)
;  4. STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE round trips; non-canonical LSTAR and
;     SFMASK bits 63:32 raise #GP
;  5. SYSCALL lands at LSTAR with RCX = return address, R11 = RFLAGS, and RFLAGS
;     masked by SFMASK (DF cleared): the MSRs are live in the guest
;  6. SWAPGS exchanges GS base and KERNEL_GS_BASE, and RDMSR sees the swapped values
;     (KERNEL_GS_BASE changed without an exit)
;  7. SYSENTER_CS/ESP/EIP round trips; a non-canonical SYSENTER_ESP raises #GP
;  8. PAT reads its reset value, takes a valid value, refuses type 2 with #GP
;  9. MISC_ENABLE (fast strings), MCG_CAP (0 banks) and MCG_STATUS (0) read; writing
;     MISC_ENABLE unchanged works, changed raises #GP; MCG_CAP write #GP; MCG_STATUS
;     takes 0, refuses 1
; 10. FS_BASE and GS_BASE refuse non-canonical values
; 11. TSC_AUX round trip, and RDTSCP returns it in ECX (when CPUID offers RDTSCP)
; Exits through port 0xF4 with 0 when all hold, else the number of the failed step.
%include "lib.inc"
%include "cpu64.inc"

%define EFER 0xC0000080
%define STAR 0xC0000081
%define LSTAR 0xC0000082
%define CSTAR 0xC0000083
%define SFMASK 0xC0000084
%define FS_BASE 0xC0000100
%define GS_BASE 0xC0000101
%define KGS_BASE 0xC0000102
%define TSC_AUX 0xC0000103

start:
	call idt64_init

	; 1. Unknown MSRs: #GP with RF in the pushed RFLAGS.
	exc_begin 1
	mov ecx, 0x345
	rdmsr
	exc_end 1, 13
	bt qword [rel last_rflags], 16
	jnc fail_1
	exc_begin 1b
	mov ecx, 0xC0001000
	xor eax, eax
	xor edx, edx
	wrmsr
	exc_end 1b, 13

	; 2. EFER.SCE on and off; bit 9 reserved.
	mov ecx, EFER
	rdmsr
	mov ebx, eax
	or eax, 1
	wrmsr
	rdmsr
	test eax, 1
	jz fail_2
	mov eax, ebx
	wrmsr
	exc_begin 2
	mov ecx, EFER
	rdmsr
	or eax, 1 << 9
	wrmsr
	exc_end 2, 13

	; 3. TSC := 2^40: RDTSC and RDMSR read from there on.
	wrmsr64 0x10, 1 << 40
	rdtsc
	cmp edx, 1 << 8			; 2^40 .. 2^40 + 2^32
	jne fail_3
	mov ecx, 0x10
	rdmsr
	cmp edx, 1 << 8
	jne fail_3

	; 4. Syscall MSRs and KERNEL_GS_BASE.
	mov r12, 0x0023001000080000
	wrmsr64 STAR, r12
	rdmsr_is STAR, r12, 4
	mov r12, 0xFFFF800000001234
	wrmsr64 LSTAR, r12
	rdmsr_is LSTAR, r12, 4
	wrmsr64 CSTAR, r12
	rdmsr_is CSTAR, r12, 4
	wrmsr64 SFMASK, 0x47700
	rdmsr_is SFMASK, 0x47700, 4
	mov r12, 0x00007FFF12345000
	wrmsr64 KGS_BASE, r12
	rdmsr_is KGS_BASE, r12, 4
	exc_begin 4
	wrmsr64 LSTAR, 0x0000800000000000	; not canonical
	exc_end 4, 13
	exc_begin 4b
	wrmsr64 SFMASK, 1 << 32
	exc_end 4b, 13

	; 5. SYSCALL through LSTAR, masked by SFMASK (DF), STAR's CS 0x08 / SS 0x10.
	mov ecx, EFER
	rdmsr
	or eax, 1			; SCE
	wrmsr
	wrmsr64 STAR, 0x0000000800000000
	lea rax, [rel syscall_entry]
	mov rdx, rax
	shr rdx, 32
	mov ecx, LSTAR
	wrmsr
	wrmsr64 SFMASK, 1 << 10		; DF
	std
	syscall
syscall_back:
	cld
	lea rax, [rel syscall_back]
	cmp [rel sys_rcx], rax
	jne fail_5
	bt qword [rel sys_r11], 10	; RFLAGS before: DF set
	jnc fail_5
	bt qword [rel sys_rflags], 10	; in the handler: DF masked
	jc fail_5

	; 6. SWAPGS: GS base <-> KERNEL_GS_BASE, seen by RDMSR.
	wrmsr64 GS_BASE, 0x1000
	wrmsr64 KGS_BASE, 0x2000
	swapgs
	rdmsr_is GS_BASE, 0x2000, 6
	rdmsr_is KGS_BASE, 0x1000, 6
	swapgs
	rdmsr_is GS_BASE, 0x1000, 6
	rdmsr_is KGS_BASE, 0x2000, 6

	; 7. SYSENTER MSRs.
	wrmsr64 0x174, 0x08
	rdmsr_is 0x174, 0x08, 7
	mov r12, 0xFFFF800000004000
	wrmsr64 0x175, r12
	rdmsr_is 0x175, r12, 7
	wrmsr64 0x176, r12
	rdmsr_is 0x176, r12, 7
	exc_begin 7
	wrmsr64 0x175, 0x0001000000000000
	exc_end 7, 13

	; 8. PAT: reset value, a valid write, an invalid type.
	mov r12, 0x0007040600070406
	rdmsr_is 0x277, r12, 8
	mov r12, 0x0007010600070106
	wrmsr64 0x277, r12
	rdmsr_is 0x277, r12, 8
	exc_begin 8
	wrmsr64 0x277, 0x0007040600070402
	exc_end 8, 13
	rdmsr_is 0x277, r12, 8

	; 9. MISC_ENABLE, MCG_CAP, MCG_STATUS.
	mov ecx, 0x1A0
	rdmsr
	test eax, 1
	jz fail_9
	wrmsr				; unchanged: fine
	exc_begin 9
	mov ecx, 0x1A0
	rdmsr
	xor eax, 1 << 22
	wrmsr
	exc_end 9, 13
	rdmsr_is 0x179, 0, 9
	rdmsr_is 0x17A, 0, 9
	wrmsr64 0x17A, 0
	exc_begin 9b
	wrmsr64 0x17A, 1
	exc_end 9b, 13
	exc_begin 9c
	wrmsr64 0x179, 0
	exc_end 9c, 13

	; 10. FS/GS base canonical.
	exc_begin 10
	wrmsr64 FS_BASE, 0x8000000000000000
	exc_end 10, 13
	exc_begin 10b
	wrmsr64 GS_BASE, 0x0000800000000000
	exc_end 10b, 13

	; 11. TSC_AUX and RDTSCP.
	mov eax, 0x80000001
	cpuid
	bt edx, 27
	jnc .no_rdtscp
	wrmsr64 TSC_AUX, 0x5A
	rdmsr_is TSC_AUX, 0x5A, 11
	rdtscp
	cmp ecx, 0x5A
	jne fail_11
.no_rdtscp:
	uart_puts msg_ok, msg_ok_len
	port_exit 0

; SYSCALL lands here (CPL 0, CS 0x08): records RCX, R11 and its RFLAGS, returns.
syscall_entry:
	mov [rel sys_rcx], rcx
	mov [rel sys_r11], r11
	pushfq
	pop qword [rel sys_rflags]
	jmp rcx

%macro fail 1
fail_%1:
	port_exit %1
%endmacro
	fail 1
	fail 2
	fail 3
	fail 4
	fail 5
	fail 6
	fail 7
	fail 8
	fail 9
	fail 10
	fail 11
fail_1b:
	port_exit 1
fail_4b:
	port_exit 4
fail_9b:
fail_9c:
	port_exit 9
fail_10b:
	port_exit 10

message msg_ok, "msr: EFER, TSC offset, syscall MSRs live, SWAPGS, SYSENTER, PAT, MISC_ENABLE, MCG, FS/GS, TSC_AUX; #GP with RF"

align 8
sys_rcx: dq 0
sys_r11: dq 0
sys_rflags: dq 0
