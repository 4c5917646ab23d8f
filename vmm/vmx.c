/*
 * VMX on each CPU: the capability preflight (what the CPU offers, in words, and what to
 * do when something Keel needs is missing) and VMXON. Knows nothing of guests.
 * Preconditions of VMXON: SDM Vol 3C 24.7 "Enabling and Entering VMX Operation",
 * 24.8 "Restrictions on VMX Operation" (CR0/CR4 fixed bits, A.7, A.8).
 */
#include <arch/cpu.h>
#include <keel/errno.h>
#include <keel/frame.h>
#include <keel/printk.h>
#include <keel/pt_format.h>
#include <keel/smp.h>
#include <keel/string.h>

#include "vmx.h"

struct vmx_caps vmx_caps;
static struct frame *vmxon_region[MAX_CPUS];
static volatile bool vmx_on[MAX_CPUS];
static const char *vmx_fail_why[MAX_CPUS]; /* why VMXON failed there */

int vmx_ctl_adjust(uint64_t cap, struct vmx_ctl_req req, uint32_t *out, uint32_t *missing)
{
	uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
	*missing = req.want & ~may1;
	*out = ((req.want | req.opt) & may1) | must1;
	return *missing ? -ENOTSUP : 0;
}

/* Controls Keel asks for; see vmx.h for the bits. */
static const struct vmx_ctl_req req_pin = { PIN_EXT_INTR | PIN_NMI, PIN_PREEMPT_TIMER };
static const struct vmx_ctl_req req_proc = { PROC_HLT | PROC_UNCOND_IO | PROC_SECONDARY,
					     PROC_TSC_OFFSET };
static const struct vmx_ctl_req req_proc2 = { PROC2_EPT,
					      PROC2_VPID | PROC2_RDTSCP | PROC2_UNRESTRICTED };
static const struct vmx_ctl_req req_exit = { EXIT_HOST_64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER,
					     EXIT_SAVE_PAT | EXIT_LOAD_PAT };
static const struct vmx_ctl_req req_entry = { ENTRY_IA32E | ENTRY_LOAD_EFER, ENTRY_LOAD_PAT };

static int adjust(struct vmx_caps *c, const char *what, uint64_t cap, struct vmx_ctl_req r,
		  uint32_t *out)
{
	uint32_t missing;
	if (!vmx_ctl_adjust(cap, r, out, &missing))
		return 0;
	snprintf(c->why, sizeof(c->why), "%s controls 0x%x not allowed (cap 0x%llx)", what, missing,
		 (unsigned long long)cap);
	return -ENOTSUP;
}

int vmx_caps_decode(struct vmx_caps *c)
{
	c->why[0] = '\0';
	if (((c->basic >> 32) & 0x1FFF) > PAGE_SIZE || (c->basic & (1ull << 48))) {
		snprintf(c->why, sizeof(c->why), "VMCS region size/32-bit address limit unusable");
		return -ENOTSUP;
	}
	/* The caller stored TRUE_* values in these when VMX_BASIC bit 55 says they exist. */
	c->preempt_shift = c->misc & 0x1F;
	c->ept_ad = (c->ept_vpid & EPTCAP_AD) != 0;
	if ((c->ept_vpid & (EPTCAP_WALK4 | EPTCAP_WB | EPTCAP_INVEPT)) !=
	    (EPTCAP_WALK4 | EPTCAP_WB | EPTCAP_INVEPT)) {
		snprintf(c->why, sizeof(c->why),
			 "EPT lacks 4-level walks, write-back tables or INVEPT");
		return -ENOTSUP;
	}
	return 0;
}

/* Reads a capability MSR; 0 when it is not there (every control then "must be 0"). */
static uint64_t cap_msr(uint32_t msr)
{
	uint64_t v = 0;
	if (rdmsr_safe(msr, &v))
		return 0;
	return v;
}

static int read_caps(struct vmx_caps *c, uint64_t caps_raw[5])
{
	bool true_ctls = (c->basic & VMX_BASIC_TRUE_CTLS) != 0;
	caps_raw[0] = cap_msr(true_ctls ? MSR_VMX_TRUE_PINBASED : MSR_VMX_PINBASED);
	caps_raw[1] = cap_msr(true_ctls ? MSR_VMX_TRUE_PROCBASED : MSR_VMX_PROCBASED);
	caps_raw[2] = cap_msr(MSR_VMX_PROCBASED2); /* no TRUE form (A.3.3) */
	caps_raw[3] = cap_msr(true_ctls ? MSR_VMX_TRUE_EXIT : MSR_VMX_EXIT);
	caps_raw[4] = cap_msr(true_ctls ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY);
	if (adjust(c, "pin-based", caps_raw[0], req_pin, &c->pin) ||
	    adjust(c, "processor-based", caps_raw[1], req_proc, &c->proc) ||
	    adjust(c, "secondary processor-based (EPT)", caps_raw[2], req_proc2, &c->proc2) ||
	    adjust(c, "VM-exit", caps_raw[3], req_exit, &c->exit) ||
	    adjust(c, "VM-entry", caps_raw[4], req_entry, &c->entry))
		return -ENOTSUP;
	c->preempt_timer = (c->pin & PIN_PREEMPT_TIMER) != 0;
	c->vpid = (c->proc2 & PROC2_VPID) != 0;
	c->unrestricted = (c->proc2 & PROC2_UNRESTRICTED) != 0;
	c->intr_window = ((caps_raw[1] >> 32) & PROC_INTR_WINDOW) != 0;
	return vmx_caps_decode(c);
}

