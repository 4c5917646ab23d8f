; tapfail: reports one passing and one failing TAP result, then exits with status 0.
; Expected: its verdict is FAIL (a TAP "not ok" fails a guest whatever its exit
; status), and so the whole run fails. Used by the guest test layer, not the demo.
%include "lib.inc"

start:
	keel_hc_console_write msg, msg_len
	keel_hc_exit 0

msg:	db "ok 1 - tapfail: this one passes", 10
	db "not ok 2 - tapfail: this one fails on purpose", 10
msg_len equ $ - msg
