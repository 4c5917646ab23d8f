; sipi: vCPUs that wait for INIT-SIPI-SIPI (smp=sipi), started by vCPU 0 through the
; x2APIC ICR (SDM Vol 3A 9.4.4, 11.6.1). 64-bit flat guest; only vCPU 0 enters here.
; Each AP starts in real mode at CS:IP = 0800:0000 (SIPI vector 0x08, code copied to
; 0x8000): it switches its APIC to x2APIC mode, sets bit (its APIC ID) in a mask at
; 0x9004, counts itself at 0x9000 and halts with interrupts off.
; arg= picks the case:
;   0  start every AP; exit 0 if none ran before its SIPI (1), all ran (2) and the
;      mask names exactly APIC IDs 1..n-1 (3)
;   1  a SIPI storm: start AP 1, then keep sending it SIPIs (expect killed: SIPI storm)
;   2  an INIT to itself (expect killed: INIT IPI ... to itself)
;   3  vCPU 0 halts for good while the APs wait (expect killed: every vCPU halted ...)
%include "lib.inc"

COUNT equ 0x9000
MASK equ 0x9004
TRAMPOLINE equ 0x8000
VECTOR equ TRAMPOLINE >> 12
ICR equ 0x830

start:
	mov r12, rdi			; case
	mov r13, rdx			; vCPU count
	lea rsi, [rel ap_start]		; the AP's real-mode code to 0x8000
	mov edi, TRAMPOLINE
	mov ecx, ap_end - ap_start
	rep movsb
	mov ecx, 0x1B			; IA32_APIC_BASE: x2APIC mode (EXTD | EN)
	rdmsr
	or eax, 0xC00
	wrmsr
	cmp r12, 2
	je init_self
	cmp r12, 3
	je halt_for_good
	call spin			; nothing runs before its SIPI
	cmp dword [COUNT], 0
	jne fail1
	cmp r12, 1
	je storm
	mov ebx, 1
.next:					; INIT, SIPI, SIPI to APIC ID ebx
	cmp rbx, r13
	jae .wait
	call start_ap
	inc ebx
	jmp .next
.wait:
	mov r14, r13
	dec r14				; APs to wait for
	mov ecx, 1000000
.poll:
	cmp dword [COUNT], r14d
	je .all
	mov eax, KEEL_HC_NOP		; an exit: on one CPU the APs run meanwhile
	vmcall
	dec ecx
	jnz .poll
	port_exit 2
.all:
	mov ecx, r13d			; mask of IDs 1..n-1 = (1 << n) - 2
	mov eax, 1
	shl eax, cl
	sub eax, 2
	cmp dword [MASK], eax
	jne fail3
	uart_puts msg_ok, msg_ok_len
	port_exit 0
fail1:
	port_exit 1
fail3:
	port_exit 3

; INIT (level assert), then two SIPIs, to APIC ID ebx.
start_ap:
	mov edx, ebx
	mov eax, 0x4500			; INIT, assert, physical
	mov ecx, ICR
	wrmsr
	mov eax, 0x4600 | VECTOR	; start-up
	wrmsr
	wrmsr
	ret

; 1000 exits' worth of time.
spin:
	mov ecx, 1000
.loop:
	mov eax, KEEL_HC_NOP
	vmcall
	dec ecx
	jnz .loop
	ret

storm:
	mov ebx, 1
	call start_ap
	mov r14d, 100000		; far more than Keel tolerates
.more:
	mov edx, 1
	mov eax, 0x4600 | VECTOR
	mov ecx, ICR
	wrmsr
	dec r14d
	jnz .more
	port_exit 9			; never reached if the storm ends the guest

init_self:
	xor edx, edx			; APIC ID 0: itself
	mov eax, 0x4500
	mov ecx, ICR
	wrmsr
	port_exit 9

halt_for_good:
	cli
	hlt
	port_exit 9

message msg_ok, "sipi: every AP started by INIT-SIPI-SIPI"

; The AP's code, copied to 0x8000 and run in real mode (CS = 0x0800, IP = 0).
bits 16
ap_start:
	cli
	xor ax, ax
	mov ds, ax
	mov ecx, 0x1B
	rdmsr
	or eax, 0xC00
	wrmsr
	mov ecx, 0x802			; x2APIC ID
	rdmsr
	mov ecx, eax
	mov eax, 1
	shl eax, cl
	lock or dword [MASK], eax
	lock inc dword [COUNT]
.halt:
	hlt
	jmp .halt
ap_end:
