/*
 * Host tests of the pure parts of user processes: the `user=` description parser and
 * judge (kernel/user/user_desc.c) and the static ELF64 checks (kernel/user/elf.c), with
 * ELF images built from the host's <elf.h> structs (not the parser's offsets) and
 * parsed from heap copies of exactly their size (ASan catches overreads).
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include <keel/errno.h>

#include "pt_test.h"
#include "user/elf.h"
#include "user/user_desc.h"

static int parse(const char *text, struct user_desc *d, const char **why)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", text);
	return user_desc_parse(buf, d, why);
}

static void t_desc_parses_every_option(const void *arg)
{
	struct user_desc d;
	const char *why = "";

	(void)arg;
	T_EQ(parse("tlb,image=tlbprog,arg=3s,expect=killed:page-fault", &d, &why), 0);
	T_ASSERT(!strcmp(d.name, "tlb") && !strcmp(d.image, "tlbprog") && !strcmp(d.arg, "3s"));
	T_EQ(d.expect, USER_EXPECT_KILLED);
	T_ASSERT(!strcmp(d.expect_words, "page fault")); /* '-' stands for a space */
	T_EQ(parse("h,image=h", &d, &why), 0);
	T_ASSERT(d.arg[0] == 0 && d.expect == USER_EXPECT_EXIT && d.expect_status == 0);
	T_EQ(parse("h,image=h,expect=exit:-7", &d, &why), 0);
	T_EQ(d.expect_status, -7);
}

static void t_desc_refuses_malformed(const void *arg)
{
	static const char *const bad[] = {
		"",
		",image=x",
		"h",
		"h,image=",
		"h,image=x,arg=",
		"h,image=x,color=red",
		"h,image=x,noequals",
		"h,image=x,expect=exit:",
		"h,image=x,expect=exit:12a",
		"h,image=x,expect=maybe",
		"h,image=x,expect=killed:",
		"a-name-longer-than-twenty-four-chars,image=x",
	};
	struct user_desc d;

	(void)arg;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		T_EQ(parse(bad[i], &d, &why), -EINVAL);
		T_ASSERT(why && why[0]);
	}
}

static void t_desc_judges_outcomes(const void *arg)
{
	struct user_desc d;
	const char *why = "";

	(void)arg;
	T_EQ(parse("h,image=h", &d, &why), 0);
	T_ASSERT(user_desc_judge(&d, false, "", 0, 0, &why));
	T_ASSERT(!user_desc_judge(&d, false, "", 1, 0, &why));
	T_ASSERT(!user_desc_judge(&d, false, "", 0, 1, &why)); /* a TAP "not ok" */
	T_ASSERT(!user_desc_judge(&d, true, "#UD", -1, 0, &why));
	T_EQ(parse("h,image=h,expect=killed:#GP", &d, &why), 0);
	T_ASSERT(user_desc_judge(&d, true, "#GP general protection", -1, 0, &why));
	T_ASSERT(!user_desc_judge(&d, true, "#UD invalid opcode", -1, 0, &why));
	T_ASSERT(!user_desc_judge(&d, false, "", 0, 0, &why));
}

/* ---- ELF */

#define LO 0x10000ull
#define HI 0x10000000000ull

struct img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t body[64];
};

static void img_init(struct img *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->eh.e_ident, ELFMAG, SELFMAG);
	m->eh.e_ident[EI_CLASS] = ELFCLASS64;
	m->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	m->eh.e_ident[EI_VERSION] = EV_CURRENT;
	m->eh.e_type = ET_EXEC;
	m->eh.e_machine = EM_X86_64;
	m->eh.e_phentsize = sizeof(Elf64_Phdr);
	m->eh.e_phoff = offsetof(struct img, ph);
	m->eh.e_phnum = 2;
	m->eh.e_entry = 0x400010;
	m->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
				 .p_flags = PF_R | PF_X,
				 .p_offset = offsetof(struct img, body),
				 .p_vaddr = 0x400000,
				 .p_filesz = 32,
				 .p_memsz = 32 };
	m->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD,
				 .p_flags = PF_R | PF_W,
				 .p_offset = offsetof(struct img, body) + 32,
				 .p_vaddr = 0x401000,
				 .p_filesz = 32,
				 .p_memsz = 8192 };
}

/* Parses an exact-size heap copy of m's first size bytes. */
static int img_parse(const struct img *m, size_t size, struct uelf *e)
{
	void *copy = malloc(size);
	const char *why = NULL;
	int rc;

	memcpy(copy, m, size);
	rc = uelf_parse(copy, size, LO, HI, e, &why);
	free(copy);
	return rc == 0 || (why && why[0]) ? rc : -999;
}

static void t_elf_accepts_a_static_executable(const void *arg)
{
	struct img m;
	struct uelf e;

	(void)arg;
	img_init(&m);
	T_EQ(img_parse(&m, sizeof(m), &e), 0);
	T_EQ(e.entry, 0x400010);
	T_EQ(e.count, 2);
	T_ASSERT(e.seg[0].exec && !e.seg[0].write && e.seg[1].write && !e.seg[1].exec);
	T_EQ(e.seg[1].memsz, 8192);
	T_EQ(e.seg[1].offset, offsetof(struct img, body) + 32);
}

static void t_elf_refuses_every_bad_field(const void *arg)
{
	struct img m;
	struct uelf e;

	(void)arg;
	for (unsigned k = 0; k < 12; k++) {
		size_t size = sizeof(m);

		img_init(&m);
		switch (k) {
		case 0:
			size = 40;
			break; /* header cut */
		case 1:
			m.eh.e_ident[EI_CLASS] = ELFCLASS32;
			break;
		case 2:
			m.eh.e_type = ET_DYN;
			break;
		case 3:
			m.eh.e_machine = EM_386;
			break;
		case 4:
			m.eh.e_phnum = 60;
			break; /* headers past the end */
		case 5:
			m.ph[0].p_filesz = 64;
			m.ph[0].p_memsz = 32;
			break;
		case 6:
			m.ph[1].p_offset = sizeof(m);
			break; /* bytes past the end */
		case 7:
			m.ph[0].p_vaddr = 0x1000;
			break; /* below the window */
		case 8:
			m.ph[1].p_vaddr = HI - 4096;
			break; /* memsz runs past it */
		case 9:
			m.ph[1].p_vaddr = 0x400800;
			break; /* shares a page */
		case 10:
			m.eh.e_entry = 0x401000;
			break; /* entry not executable */
		case 11:
			m.ph[0].p_type = m.ph[1].p_type = PT_NOTE;
			break;
		}
		T_EQ(img_parse(&m, size, &e), -EINVAL);
	}
}

int main(void)
{
	tap_run("desc_parses_every_option", t_desc_parses_every_option, NULL);
	tap_run("desc_refuses_malformed", t_desc_refuses_malformed, NULL);
	tap_run("desc_judges_outcomes", t_desc_judges_outcomes, NULL);
	tap_run("elf_accepts_a_static_executable", t_elf_accepts_a_static_executable, NULL);
	tap_run("elf_refuses_every_bad_field", t_elf_refuses_every_bad_field, NULL);
	return tap_finish();
}
