; Each vCPU keeps its own x87/SSE/AVX registers while vCPUs share CPUs and move between
; them. 64-bit flat guest, run with more vCPUs than Bochs has CPUs (vcpus=3 on the
; 2-CPU layer): the run queue then gives each CPU to the vCPUs in turn every 10 ms slice.
; Each vCPU fills XMM0-XMM7 with its own pattern (and the upper halves of YMM0-YMM7 when
; AVX can be enabled: CR4.OSXSAVE, XCR0 = x87|SSE|AVX), loads the x87 stack with its
; index, then checks them all for LOOPS rounds of a few hundred instructions, spanning
; many slices. Fails without Keel's save/restore around VMCS loads (the registers would
; hold another vCPU's pattern); vCPU 0 waits (bounded) for the others and ends.
;  1. an XMM register changed          2. a YMM upper half changed
;  3. the x87 top of stack changed      4. the others never finished
; Exits through port 0xF4 with 0, or 10 * vCPU + the failed step.
%include "lib.inc"
%include "cpu64.inc"

%define LOOPS 20000

start:
	mov rax, cr4
	or eax, (1 << 9) | (1 << 10)	; OSFXSR, OSXMMEXCPT: SSE usable (SDM Vol 3A 2.5)
	mov cr4, rax
	mov r14, rsi			; vCPU index
	mov r15, rdx			; vCPU count
	; pattern: every byte = 0x11 * (index + 1)
	lea eax, [r14 + 1]
	imul eax, eax, 0x11111111
	movd xmm0, eax
	pshufd xmm0, xmm0, 0
	movdqa xmm1, xmm0
	movdqa xmm2, xmm0
	movdqa xmm3, xmm0
	movdqa xmm4, xmm0
	movdqa xmm5, xmm0
	movdqa xmm6, xmm0
	movdqa xmm7, xmm0
	movdqa xmm15, xmm0		; the reference
	lea r12, [rel has_avx]
	mov dword [r12 + r14 * 4], 0
	call enable_avx
	fninit
	mov [rsp - 8], r14
	fild qword [rsp - 8]		; ST0 = index

	mov r13d, LOOPS
.round:
	mov ecx, 50
.spin:
	dec ecx
	jnz .spin
	%assign i 0
	%rep 8
	movdqa xmm14, xmm %+ i
	pcmpeqb xmm14, xmm15
	pmovmskb eax, xmm14
	cmp eax, 0xFFFF
	jne fail_1
	%assign i i + 1
	%endrep
	cmp dword [r12 + r14 * 4], 0
	je .no_avx
	%assign i 0
	%rep 8
	vextractf128 xmm14, ymm %+ i, 1
	pcmpeqb xmm14, xmm15
	pmovmskb eax, xmm14
	cmp eax, 0xFFFF
	jne fail_2
	%assign i i + 1
	%endrep
.no_avx:
	fist dword [rsp - 16]
	cmp [rsp - 16], r14d
	jne fail_3
	dec r13d
	jnz .round

	vcpus_join fail_4

; CPUID.1:ECX.XSAVE (26) and AVX (28), then CR4.OSXSAVE, XCR0 = 7, and the upper halves
; of YMM0-7 = the pattern too.
enable_avx:
	mov eax, 1
	cpuid
	bt ecx, 26
	jnc .no
	bt ecx, 28
	jnc .no
	mov rax, cr4
	bts rax, 18
	mov cr4, rax
	xor ecx, ecx
	mov eax, 7
	xor edx, edx
	xsetbv
	%assign i 0
	%rep 8
	vinsertf128 ymm %+ i, ymm %+ i, xmm15, 1
	%assign i i + 1
	%endrep
	mov dword [r12 + r14 * 4], 1
.no:
	ret

	fail_vcpu 1, 1
	fail_vcpu 2, 2
	fail_vcpu 3, 3
	fail_vcpu 4, 4

message msg_ok, "fpu: every vCPU kept its XMM, YMM and x87 registers across shared CPUs"

align 8
has_avx: times 8 dd 0
