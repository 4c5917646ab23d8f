/*
 * User program descriptions: the `user=` command-line option parsed into a struct, with
 * a reason for anything malformed. Pure (no allocation, no printk, no process state), so
 * the parser is tested on its own on the host (tests/host/test_user_desc.c); process.c
 * turns a description into a process. Shaped like vmm/guest_desc.h.
 */
#ifndef KERNEL_USER_USER_DESC_H
#define KERNEL_USER_USER_DESC_H

#include <keel/compiler.h>
#include <keel/types.h>

#define USER_DESC_NAME_MAX 24
#define USER_DESC_IMAGE_MAX 64
#define USER_DESC_ARG_MAX 128 /* KEEL_START_ARG_MAX */
#define USER_DESC_WORDS_MAX 48

/*
 * What the program is expected to do (expect=): by default exit with status 0 and print
 * no TAP `not ok`; `exit:N` another status; `killed` be ended by the kernel, or
 * `killed:WORDS` with a reason containing WORDS ('-' standing for a space).
 */
enum user_expect_kind { USER_EXPECT_EXIT, USER_EXPECT_KILLED };

struct user_desc {
	char name[USER_DESC_NAME_MAX];
	char image[USER_DESC_IMAGE_MAX];
	char arg[USER_DESC_ARG_MAX]; /* "" when absent */
	enum user_expect_kind expect;
	int64_t expect_status;			/* USER_EXPECT_EXIT */
	char expect_words[USER_DESC_WORDS_MAX]; /* USER_EXPECT_KILLED: "" any reason */
};

/*
 * Parses `NAME,image=MODULE[,arg=WORD][,expect=exit:N|killed[:WORDS]]` (s is modified)
 * into d. Returns 0, or -EINVAL with *why saying what is wrong.
 */
int user_desc_parse(char *s, struct user_desc *d, const char **why) __must_check;

/* True if a program that ended as said (killed with reason, or exited with status, and
 * not_ok TAP failures) did what d expects; else *why says how it differs. */
bool user_desc_judge(const struct user_desc *d, bool killed, const char *reason, int64_t status,
		     unsigned not_ok, const char **why);

#endif
