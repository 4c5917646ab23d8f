; realexc: an exception injected into a real-mode guest (mode=real). Real mode has no
; error codes: Keel must inject #GP without one (SDM Vol 3C 26.2.1.3), or VM entry
; fails. The guest installs an IVT entry for #GP (vector 13), loads IDTR with the real
; mode IVT (base 0, limit 0x3FF), reads an MSR outside Keel's allow-list, and checks
; that its handler ran once and returned past the RDMSR with the stack intact.
; Expected: status 0 via port 0xF4 (1: no #GP, 2: stack pointer moved).
%define GUEST_REAL_MODE
%include "lib.inc"

start:
	xor ax, ax
	mov ds, ax
	mov word [13 * 4], on_gp	; IVT entry: offset, then segment 0
	mov word [13 * 4 + 2], 0
	lidt [ivt]
	mov bx, sp
	mov ecx, 0xC0DE			; unassigned MSR: #GP
	rdmsr				; #GP -> on_gp, which skips the 2-byte RDMSR
	cmp word [gp_count], 1
	jne .nogp
	cmp sp, bx
	jne .stack
	keel_hc_console_write msg, msg_len
	port_exit 0
.nogp:
	port_exit 1
.stack:
	port_exit 2

; Real-mode frame: IP, CS, FLAGS (no error code).
on_gp:
	inc word [gp_count]
	push bp
	mov bp, sp
	add word [bp + 2], 2		; saved IP past RDMSR (0F 32)
	pop bp
	iret

align 4
gp_count: dw 0
ivt:
	dw 0x3FF
	dd 0
message msg, "realexc: #GP delivered in real mode without an error code"
