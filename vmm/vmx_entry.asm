; VM entry and exit path (SDM Vol 3C 26 "VM Entries", 28 "VM Exits").
; int vmx_enter(struct vcpu_regs *regs, int launched): loads the guest GPRs and CR2 from
; regs, VMLAUNCH or VMRESUME. A VM exit lands at vmx_exit_stub (HOST_RIP) on the stack
; vmx_enter had (HOST_RSP written here), which saves the guest GPRs back into regs and
; returns 0 from vmx_enter. A failed VMLAUNCH/VMRESUME falls through: 1 for VMfailInvalid
; (CF), 2 for VMfailValid (ZF; VM-instruction error field says why) (SDM Vol 3C 31.2).
; Offsets follow struct vcpu_regs in vmm/vmx.h.

%define R_RAX 0
%define R_RBX 8
%define R_RCX 16
%define R_RDX 24
%define R_RSI 32
%define R_RDI 40
%define R_RBP 48
%define R_R8 56
%define R_R9 64
%define R_R10 72
%define R_R11 80
%define R_R12 88
%define R_R13 96
%define R_R14 104
%define R_R15 112
%define R_CR2 120
%define VMCS_HOST_RSP 0x6C14 ; arch/vmcs.h (NASM cannot include the C header)

section .text
bits 64

global vmx_enter
global vmx_exit_stub

vmx_enter:
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	push r15
	push rdi			; regs, found again at [rsp] after the exit
	mov rax, VMCS_HOST_RSP
	vmwrite rax, rsp
	jbe .fail_early
	mov rax, [rdi + R_CR2]
	mov cr2, rax
	mov ebx, esi			; launched flag, tested after the loads
	test ebx, ebx
	mov rax, [rdi + R_RAX]
	mov rbx, [rdi + R_RBX]
	mov rcx, [rdi + R_RCX]
	mov rdx, [rdi + R_RDX]
	mov rsi, [rdi + R_RSI]
	mov rbp, [rdi + R_RBP]
	mov r8, [rdi + R_R8]
	mov r9, [rdi + R_R9]
	mov r10, [rdi + R_R10]
	mov r11, [rdi + R_R11]
	mov r12, [rdi + R_R12]
	mov r13, [rdi + R_R13]
	mov r14, [rdi + R_R14]
	mov r15, [rdi + R_R15]
	mov rdi, [rdi + R_RDI]		; mov leaves the flags of "test" intact
	jnz .resume
	vmlaunch
	jmp .failed
.resume:
	vmresume
.failed:
	mov eax, 2			; VMfailValid
	jnc .ret_fail
.fail_early:
	mov eax, 1			; VMfailInvalid (CF)
	jc .ret_fail
	mov eax, 2
.ret_fail:
	add rsp, 8			; regs
	jmp vmx_restore_host

vmx_exit_stub:
	push rdi			; guest rdi
	mov rdi, [rsp + 8]		; regs
	mov [rdi + R_RAX], rax
	mov [rdi + R_RBX], rbx
	mov [rdi + R_RCX], rcx
	mov [rdi + R_RDX], rdx
	mov [rdi + R_RSI], rsi
	mov [rdi + R_RBP], rbp
	mov [rdi + R_R8], r8
	mov [rdi + R_R9], r9
	mov [rdi + R_R10], r10
	mov [rdi + R_R11], r11
	mov [rdi + R_R12], r12
	mov [rdi + R_R13], r13
	mov [rdi + R_R14], r14
	mov [rdi + R_R15], r15
	pop rax
	mov [rdi + R_RDI], rax
	mov rax, cr2
	mov [rdi + R_CR2], rax
	add rsp, 8			; regs
	xor eax, eax
vmx_restore_host:
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
