; triple: loads an IDT with limit 0 and executes UD2. #UD cannot be delivered (its
; gate lies beyond the limit: #GP), nor can the #GP, nor the double fault: the CPU
; shuts down, which Keel sees as a triple-fault exit. Expected: killed, reason
; "triple fault"; the exit status 99 must never be seen.
%include "lib.inc"

start:
	keel_hc_console_write msg, msg_len
	lidt [idt_none]
	ud2
	keel_hc_exit 99

idt_none:
	dw 0				; limit
	dq 0				; base
message msg, "triple: raising #UD with an empty IDT"
