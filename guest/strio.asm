; strio: string I/O (INS/OUTS, REP) in long mode, where the buffers' linear addresses go
; through the guest's page tables: REP OUTSB of a line to the UART (RSI and RCX end
; where the CPU leaves them), REP INSB of fw_cfg's signature, REP OUTSD to PCI's
; CONFIG_ADDRESS (read back), a REP INSB backwards (DF = 1) that writes "UMEQ", a
; REP INSB with RCX = 0 that does nothing, and a REP INSB of 1000 bytes (more than one
; exit's batch) across a page boundary: fw_cfg's RAM_SIZE, then zeros.
; Exits through port 0xF4 with 0 when all hold (status 1), else the failed step 1-6.
%include "lib.inc"

start:
	cld
	mov rsi, msg			; 1: REP OUTSB to the UART
	mov ecx, msg_len
	mov dx, KEEL_GUEST_UART
	rep outsb
	test rcx, rcx
	jnz fail1
	mov rax, msg + msg_len
	cmp rsi, rax
	jne fail1

	mov dx, 0x510			; 2: REP INSB from fw_cfg key 0
	xor eax, eax
	out dx, ax
	mov rdi, sig
	mov ecx, 4
	mov dx, 0x511
	rep insb
	cmp dword [sig], 'QEMU'
	jne fail2

	mov rsi, pci_addr		; 3: REP OUTSD, 4 bytes per element
	mov ecx, 1
	mov dx, 0xCF8
	rep outsd
	in eax, dx
	cmp eax, [pci_addr]
	jne fail3

	mov dx, 0x510			; 4: backwards
	xor eax, eax
	out dx, ax
	std
	mov rdi, rev + 3
	mov ecx, 4
	mov dx, 0x511
	rep insb
	cld
	cmp dword [rev], 'UMEQ'
	jne fail4
	mov rax, rev - 1
	cmp rdi, rax
	jne fail4

	mov rdi, rev			; 5: RCX = 0
	xor ecx, ecx
	rep insb
	mov rax, rev
	cmp rdi, rax
	jne fail5
	cmp dword [rev], 'UMEQ'
	jne fail5

	mov dx, 0x510			; 6: 1000 bytes across a page boundary
	mov ax, 3
	out dx, ax
	mov rdi, big
	mov ecx, 1000
	mov dx, 0x511
	rep insb
	test rcx, rcx
	jnz fail6
	mov rax, big + 1000
	cmp rdi, rax
	jne fail6
	mov rax, [big]
	cmp rax, 4 << 20		; RAM_SIZE of mem=4M
	jne fail6
	mov rdi, big + 8		; the rest: zeros
	mov ecx, 1000 - 8
	xor eax, eax
	repe scasb
	jne fail6
	port_exit 0
fail1:	port_exit 1
fail2:	port_exit 2
fail3:	port_exit 3
fail4:	port_exit 4
fail5:	port_exit 5
fail6:	port_exit 6

message msg, "strio: this line went out through REP OUTSB"
pci_addr: dd 0x80001000
sig: dd 0
rev: dd 0
align 4096, db 0
	times 4096 - 500 db 0xEE
big:	times 1000 db 0xEE		; 500 bytes on each side of a page boundary
