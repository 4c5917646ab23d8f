# Keel top-level build. `make help` lists the targets.
# The kernel is one ELF64 image (build/keel.elf) booted by QEMU -kernel and by GRUB in
# Bochs. Every .c/.asm under arch/x86_64, kernel and vmm is part of the kernel, except
# *_host.c files (host-test-only).

BUILD    := build
CC       := gcc
NASM     := nasm
LD       := ld
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

ARCH_DIR := arch/x86_64
SRC_DIRS := $(ARCH_DIR) kernel kernel/lib kernel/mm kernel/user vmm vmm/dev vmm/gdb
C_SRCS   := $(filter-out %_host.c $(EXCLUDE),$(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c)))
ASM_SRCS := $(filter-out $(EXCLUDE),$(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.asm)))
OBJS     := $(C_SRCS:%.c=$(BUILD)/%.o) $(ASM_SRCS:%.asm=$(BUILD)/%.asm.o)

KCFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -fno-pic -fno-pie -mcmodel=kernel -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
	-fno-optimize-sibling-calls -fno-strict-aliasing -fno-common \
	-Iinclude -Ikernel -I$(ARCH_DIR)/include -DKEEL_DEBUG -MMD -MP
LDFLAGS  := -n -nostdlib --no-warn-rwx-segments -z max-page-size=0x1000 -z noexecstack -T $(ARCH_DIR)/linker.ld

# Reruns of `make test` rebuild only what changed.
.PHONY: all kernel clean help deps
all: kernel

kernel: $(BUILD)/keel.elf $(BUILD)/keel.sym

help:
	@echo "make            build the kernel (build/keel.elf)"
	@echo "make run        boot Keel (QEMU+KVM if the CPU has VMX, else Bochs); CPUS=N EMU=qemu|bochs CMDLINE='...'"
	@echo "make test       host tests + kernel tests under QEMU and Bochs; ends with 'N passed, N failed, N skipped'"
	@echo "make guest-test the test guests of guest/manifest under Bochs; ONLY=NAME runs one, CPUS=N"
	@echo "make mb-test    the Multiboot kernels of guest/mb: QEMU vs Keel verdicts; ONLY=NAME"
	@echo "make bench      page-table engine benchmarks (host) + TLB flush benchmark (kernel, QEMU)"
	@echo "make debug      QEMU paused with gdb attached;  make bochs-debug: Bochs debugger with symbols (GUEST=name: stop before its first VM entry; MODULES=)"
	@echo "make debug-guest GUEST=name   gdb on a guest of guest/manifest, under Bochs (WITH=a,b: other guests beside)"
	@echo "make check      clang-format check + static analysis"
	@echo "make deps       install missing Debian packages"

CPUS    ?= 2
EMU     ?= auto
CMDLINE ?=
MODULES ?=
LAYERS  ?=

.PHONY: run test bench debug bochs-debug debug-guest check format host-test guest-test mb-test
deps:
	@scripts/deps.sh ensure

# Without CMDLINE or MODULES: the demo guests (scripts/run.sh --demo).
run: kernel
	@scripts/run.sh --emu $(EMU) --cpus $(CPUS) $(if $(CMDLINE),--cmdline "$(CMDLINE)") $(if $(MODULES),--modules $(MODULES)) $(if $(CMDLINE)$(MODULES),,--demo)

# Host unit tests, kernel tests under QEMU (1, 4 CPUs) and Bochs (1, 2 CPUs), the
# demo guests, the TLB fallback layers (tlb-*: old Bochs models, pcid=noinvpcid|off);
# ends with "N passed, N failed, N skipped". LAYERS="host qemu-1cpu" runs a subset.
# The kernel and guests are built first with one job per core.
JOBS    ?= $(shell nproc 2>/dev/null || echo 1)
test:
	@$(MAKE) --no-print-directory $(if $(filter 1,$(V)),,-s) -j$(JOBS) kernel
	@scripts/test-all.sh $(LAYERS)

# The test guests of guest/manifest under Bochs (ONLY=NAME: just that one), with TAP,
# verdicts and build/test-results/guests-bochs-Ncpu.xml (JUnit).
guest-test: kernel
	@scripts/guest-test.sh --name guests-bochs-$(CPUS)cpu --cpus $(CPUS) $(if $(ONLY),--only $(ONLY),--no-penryn)

# The Multiboot test kernels of guest/mb under QEMU TCG and under Keel (Bochs), verdicts
# compared (ONLY=NAME: just that one).
mb-test: kernel
	@scripts/mb-test.sh $(if $(ONLY),--only $(ONLY))

host-test:
	@$(MAKE) --no-print-directory -j$(JOBS) -C tests/host run