static const char *yn(bool b)
{
	return b ? "yes" : "NO";
}

static void print_caps(const struct vmx_caps *c, uint64_t proc2_cap, uint64_t pin_cap)
{
	uint64_t e = c->ept_vpid;
	bool ept = (proc2_cap >> 32) & PROC2_EPT;
	printk("vmx: VMCS revision %llu, true controls %s\n",
	       (unsigned long long)(c->basic & 0x7FFFFFFF), yn(c->basic & VMX_BASIC_TRUE_CTLS));
	printk("vmx: EPT %s (4-level %s, WB %s, 2M %s, 1G %s, A/D %s, execute-only %s)\n", yn(ept),
	       yn(e & EPTCAP_WALK4), yn(e & EPTCAP_WB), yn(e & EPTCAP_2M), yn(e & EPTCAP_1G),
	       yn(e & EPTCAP_AD), yn(e & EPTCAP_EXEC_ONLY));
	printk("vmx: INVEPT %s (single-context %s, all-context %s)\n", yn(e & EPTCAP_INVEPT),
	       yn(e & EPTCAP_INVEPT_SINGLE), yn(e & EPTCAP_INVEPT_ALL));
	printk("vmx: VPID %s, INVVPID %s (address %s, single %s, all %s, single-keep-globals %s)\n",
	       yn((proc2_cap >> 32) & PROC2_VPID), yn(e & EPTCAP_INVVPID),
	       yn(e & EPTCAP_INVVPID_ADDR), yn(e & EPTCAP_INVVPID_SINGLE),
	       yn(e & EPTCAP_INVVPID_ALL), yn(e & EPTCAP_INVVPID_SINGLE_GLOBALS));
	printk("vmx: unrestricted guest %s, VMX-preemption timer %s (TSC/%u)\n",
	       yn((proc2_cap >> 32) & PROC2_UNRESTRICTED), yn((pin_cap >> 32) & PIN_PREEMPT_TIMER),
	       1u << (c->misc & 0x1F));
}

static void print_howto(void)
{
	printk("vmx: to get a VMX CPU: under Linux/KVM load nested VMX "
	       "(`modprobe kvm_intel nested=1`) and run QEMU with `-accel kvm -cpu host,+vmx`; "
	       "QEMU TCG never has VMX; under Bochs use `cpu: model=tigerlake` "
	       "(scripts/run-bochs.sh does)\n");
}

