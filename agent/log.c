/* Logging: journald fields under systemd (JOURNAL_STREAM names our stderr), a plain line on
 * stderr otherwise. libbpf's messages are routed here one level quieter than they claim. */
#include "log.h"

#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

/* The level is process-wide configuration set once from the command line. */
static int max_level = LOG_INFO;
static int use_journal = -1;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_parse_level(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	if (!strcasecmp(name, "error"))
		return LOG_ERR;
	if (!strcasecmp(name, "warn"))
		return LOG_WARNING;
	return -1;
}

void log_set_level(int level) { max_level = level; }
int log_get_level(void) { return max_level; }

/* JOURNAL_STREAM is "dev:inode" of the journal's stream socket; it is ours only when it
 * matches what stderr really is (a child with redirected stderr inherits the variable). */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_fields(int level, const char *const *fields, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (use_journal < 0)
		use_journal = stderr_is_journal();
	if (use_journal) {
		struct iovec iov[16];
		char m[1100], p[16];
		int n = 0;

		snprintf(m, sizeof(m), "MESSAGE=%s", msg);
		snprintf(p, sizeof(p), "PRIORITY=%d", level);
		iov[n++] = (struct iovec){ m, strlen(m) };
		iov[n++] = (struct iovec){ p, strlen(p) };
		for (int i = 0; fields && fields[i] && n < 16; i++)
			iov[n++] = (struct iovec){ (void *)fields[i], strlen(fields[i]) };
		if (sd_journal_sendv(iov, n) >= 0)
			return;
	}
	fprintf(stderr, "steerd[%s]: %s\n", level_names[level], msg);
}

static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	int level = lvl == LIBBPF_WARN ? LOG_NOTICE : lvl == LIBBPF_INFO ? LOG_DEBUG : LOG_DEBUG + 1;
	char msg[1024];
	size_t len;

	if (level > max_level)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_fields(level, (const char *const[]){ "SYSLOG_IDENTIFIER=steerd", "CODE_SUBSYSTEM=libbpf", NULL },
		   "%s", msg);
	return 0;
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
