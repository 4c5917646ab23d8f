; spin: prints a line, then loops forever without exits. Expected: ended by the
; guest's time limit (limit=MS).
%include "lib.inc"

start:
	keel_hc_console_write msg, msg_len
	jmp $

message msg, "spin: looping forever until the time limit"
