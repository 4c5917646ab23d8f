; The guest's own debugging, which a debugger in Keel must leave to it: its INT3 reaches
; its #BP handler, and RFLAGS.TF set by itself brings its #DB single-step trap. Run
; plain, and under gdb (scripts/debug-test.sh: gdb=1, where Keel intercepts #BP and,
; while gdb has hardware breakpoints, #DB, and must deliver the guest's own).
;  1. Three INT3s: the #BP handler runs three times, each with the saved RIP just
;     after its INT3.
;  2. TF set with POPF: one #DB after the next instruction, with DR6.BS; the handler
;     clears TF in the saved RFLAGS.
; Exits through port 0xF4 with 0 when all hold, else the number of the failed step.
%include "lib.inc"

start:
	idt_gate 1, on_db
	idt_gate 3, on_bp
	lidt [rel idtr]

	int3
bp_ret1:
	int3
bp_ret2:
	int3
bp_ret3:
	cmp qword [rel bp_count], 3
	jne fail_1
	lea rax, [rel bp_ret3]
	cmp [rel bp_rip], rax
	jne fail_1

	pushfq
	or qword [rsp], 1 << 8		; TF
	popfq
	nop				; the trap comes after this one
db_after:
	nop
	cmp qword [rel db_count], 1
	jne fail_2
	lea rax, [rel db_after]
	cmp [rel db_rip], rax
	jne fail_2
	mov rax, [rel db_dr6]
	test eax, 1 << 14		; BS
	jz fail_2

	keel_hc_console_write msg_ok, msg_ok_len
	port_exit 0
fail_1:
	port_exit 1
fail_2:
	port_exit 2

; #BP (a trap): frame RIP, CS, RFLAGS, RSP, SS; RIP is after the INT3.
on_bp:
	inc qword [rel bp_count]
	push rax
	mov rax, [rsp + 8]
	mov [rel bp_rip], rax
	pop rax
	iretq

; #DB: record RIP and DR6, clear TF in the saved RFLAGS and DR6.
on_db:
	inc qword [rel db_count]
	push rax
	mov rax, [rsp + 8]
	mov [rel db_rip], rax
	and qword [rsp + 24], ~(1 << 8)
	mov rax, dr6
	mov [rel db_dr6], rax
	xor eax, eax
	mov dr6, rax
	pop rax
	iretq

message msg_ok, "selfdebug: its own INT3 and single-step trap reached its handlers"

align 8
bp_count: dq 0
bp_rip: dq 0
db_count: dq 0
db_rip: dq 0
db_dr6: dq 0
idtr:
	dw 256 * 16 - 1
	dq idt
align 16
idt: times 256 * 16 db 0
