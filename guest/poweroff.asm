; poweroff: turns the PC off through ACPI (PIIX4 PM1a control at 0x604, SLP_EN, as on
; QEMU's pc machine) after a 16-bit write there without SLP_EN, which must not end it.
; Expected: exit status 0 (what QEMU ends with on power-off), never 99.
%include "lib.inc"

start:
	uart_puts msg, msg_len
	mov dx, 0x604
	mov ax, 0x0001			; SCI_EN only: no sleep
	out dx, ax
	mov ax, 0x2000			; SLP_EN, SLP_TYP 0 (S5 on QEMU's pc)
	out dx, ax
	port_exit 99
message msg, "poweroff: ACPI power off through port 0x604"
