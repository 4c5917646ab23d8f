; badstate: asks Keel, through the test hook its description allows (hooks=1), to make
; its own guest state invalid; the next VM entry fails. Expected: this guest alone is
; killed with "VM entry failed" and the decoded exit reason; status 99 is never seen.
%include "lib.inc"

start:
	keel_hc_console_write msg, msg_len
	keel_hc_test_bad_state
	keel_hc_exit 99

message msg, "badstate: asking for an invalid guest state"
