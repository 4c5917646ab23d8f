/*
 * Guest descriptions: the `guest=` command-line option parsed into a struct, with a
 * reason for anything malformed. Pure (no guest state, no allocation, no printk), so
 * the parser is tested on its own; vmm.c turns a description into a guest.
 */
#ifndef VMM_GUEST_DESC_H
#define VMM_GUEST_DESC_H

#include <keel/compiler.h>
#include <keel/types.h>

#define GUEST_NAME_MAX 24
#define GUEST_VCPU_MAX 8

enum guest_mode { GUEST_MODE_LONG, GUEST_MODE_32, GUEST_MODE_REAL };

/*
 * What a guest is expected to do (expect=): by default exit with status 0 and report no
 * TAP failure; `exit:N` another status; `killed` be ended by Keel, `killed:WORDS` with a
 * reason that contains WORDS ('-' standing for a space: killed:triple-fault).
 */
enum guest_expect_kind { GUEST_EXPECT_EXIT, GUEST_EXPECT_KILLED };
#define GUEST_EXPECT_WORDS_MAX 32
struct guest_expect {
	enum guest_expect_kind kind;
	int64_t status;			    /* GUEST_EXPECT_EXIT */
	char words[GUEST_EXPECT_WORDS_MAX]; /* GUEST_EXPECT_KILLED: "" any reason */
};

/* Multiboot guests: the command line after the kernel's name, and the modules. */
#define GUEST_CMDLINE_MAX 256
#define GUEST_MOD_MAX 8
#define GUEST_MOD_STRING_MAX 128

/* A parsed `guest=` description. */
struct guest_desc {
	char name[GUEST_NAME_MAX];
	char image[64];
	uint64_t mem, arg, limit_ms;
	unsigned vcpus;
	int mode; /* -1: from the image (ELF class), else enum guest_mode */
	bool eager;
	bool hooks; /* hooks=1: the test hypercalls (KEEL_HC_TEST_*) are allowed */
	bool gdb;   /* gdb=1: stopped before its first instruction for gdb (vmm/gdb/) */
	struct guest_expect expect;
	bool has_cmdline;			       /* cmdline= given (Multiboot images only) */
	char cmdline[GUEST_CMDLINE_MAX];	       /* unescaped */
	unsigned mod_count;			       /* module= values, in order */
	char mod[GUEST_MOD_MAX][GUEST_MOD_STRING_MAX]; /* unescaped: "MODULE args" */
	bool sipi_start; /* smp=sipi: only vCPU 0 starts; the others wait for INIT-SIPI-SIPI */
};

/*
 * Parses `NAME,image=MODULE[,mem=][,vcpus=][,mode=][,arg=][,limit=][,populate=][,hooks=][,gdb=][,smp=][,expect=]
 * [,cmdline=TEXT][,module=MODULE[%20ARGS]]...` (s is modified) into d. The values of
 * cmdline= and module= (up to GUEST_MOD_MAX of them, kept in order) are %-escaped, as
 * the kernel command line splits at spaces and the description at commas: %XX is the
 * byte of hex XX (%20 a space, %2C a comma, %25 a percent sign); %00 and a '%' not
 * followed by two hex digits are refused. Returns 0, or -EINVAL with *why saying what
 * is wrong. Whether the name is already taken is the caller's question.
 */
int guest_desc_parse(char *s, struct guest_desc *d, const char **why) __must_check;

/* The mode= word of a mode ("long", "32", "real"). */
const char *guest_mode_str(enum guest_mode mode);

#endif
