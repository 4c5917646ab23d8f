; reset: asks the PC to reset the way kernels do when they are done or lost: first a
; harmless write to the reset control register (0xCF9 without bit 2), then the
; keyboard controller's status (it must say "input buffer empty" or a kernel would wait
; for ever) and its pulse-reset command 0xFE to port 0x64. Expected: killed, reason
; "reset through the keyboard controller"; the exit status 99 must never be seen.
%include "lib.inc"

start:
	uart_puts msg, msg_len
	mov dx, 0xCF9
	mov al, 0x02			; "hard reset" selected, bit 2 (do it) clear
	out dx, al
	in al, 0x64
	test al, 2			; 8042 input buffer full?
	jnz .stuck
	mov al, 0xFE
	out 0x64, al
	port_exit 99
.stuck:
	port_exit 98
message msg, "reset: pulsing the reset line through the keyboard controller"
