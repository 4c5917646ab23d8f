; Virtual timer and interrupt injection (KEEL_HC_TIMER_SET), 64-bit flat guest.
;  1. HLT with IF = 1 and the timer armed blocks until the timer's interrupt arrives.
;  2. A timer that expires while IF = 0 is held back, then delivered right after STI
;     (Keel uses interrupt-window exiting).
;  3. A bad vector is refused with -EINVAL.
;  4. With IF = 0, a timer expires (its interrupt is held), is armed again and expires
;     again: the vCPU must keep running (no endless preemption-timer exits), and after
;     STI both interrupts arrive.
; Exits through port 0xF4 with 0 when all four hold, else with the number of the
; first failed step.
%include "lib.inc"

VEC equ 0x40

start:
	; IDT with one interrupt gate (type 0xE, present, DPL 0) for VEC -> on_timer.
	lea rdi, [rel idt + VEC * 16]
	lea rax, [rel on_timer]
	mov word [rdi], ax		; offset 15:0
	mov word [rdi + 2], 0x08	; Keel's 64-bit code selector
	mov word [rdi + 4], 0x8E00	; present, interrupt gate
	shr rax, 16
	mov word [rdi + 6], ax		; offset 31:16
	shr rax, 16
	mov dword [rdi + 8], eax	; offset 63:32
	lidt [rel idtr]

	; 1. sti; hlt wakes up only by the timer.
	mov eax, KEEL_HC_TIMER_SET
	mov edi, 2000			; 2 ms
	mov esi, VEC
	vmcall
	test rax, rax
	jnz fail1
	sti
	hlt
	cli
	cmp qword [rel ticks], 1
	jne fail1

	; 2. Expires with IF = 0: pending until STI.
	mov eax, KEEL_HC_TIMER_SET
	mov edi, 1			; 1 us
	mov esi, VEC
	vmcall
	mov ecx, 200			; enough exits for the timer to expire
.spin:
	mov eax, KEEL_HC_NOP
	vmcall
	dec ecx
	jnz .spin
	cmp qword [rel ticks], 1	; still held back
	jne fail2
	sti
	nop				; the STI shadow ends here: delivered now
	cli
	cmp qword [rel ticks], 2
	jne fail2

	; 3. A vector below 32 is refused.
	mov eax, KEEL_HC_TIMER_SET
	mov edi, 10
	mov esi, 3
	vmcall
	cmp rax, -22
	jne fail3

	; 4. Two expiries while IF = 0.
	mov eax, KEEL_HC_TIMER_SET
	mov edi, 1
	mov esi, VEC
	vmcall
	call spin_exits			; expires: held as pending
	mov eax, KEEL_HC_TIMER_SET
	mov edi, 1
	mov esi, VEC
	vmcall
	call spin_exits			; expires again while the first is still held
	cmp qword [rel ticks], 2
	jne fail4
	sti
	nop
	mov ecx, 100			; let the second one in too
.wait4:
	cmp qword [rel ticks], 4
	je .done4
	mov eax, KEEL_HC_NOP
	vmcall
	dec ecx
	jnz .wait4
.done4:
	cli
	cmp qword [rel ticks], 4
	jne fail4

	uart_puts msg_ok, msg_ok_len
	mov al, 0
	out KEEL_GUEST_EXIT_PORT, al
fail1:
	mov al, 1
	out KEEL_GUEST_EXIT_PORT, al
fail2:
	mov al, 2
	out KEEL_GUEST_EXIT_PORT, al
fail3:
	mov al, 3
	out KEEL_GUEST_EXIT_PORT, al
fail4:
	mov al, 4
	out KEEL_GUEST_EXIT_PORT, al

; 200 NOP hypercalls: exits enough for a 1 us timer to expire.
spin_exits:
	mov ecx, 200
.loop:
	mov eax, KEEL_HC_NOP
	vmcall
	dec ecx
	jnz .loop
	ret

on_timer:
	inc qword [rel ticks]
	iretq

msg_ok: db "timer: HLT woke by the timer, held interrupt delivered after STI, bad vector refused, two held expiries both delivered", 10
msg_ok_len equ $ - msg_ok

align 8
ticks: dq 0
idtr:
	dw 256 * 16 - 1
	dq idt
align 16
idt: times 256 * 16 db 0