/* Checks FEATURE_CONTROL; locks it with VMX on if the firmware left it unlocked. */
static int feature_control_ok(struct vmx_caps *c)
{
	uint64_t fc;
	if (rdmsr_safe(MSR_FEATURE_CONTROL, &fc)) {
		snprintf(c->why, sizeof(c->why), "IA32_FEATURE_CONTROL unreadable");
		return -ENOTSUP;
	}
	if (!(fc & FEATURE_CONTROL_LOCK)) {
		fc |= FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX;
		if (wrmsr_safe(MSR_FEATURE_CONTROL, fc)) {
			snprintf(c->why, sizeof(c->why), "cannot lock IA32_FEATURE_CONTROL");
			return -ENOTSUP;
		}
	}
	if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
		snprintf(c->why, sizeof(c->why),
			 "IA32_FEATURE_CONTROL is locked with VMX off (0x%llx): enable VT-x in "
			 "the firmware",
			 (unsigned long long)fc);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * The preflight (boot CPU): fills vmx_caps and prints what the CPU offers.
 * Returns 0 when guests can run.
 */
static int vmx_preflight(void)
{
	struct vmx_caps *c = &vmx_caps;
	uint32_t a, b, cx, d;
	uint64_t raw[5] = { 0 };
	cpuid(1, 0, &a, &b, &cx, &d);
	c->has_vmx = (cx >> 5) & 1;
	if (!c->has_vmx) {
		snprintf(c->why, sizeof(c->why), "the CPU has no VMX (CPUID.1:ECX bit 5 clear)");
		goto out_missing;
	}
	if (feature_control_ok(c))
		goto out_missing;
	c->basic = cap_msr(MSR_VMX_BASIC);
	c->misc = cap_msr(MSR_VMX_MISC);
	c->ept_vpid = cap_msr(MSR_VMX_EPT_VPID_CAP);
	c->cr0_fixed0 = cap_msr(MSR_VMX_CR0_FIXED0);
	c->cr0_fixed1 = cap_msr(MSR_VMX_CR0_FIXED1);
	c->cr4_fixed0 = cap_msr(MSR_VMX_CR4_FIXED0);
	c->cr4_fixed1 = cap_msr(MSR_VMX_CR4_FIXED1);
	int err = read_caps(c, raw);
	print_caps(c, raw[2], raw[0]);
	pt_ept_configure(c->ept_vpid & EPTCAP_1G); /* guest spaces only use leaves it has */
	if (err)
		goto out_missing;
	return 0;
out_missing:
	printk(KERN_WARN "vmx: no guest can run: %s\n", c->why);
	print_howto();
	return -ENOTSUP;
}

bool vmx_is_on_this_cpu(void)
{
	return vmx_on[this_cpu_id()];
}

bool vmx_cpu_is_on(unsigned cpu)
{
	return cpu < MAX_CPUS && __atomic_load_n(&vmx_on[cpu], __ATOMIC_ACQUIRE);
}

/* smp_call target: VMXON on the running CPU (SDM Vol 3C 24.7). */
static void vmx_on_this_cpu(void *arg)
{
	unsigned cpu = this_cpu_id();
	struct vmx_caps *c = &vmx_caps;
	if (vmx_on[cpu] || !vmxon_region[cpu])
		return;
	vmx_fail_why[cpu] = "IA32_FEATURE_CONTROL";
	if (feature_control_ok(c))
		return;
	/* CR0.NE must be 1 in VMX operation (A.7); Keel's exceptions do not care. */
	uint64_t cr0 = read_cr0() | (c->cr0_fixed0 & CR0_NE), cr4 = read_cr4() | CR4_VMXE;
	vmx_fail_why[cpu] = "CR0/CR4 outside the VMX fixed bits (SDM A.7, A.8)";
	if ((cr0 & c->cr0_fixed0) != c->cr0_fixed0 || (cr0 & ~c->cr0_fixed1) ||
	    (cr4 & c->cr4_fixed0) != c->cr4_fixed0 || (cr4 & ~c->cr4_fixed1))
		return;
	write_cr0(cr0);
	write_cr4(cr4);
	vmx_fail_why[cpu] = "VMXON instruction failed";
	*(uint32_t *)frame_kva(vmxon_region[cpu]) = (uint32_t)(c->basic & 0x7FFFFFFF);
	paddr_t pa = frame_pa(vmxon_region[cpu]);
	uint8_t bad;
	__asm__ __volatile__("vmxon %1; setna %0" : "=qm"(bad) : "m"(pa.v) : "cc", "memory");
	if (bad) {
		write_cr4(cr4 & ~CR4_VMXE);
		return;
	}
	vmx_on[cpu] = true;
}

unsigned vmx_enable_all(void)
{
	cpumask_t online = smp_online_mask();
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		if (!cpumask_test(online, i) || vmxon_region[i])
			continue;
		struct frame *f = frame_alloc(0, FRAME_KERNEL);
		if (!f)
			continue;
		memset(frame_kva(f), 0, PAGE_SIZE);
		vmxon_region[i] = f;
	}
	smp_call(online, vmx_on_this_cpu, NULL, true);
	unsigned n = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		n += vmx_on[i];
	return n;
}

/* Start-up hook (kmain): preflight, then VMXON everywhere. */
void vmm_init(void)
{
	if (vmx_preflight())
		return;
	unsigned n = vmx_enable_all();
	unsigned online = smp_cpu_online_count();
	if (n != online || !vmx_on[0]) {
		unsigned bad = 0;
		while (bad < MAX_CPUS - 1 && vmx_on[bad])
			bad++;
		snprintf(vmx_caps.why, sizeof(vmx_caps.why),
			 "VMXON failed on %u of %u CPUs (CPU %u: %s)", online - n, online, bad,
			 vmx_fail_why[bad] ? vmx_fail_why[bad] : "no VMXON region");
		printk(KERN_WARN "vmx: no guest can run: %s\n", vmx_caps.why);
		vmx_caps.usable = vmx_on[0];
		return;
	}
	vmx_caps.usable = true;
	printk("vmx: VMX on, %u CPUs in VMX root operation; controls pin 0x%x proc 0x%x "
	       "proc2 0x%x exit 0x%x entry 0x%x\n",
	       n, vmx_caps.pin, vmx_caps.proc, vmx_caps.proc2, vmx_caps.exit, vmx_caps.entry);
}
