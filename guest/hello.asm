; hello: prints through the UART and the console_write hypercall, checks CPUID's Keel
; leaf, runs a batch of NOP hypercalls (the host measures the round-trip rate), and
; exits with status 7 through the exit hypercall.
%include "lib.inc"

%define NOP_CALLS 20000

start:
	uart_puts msg_uart, msg_uart_len
	keel_hc_console_write msg_hc, msg_hc_len
	cmp rax, msg_hc_len
	jne fail
	mov eax, KEEL_CPUID_LEAF
	cpuid
	cmp ebx, 0x6C65654B		; "Keel"
	jne fail
	mov eax, 1
	cpuid
	bt ecx, 31			; hypervisor bit
	jnc fail
	mov ebx, NOP_CALLS
.nops:
	mov eax, KEEL_HC_NOP
	vmcall
	dec ebx
	jnz .nops
	; touch a page far from the image: a demand-paged EPT fault
	mov rax, 0x300000
	mov qword [rax], 42
	cmp qword [rax], 42
	jne fail
	keel_hc_console_write msg_ok, msg_ok_len
	keel_hc_exit 7
fail:
	keel_hc_console_write msg_fail, msg_fail_len
	keel_hc_exit 99

message msg_uart, "hello from the UART"
message msg_hc, "hello from the console_write hypercall"
message msg_ok, "hello: all checks passed"
message msg_fail, "hello: a check FAILED"
