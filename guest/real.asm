; real: a real-mode guest (flat, loaded at 0x7C00, entered at 0000:7C00 with
; SS=DS=ES=0). Checks CR0.PE = 0 and the entry registers (ESI = vCPU index 0, EDX = 1
; vCPU), prints through the UART, then makes a console_write hypercall with a 32-bit
; buffer address and checks that it returns the length. Exits through port 0xF4:
; 0x21 all passed; 0x22 not in real mode; 0x23 bad entry registers; 0x24 bad
; console_write result.
%define GUEST_REAL_MODE
%include "lib.inc"

start:
	smsw ax
	test al, 1			; CR0.PE
	jnz .not_real
	test esi, esi
	jnz .bad_regs
	cmp edx, 1
	jne .bad_regs
	uart_puts msg_uart, msg_uart_len
	keel_hc_console_write msg_hc, msg_hc_len
	cmp eax, msg_hc_len
	jne .bad_write
	uart_puts msg_ok, msg_ok_len
	port_exit 0x21
.not_real:
	port_exit 0x22
.bad_regs:
	port_exit 0x23
.bad_write:
	port_exit 0x24

message msg_uart, "real: hello from real mode through the UART"
message msg_hc, "real: hello from real mode through console_write"
message msg_ok, "real: all checks passed"
