; efault: console_write with wild buffers (outside guest RAM, beyond the address
; width, straddling the end of RAM) must return -EFAULT (-14) and leave the guest
; running; exits through the debug-exit port 0xF4 with 0 when all were refused.
%include "lib.inc"

%define EFAULT_RET -14

start:
	mov r12, 0
	mov eax, KEEL_HC_CONSOLE_WRITE
	mov rdi, 0x40000000		; 1 GiB: beyond this guest's RAM
	mov esi, 16
	vmcall
	cmp rax, EFAULT_RET
	jne .bad1
	inc r12
.bad1:
	mov eax, KEEL_HC_CONSOLE_WRITE
	mov rdi, 0xdeadbeef00000000	; beyond the guest-physical address width
	mov esi, 16
	vmcall
	cmp rax, EFAULT_RET
	jne .bad2
	inc r12
.bad2:
	mov eax, KEEL_HC_CONSOLE_WRITE
	mov rdi, 0x3FFFF8		; last 8 bytes of a 4M guest, 16 asked for
	mov esi, 16
	vmcall
	cmp rax, EFAULT_RET
	jne .bad3
	inc r12
.bad3:
	cmp r12, 3
	jne .fail
	keel_hc_console_write msg_ok, msg_ok_len
	port_exit 0
.fail:
	keel_hc_console_write msg_fail, msg_fail_len
	port_exit 1

message msg_ok, "efault: 3 wild console_write buffers got -EFAULT"
message msg_fail, "efault: a wild buffer was NOT refused"
