/* Command-line parser tests: run against synthetic lines swapped into boot_info. */
#include <keel/boot.h>
#include <keel/cmdline.h>
#include <keel/ktest.h>
#include <keel/string.h>

static char saved[BOOT_CMDLINE_MAX];

static void cmdline_swap_in(const char *line)
{
	memcpy(saved, boot_info.cmdline, sizeof(saved));
	snprintf(boot_info.cmdline, sizeof(boot_info.cmdline), "%s", line);
}

static void cmdline_restore(void)
{
	memcpy(boot_info.cmdline, saved, sizeof(saved));
}

/* Parses line; returns the number of bad options reported. */
static int bad_count(const char *line)
{
	cmdline_swap_in(line);
	int bad = cmdline_parse();
	cmdline_restore();
	return bad;
}

KTEST(cmdline_valid_options_accepted)
{
	KT_ASSERT_EQ(bad_count(""), 0);
	KT_ASSERT_EQ(bad_count("loglevel=7 e9 e9=0   test=a*,b?"), 0);
	KT_ASSERT_EQ(bad_count("loglevel=0x7"), 0);
}

KTEST(cmdline_unknown_and_malformed_rejected)
{
	KT_ASSERT_EQ(bad_count("bogus=1"), 1);
	KT_ASSERT_EQ(bad_count("loglevel=8"), 1); /* out of range */
	KT_ASSERT_EQ(bad_count("loglevel=seven"), 1);
	KT_ASSERT_EQ(bad_count("loglevel"), 1); /* integer needs a value */
	KT_ASSERT_EQ(bad_count("e9=2"), 1);
	KT_ASSERT_EQ(bad_count("test="), 1);
	KT_ASSERT_EQ(bad_count("=5 loglevel=1x"), 2);
}

KTEST(cmdline_last_value_wins_and_nth_reads_repeats)
{
	char buf[16];
	cmdline_swap_in("loglevel=3 test=x loglevel=5 test=y");
	long lvl = cmdline_get_int("loglevel", -1);
	bool second = cmdline_get_nth("test", 1, buf, sizeof(buf));
	bool third = cmdline_get_nth("test", 2, buf + 8, 8);
	bool absent = cmdline_get_bool("e9", false);
	cmdline_restore();
	KT_ASSERT_EQ(lvl, 5);
	KT_ASSERT(second && !strcmp(buf, "y"));
	KT_ASSERT(!third);
	KT_ASSERT(!absent);
}

KTEST(cmdline_value_truncated_to_buffer)
{
	char buf[4];
	cmdline_swap_in("test=abcdefgh");
	bool got = cmdline_get_str("test", buf, sizeof(buf));
	cmdline_restore();
	KT_ASSERT(got);
	KT_ASSERT(!strcmp(buf, "abc"));
}
