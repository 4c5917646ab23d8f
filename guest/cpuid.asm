; The CPU identity Keel gives each vCPU, and XSETBV. 64-bit flat guest, run with 2
; vCPUs: every vCPU checks steps 1-4 for itself; vCPU 0 then does 5-7, waits (bounded)
; for the others and ends.
;  1. CPUID.1:ECX: hypervisor bit set; VMX, SMX, PDCM, MONITOR clear; x2APIC and
;     TSC-deadline set (the emulated local APIC offers both); leaf 0x40000000 names Keel
;  2. no PMU: leaf 0xA all zero
;  3. APIC ID = vCPU index (entry RSI) in CPUID.1:EBX[31:24] and leaf 0xB EDX; leaf 1
;     EBX[23:16] and leaf 0xB subleaf 1 EBX = the vCPU count (entry RDX)
;  4. OSXSAVE (1:ECX[27]) follows the guest's CR4.OSXSAVE: clear, then set
;  5. XSETBV with CR4.OSXSAVE clear raises #UD
;  6. XSETBV loads XCR0 (XGETBV reads it back: Keel loaded it into the CPU) for x87|SSE
;     and, if offered, x87|SSE|AVX; CPUID.(0xD,0):EBX follows XCR0 (576 for x87|SSE)
;  7. XSETBV raises #GP for XCR0 = 0, x87 clear, AVX without SSE, ECX = 1, and a
;     component outside CPUID.(0xD,0):EAX
; Exits through port 0xF4 with 0, or 10 * vCPU + the failed step.
%include "lib.inc"
%include "cpu64.inc"

start:
	mov r14, rsi			; vCPU index and count, kept for the whole run
	mov r15, rdx
	call idt64_init_once

	; 1. Hypervisor bit, hidden features, Keel's leaf.
	mov eax, 1
	cpuid
	bt ecx, 31
	jnc fail_1
	test ecx, (1 << 5) | (1 << 6) | (1 << 15) | (1 << 3)
	jnz fail_1
	mov eax, ecx
	and eax, (1 << 21) | (1 << 24)
	cmp eax, (1 << 21) | (1 << 24)
	jne fail_1
	mov eax, 0x40000000
	cpuid
	cmp ebx, 0x6C65654B
	jne fail_1

	; 2. Leaf 0xA: zero.
	mov eax, 0xA
	xor ecx, ecx
	cpuid
	or eax, ebx
	or eax, ecx
	or eax, edx
	jnz fail_2

	; 3. APIC ID and counts.
	mov eax, 1
	cpuid
	mov eax, ebx
	shr eax, 24
	cmp rax, r14
	jne fail_3
	shr ebx, 16
	and ebx, 0xFF
	cmp rbx, r15
	jne fail_3
	mov eax, 0xB
	xor ecx, ecx
	cpuid
	cmp rdx, r14
	jne fail_3
	mov eax, 0xB
	mov ecx, 1
	cpuid
	cmp rbx, r15
	jne fail_3
	cmp rdx, r14
	jne fail_3

	; 4. OSXSAVE mirrors CR4 (only where the CPU has XSAVE, 1:ECX[26]).
	mov eax, 1
	cpuid
	bt ecx, 27
	jc fail_4
	bt ecx, 26
	jnc no_xsave
	mov rax, cr4
	bts rax, 18
	mov cr4, rax
	mov eax, 1
	cpuid
	bt ecx, 27
	jnc fail_4
	test r14, r14
	jnz wait_others

	; 5. XSETBV without CR4.OSXSAVE: #UD.
	mov rax, cr4
	btr rax, 18
	mov cr4, rax
	exc_begin 5
	xor ecx, ecx
	mov eax, 3
	xor edx, edx
	xsetbv
	exc_end 5, 6
	mov rax, cr4
	bts rax, 18
	mov cr4, rax

	; 6. Good values: XGETBV reads them back, leaf 0xD EBX follows.
	xor ecx, ecx
	mov eax, 3
	xor edx, edx
	xsetbv
	xor ecx, ecx
	xgetbv
	cmp eax, 3
	jne fail_6
	mov eax, 0xD
	xor ecx, ecx
	cpuid
	cmp ebx, 576
	jne fail_6
	mov [rel xcr0_ok], eax
	test eax, 4			; AVX offered?
	jz .no_avx
	xor ecx, ecx
	mov eax, 7
	xor edx, edx
	xsetbv
	xor ecx, ecx
	xgetbv
	cmp eax, 7
	jne fail_6
	vxorps ymm0, ymm0, ymm0		; AVX usable now
.no_avx:

	; 7. Bad values and ECX != 0: #GP.
	%macro xsetbv_gp 4		; STEP, ECX, EAX, EDX
	exc_begin %1
	mov ecx, %2
	mov eax, %3
	mov edx, %4
	xsetbv
	exc_end %1, 13
	%endmacro
	xsetbv_gp 7, 0, 0, 0
	xsetbv_gp 7b, 0, 2, 0
	xsetbv_gp 7c, 0, 5, 0
	xsetbv_gp 7d, 1, 1, 0
	mov eax, [rel xcr0_ok]
	not eax
	bsf eax, eax			; lowest component not offered
	mov ecx, eax
	mov eax, 1
	shl eax, cl
	or eax, 3
	mov [rel bad_xcr0], eax
	xsetbv_gp 7e, 0, [rel bad_xcr0], 0
	jmp wait_others

no_xsave:
wait_others:
	vcpus_join fail_join
fail_join:
	port_exit 99

; The IDT is shared; only vCPU 0 builds it (the others do not fault).
idt64_init_once:
	test rsi, rsi
	jnz .skip
	call idt64_init
.skip:
	ret

; fail_N: 10 * vCPU + N.
	fail_vcpu 1, 1
	fail_vcpu 2, 2
	fail_vcpu 3, 3
	fail_vcpu 4, 4
	fail_vcpu 5, 5
	fail_vcpu 6, 6
	fail_vcpu 7, 7
	fail_vcpu 7b, 7
	fail_vcpu 7c, 7
	fail_vcpu 7d, 7
	fail_vcpu 7e, 7

message msg_ok, "cpuid: hypervisor bit, Keel leaf, no PMU, APIC IDs, OSXSAVE from CR4; XSETBV loads good XCR0 values and refuses bad ones"

align 8
xcr0_ok: dd 0
bad_xcr0: dd 0