# Host engine benchmark, the kernel's TLB benchmark under QEMU, user-mode costs (null
# system call, context switch) under QEMU, exit costs from a guest under Bochs (prints only): the tables as they come, then one summary line per figure
# (BENCH ...). The whole output is kept in build/bench/last.txt;
# scripts/bench-compare.sh OLD NEW compares two of them.
bench: kernel
	@mkdir -p $(BUILD)/bench
	@bash -o pipefail -c '{ $(MAKE) --no-print-directory -C tests/host bench && \
		scripts/kbench.sh --emu qemu && scripts/ubench.sh && scripts/guest-bench.sh; } | \
		tee $(BUILD)/bench/last.txt | grep -v "^BENCH "'
	@echo "# summary (also in $(BUILD)/bench/last.txt)"
	@grep '^BENCH ' $(BUILD)/bench/last.txt

debug: kernel
	@scripts/debug-qemu.sh $(if $(CMDLINE),--cmdline "$(CMDLINE)")

bochs-debug: kernel
	@scripts/debug-bochs.sh $(if $(CMDLINE),--cmdline "$(CMDLINE)") $(if $(MODULES),--modules $(MODULES)) $(if $(GUEST),--guest $(GUEST))

# gdb on one guest of guest/manifest (GUEST=name), stopped before its first instruction,
# under Bochs (Keel's gdb stub on COM2 as a TCP socket); WITH=a,b runs other guests beside.
debug-guest: kernel
	@$(if $(GUEST),,echo "make debug-guest GUEST=name (a guest of guest/manifest)"; exit 2;) \
	scripts/debug-guest.sh $(GUEST) --cpus $(CPUS) $(if $(WITH),--with $(WITH))

check:
	@scripts/check.sh

# The generated hypercall files are left as the generator writes them (check.sh too).
format:
	@git ls-files '*.c' '*.h' | grep -vxF -e include/uapi/keel_hypercall.h \
		-e guest/lib/keel_hypercalls.h -e vmm/hypercall_table.c | xargs clang-format -i

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/%.asm.o: %.asm | $(BUILD)/.nasm-ok
	@mkdir -p $(dir $@)
	@echo '  NASM  $<'
	$(Q)$(NASM) -f elf64 -g -F dwarf -I$(dir $<) -o $@ $<

# A fresh machine has no nasm: install the project's tools before the first build.
$(BUILD)/.nasm-ok:
	@mkdir -p $(BUILD)
	@scripts/deps.sh ensure build
	@touch $@

# Two links: the first (empty symbol table) gives the text addresses, which do not
# move in the second because .ksyms lies after .text and .rodata's code-free content.
$(BUILD)/ksyms0.c:
	@mkdir -p $(BUILD)
	$(Q)scripts/gen-ksyms.sh - > $@

$(BUILD)/keel.pass1.elf: $(OBJS) $(BUILD)/ksyms0.o $(ARCH_DIR)/linker.ld
	@echo '  LD    $@'
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(BUILD)/ksyms0.o

$(BUILD)/ksyms.c: $(BUILD)/keel.pass1.elf scripts/gen-ksyms.sh
	$(Q)scripts/gen-ksyms.sh $< > $@

$(BUILD)/keel.elf: $(BUILD)/keel.pass1.elf $(BUILD)/ksyms.o
	@echo '  LD    $@'
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(BUILD)/ksyms.o
	@scripts/gen-ksyms.sh $@ | cmp -s - $(BUILD)/ksyms.c || \
		{ echo "error: text moved between the two links" >&2; rm -f $@; exit 1; }

$(BUILD)/ksyms0.o: $(BUILD)/ksyms0.c
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@
$(BUILD)/ksyms.o: $(BUILD)/ksyms.c
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/keel.sym: $(BUILD)/keel.elf
	$(Q)nm -n --defined-only $< | awk '{ print $$1, $$3 }' > $@

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)

# ---- The hypercall ABI: include/uapi/hypercalls.tab is the one description; these are
# generated from it and committed (scripts/gen-hypercalls.sh; make check checks them).
HC_GEN := include/uapi/keel_hypercall.h guest/lib/keel_hypercalls.h \
	guest/lib/keel_hypercalls.inc vmm/hypercall_table.c docs/hypercalls.md
$(HC_GEN) &: include/uapi/hypercalls.tab scripts/gen-hypercalls.awk scripts/gen-hypercalls.sh
	$(Q)scripts/gen-hypercalls.sh
# The system calls of user processes: include/uapi/syscalls.tab, the same generator.
SYS_GEN := include/uapi/keel_syscall.h tests/user/lib/keel_syscalls.h \
	kernel/user/syscall_table.c docs/syscalls.md
