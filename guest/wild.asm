; wild: writes to guest-physical 0x20000000 (512 MiB): inside Keel's 1 GiB identity
; map, above guest RAM (run with mem below 512M). Expected: killed with a "write at GPA
; 0x20000000 outside guest RAM" reason; the exit status 99 must never be seen.
%include "lib.inc"

%define WILD_GPA 0x20000000

start:
	keel_hc_console_write msg, msg_len
	mov eax, WILD_GPA
	mov byte [rax], 1
	keel_hc_exit 99

message msg, "wild: writing to GPA 0x20000000, above guest RAM"
