; Exception injection and the CR/MSR exit handlers, 64-bit flat guest. A #GP handler
; records the fault and resumes at the address the test put in `resume`.
;  1. RDMSR of an MSR no CPU has (0xC0DE: unassigned) raises #GP.
;  2. WRMSR clearing EFER.LME raises #GP (a mode switch Keel does not emulate).
;  3. MOV to CR4 setting VMXE raises #GP (no nested VMX).
;  4. MOV to CR0 clearing NE (a bit VMX forces) does not fault, and the guest reads
;     back the value it wrote (CR0 read shadow).
;  5. FS_BASE (allow-listed) written with WRMSR reads back with RDMSR.
; Exits through port 0xF4 with 0 when all hold, else with the number of the first
; failed step.
%include "lib.inc"

; gp_begin STEP ... gp_end STEP: the instructions between must raise exactly one #GP.
%macro gp_begin 1
	mov qword [rel gp_count], 0
	lea rax, [rel after_%1]
	mov [rel resume], rax
%endmacro
%macro gp_end 1
	jmp fail_%1			; no fault: wrong
after_%1:
	cmp qword [rel gp_count], 1
	jne fail_%1
%endmacro

start:
	idt_gate 13, on_gp		; #GP -> on_gp
	lidt [rel idtr]

	gp_begin 1
	mov ecx, 0xC0DE
	rdmsr
	gp_end 1

	gp_begin 2
	mov ecx, 0xC0000080
	rdmsr
	and eax, ~(1 << 8)
	wrmsr
	gp_end 2

	gp_begin 3
	mov rax, cr4
	or eax, 1 << 13
	mov cr4, rax
	gp_end 3

	; 4. CR0.NE cleared: no fault, read back as written.
	mov qword [rel gp_count], 0
	mov rax, cr0
	mov rbx, rax
	and rax, ~(1 << 5)
	mov cr0, rax
	mov rcx, cr0
	cmp rcx, rax
	jne fail_4
	mov cr0, rbx			; NE back
	cmp qword [rel gp_count], 0
	jne fail_4

	; 5. FS_BASE round trip.
	mov ecx, 0xC0000100
	mov eax, 0x12345000
	mov edx, 0x7
	wrmsr
	xor eax, eax
	xor edx, edx
	rdmsr
	cmp eax, 0x12345000
	jne fail_5
	cmp edx, 0x7
	jne fail_5

	keel_hc_console_write msg_ok, msg_ok_len
	port_exit 0
fail_1:
	port_exit 1
fail_2:
	port_exit 2
fail_3:
	port_exit 3
fail_4:
	port_exit 4
fail_5:
	port_exit 5

; #GP frame: error code, RIP, CS, RFLAGS, RSP, SS. Resume at `resume`.
on_gp:
	inc qword [rel gp_count]
	add rsp, 8			; drop the error code
	push rax
	mov rax, [rel resume]
	mov [rsp + 8], rax		; the saved RIP
	pop rax
	iretq

message msg_ok, "exc: #GP for a refused MSR read, EFER.LME write and CR4.VMXE; CR0 shadow and FS_BASE round trips"

align 8
gp_count: dq 0
resume: dq 0
idtr:
	dw 256 * 16 - 1
	dq idt
align 16
idt: times 256 * 16 db 0