$(SYS_GEN) &: include/uapi/syscalls.tab scripts/gen-hypercalls.awk scripts/gen-hypercalls.sh
	$(Q)scripts/gen-hypercalls.sh

# ---- guests: build/guest/NAME.bin (flat) and NAME.elf (C guests). See guest/README.md.
# NASM guests: guest/*.asm, flat images (long mode at 0x100000, real mode at 0x7C00).
# C guests: NAME=SOURCE pairs; each is linked with the guest library (guest/lib) for
# long mode (ELF64) or 32-bit protected mode (ELF32), and also copied to a flat .bin
# (entered at its first byte, .bss included as zeros). Every guest/NAME.c is a 64-bit
# guest NAME by itself (hello.c, whose name the NASM hello takes, makes hello64 and
# hello32). The uapi header's #define lines become a NASM include.
GUEST_ASM    := $(wildcard guest/*.asm)
GUEST_C64    := hello64=hello $(foreach f,$(filter-out hello,$(notdir $(basename \
	$(wildcard guest/*.c)))),$(f)=$(f))
GUEST_C32    := hello32=hello mmio32=mmio
guest_name    = $(firstword $(subst =, ,$(1)))
guest_src     = $(lastword $(subst =, ,$(1)))
GUEST_C_ALL  := $(foreach g,$(GUEST_C64) $(GUEST_C32),$(call guest_name,$(g)))
GUEST_IMAGES := $(GUEST_ASM:guest/%.asm=$(BUILD)/guest/%.bin) \
	$(GUEST_C_ALL:%=$(BUILD)/guest/%.bin) $(GUEST_C_ALL:%=$(BUILD)/guest/%.elf)
GUEST_LIB    := printf tap string uart sync
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fno-omit-frame-pointer -fno-strict-aliasing -fno-common -Iinclude -Iguest/lib -MMD -MP
GUEST_CFLAGS_64 := -m64 -mcmodel=small
GUEST_CFLAGS_32 := -m32 -march=i686
GUEST_LD_64  := elf_x86_64
GUEST_LD_32  := elf_i386
GUEST_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack -T guest/lib/guest.ld
.PHONY: guests
guests: $(GUEST_IMAGES)
kernel: $(GUEST_IMAGES)

$(BUILD)/guest/keel_hypercall.inc: include/uapi/keel_hypercall.h
	@mkdir -p $(dir $@)
	$(Q)grep '^#define' $< | sed 's/\/\*.*//; s/^#define/%define/' > $@

$(BUILD)/guest/%.bin: guest/%.asm guest/lib.inc guest/lib/keel_hypercalls.inc \
		$(BUILD)/guest/keel_hypercall.inc | $(BUILD)/.nasm-ok
	@echo '  NASM  $<'
	$(Q)$(NASM) -f bin -Iguest/ -Iguest/lib/ -I$(BUILD)/guest/ -o $@ $<

# Objects per width: build/guest/64/... and build/guest/32/...
define guest_width
$(BUILD)/guest/$(1)/%.o: guest/%.c
	@mkdir -p $$(dir $$@)
	@echo '  CC$(1)  $$<'
	$(Q)$(CC) $(GUEST_CFLAGS) $(GUEST_CFLAGS_$(1)) -c $$< -o $$@

$(BUILD)/guest/$(1)/lib/crt0.o: guest/lib/crt0.asm $(BUILD)/guest/keel_hypercall.inc | $(BUILD)/.nasm-ok
	@mkdir -p $$(dir $$@)
	@echo '  NASM  $$< ($(1)-bit)'
	$(Q)$(NASM) -f elf$(1) -DGUEST_BITS=$(1) -I$(BUILD)/guest/ -o $$@ $$<

GUEST_LIB_$(1) := $(BUILD)/guest/$(1)/lib/crt0.o $(GUEST_LIB:%=$(BUILD)/guest/$(1)/lib/%.o)
-include $(GUEST_LIB:%=$(BUILD)/guest/$(1)/lib/%.d)
endef
$(eval $(call guest_width,64))
$(eval $(call guest_width,32))

# One C guest: $(1) name, $(2) source, $(3) width.
define guest_c
$(BUILD)/guest/$(1).elf: $(BUILD)/guest/$(3)/$(2).o $$(GUEST_LIB_$(3)) guest/lib/guest.ld
	@echo '  LD    $$@'
	$(Q)$(LD) -m $(GUEST_LD_$(3)) $(GUEST_LDFLAGS) -o $$@ $$(GUEST_LIB_$(3)) $(BUILD)/guest/$(3)/$(2).o
-include $(BUILD)/guest/$(3)/$(2).d
endef
$(foreach g,$(GUEST_C64),$(eval $(call guest_c,$(call guest_name,$(g)),$(call guest_src,$(g)),64)))
$(foreach g,$(GUEST_C32),$(eval $(call guest_c,$(call guest_name,$(g)),$(call guest_src,$(g)),32)))

$(BUILD)/guest/%.bin: $(BUILD)/guest/%.elf
	@echo '  BIN   $@'
	$(Q)objcopy -O binary --set-section-flags .bss=alloc,load,contents $< $@

# ---- Multiboot test kernels: build/guest/mb/NAME.elf (ELF32, Multiboot v1) from
# guest/mb/NAME.c or NAME.asm (defining mb_main), each linked with guest/mb/start.asm,
# mb.c and guest/lib's printf/tap/string/uart (32-bit). See guest/mb/README.md.
MB_SRC      := $(filter-out guest/mb/mb.c guest/mb/start.asm,$(wildcard guest/mb/*.c guest/mb/*.asm))
MB_KERNELS  := $(addprefix $(BUILD)/guest/mb/,$(addsuffix .elf,$(basename $(notdir $(MB_SRC)))))
MB_LIB      := $(BUILD)/guest/mb/start.o $(BUILD)/guest/mb/mb.o \
	$(addprefix $(BUILD)/guest/32/lib/,printf.o tap.o string.o uart.o)
.PHONY: mb-kernels
mb-kernels: $(MB_KERNELS)
kernel: $(MB_KERNELS)
$(BUILD)/guest/mb/%.o: guest/mb/%.c
	@mkdir -p $(dir $@)
	@echo '  CC32  $<'
	$(Q)$(CC) $(GUEST_CFLAGS) $(GUEST_CFLAGS_32) -Iguest/mb -c $< -o $@
$(BUILD)/guest/mb/%.o: guest/mb/%.asm | $(BUILD)/.nasm-ok
	@mkdir -p $(dir $@)
	@echo '  NASM  $<'
	$(Q)$(NASM) -f elf32 -Iguest/mb/ -o $@ $<
$(BUILD)/guest/mb/%.elf: $(BUILD)/guest/mb/%.o $(MB_LIB) guest/mb/mb.ld
	@echo '  LD    $@'
	$(Q)$(LD) -m elf_i386 $(GUEST_LDFLAGS:guest/lib/guest.ld=guest/mb/mb.ld) -o $@ $(MB_LIB) $<
.PRECIOUS: $(BUILD)/guest/mb/%.o
-include $(wildcard $(BUILD)/guest/mb/*.d)

# ---- user programs: build/user/NAME.elf from tests/user/NAME.c and the user runtime
# (tests/user/lib, plus guest/lib's tap.c and string.c as they are). See tests/user/README.md.
USER_PROGS   := $(notdir $(basename $(wildcard tests/user/*.c)))
USER_IMAGES  := $(USER_PROGS:%=$(BUILD)/user/%.elf)
USER_RT      := $(BUILD)/user/lib/crt0.o $(BUILD)/user/lib/runtime.o $(BUILD)/user/lib/printf.o \
	$(BUILD)/user/lib/string.o $(BUILD)/user/guestlib/tap.o $(BUILD)/user/guestlib/string.o
USER_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-omit-frame-pointer \
	-fno-strict-aliasing -fno-common -m64 -mcmodel=small -Iinclude -Itests/user/lib -MMD -MP
.PHONY: user-programs
user-programs: $(USER_IMAGES)
kernel: $(USER_IMAGES)
$(BUILD)/user/%.o: tests/user/%.c
	@mkdir -p $(dir $@)
	@echo '  CCU   $<'
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@
$(BUILD)/user/guestlib/%.o: guest/lib/%.c
	@mkdir -p $(dir $@)
	@echo '  CCU   $<'
	$(Q)$(CC) $(USER_CFLAGS) -Iguest/lib -c $< -o $@
$(BUILD)/user/lib/crt0.o: tests/user/lib/crt0.asm | $(BUILD)/.nasm-ok
	@mkdir -p $(dir $@)
	$(Q)$(NASM) -f elf64 -o $@ $<
$(BUILD)/user/%.elf: $(BUILD)/user/%.o $(USER_RT) tests/user/lib/user.ld
	@echo '  LD    $@'
	$(Q)$(LD) -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -z noexecstack \
		-T tests/user/lib/user.ld -o $@ $(USER_RT) $<
-include $(USER_RT:.o=.d) $(USER_IMAGES:.elf=.d)
# The trap frame's register macros, included by both entry files.
$(BUILD)/arch/x86_64/isr.asm.o $(BUILD)/arch/x86_64/syscall.asm.o: arch/x86_64/frame.inc
