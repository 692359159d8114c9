/* Logging: journald fields under systemd (JOURNAL_STREAM names our stderr), a plain line on
 * stderr otherwise. libbpf's messages are routed here one level quieter than they claim. */
#include "log.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
/* CODE_FILE= and friends name the caller of log_emit(), not this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

/* The level is process-wide configuration set once from the command line. */
static int max_level = LOG_INFO;
static int use_journal = -1;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/* Fixed for good: journalctl MESSAGE_ID=... queries and alerts outlive releases. */
static const struct {
	const char *id, *name;
} events[LOG_EV_MAX] = {
	[LOG_EV_STARTED]           = { "d014a79bcedc43d8b82f93ea1e5bdf27", "started" },
	[LOG_EV_STOPPING]          = { "1fb9b9a516a548c0aea78ab5706fe5d5", "stopping" },
	[LOG_EV_FATAL]             = { "735e3f3ee78e4b88801fcd9682a959f2", "fatal" },
	[LOG_EV_CAPABILITY_MISSING] = { "175a9cb16ecc499094e461a89b3912fc", "capability-missing" },
	[LOG_EV_CONFIG_LOADED]     = { "e59028052bf84ea5b6206f6761871147", "config-loaded" },
	[LOG_EV_CONFIG_REJECTED]   = { "5624b18821184ea7b992af79ff876edd", "config-rejected" },
	[LOG_EV_RELOADING]         = { "945bd5f5aa8e4102aa7864c349a1aa74", "reloading" },
	[LOG_EV_FIRST_SYNC]        = { "68cbcac1e7ad41eaabf4580b066bcb2e", "first-sync" },
	[LOG_EV_RULES_TRUNCATED]   = { "8b29bff6ae4b46ddbf544f156fbba248", "rules-truncated" },
	[LOG_EV_CAPACITY]          = { "c37e37a98edc467cb5a163905faf106e", "capacity" },
	[LOG_EV_DRIFT]             = { "de90704f7f1a4bcda8c43c0e4dd5128b", "drift" },
	[LOG_EV_RESYNC]            = { "6d9bc544b7d24afdad13035fb7228fa2", "resync" },
	[LOG_EV_IFACE_WAIT]        = { "7a62e0d50a52454e9368419bd2b48731", "interface-wait" },
	[LOG_EV_PROGRAM_LOADED]    = { "a0877beca1f44f9fbf13ffa44a5a9cd7", "program-loaded" },
	[LOG_EV_PROGRAM_FAILED]    = { "bebf8d90e1434ed5bfec21ac0b36cc9d", "program-failed" },
	[LOG_EV_PIN_REPLACED]      = { "41b10dbcac994715a60f1f745f53aae7", "pin-replaced" },
	[LOG_EV_ATTACHED]          = { "198c2dc08704437f8519400e071843c7", "attached" },
	[LOG_EV_ATTACH_FAILED]     = { "30fc7c53a77d4825bde18374d1554c5d", "attach-failed" },
	[LOG_EV_DETACHED]          = { "c5a33325f2cb4aa9897f782e802cb70e", "detached" },
	[LOG_EV_CLEANUP]           = { "294cd37810bc4a7ea8505806809d2df3", "cleanup" },
	[LOG_EV_ADOPTED]           = { "a69ad1e00ea84be192697a7107677955", "adopted" },
	[LOG_EV_APPLY_FAILED]      = { "027247bb840348f882f45fa0157ca8ee", "apply-failed" },
	[LOG_EV_APPLY_RECOVERED]   = { "91be72b23f034836a55ad5309c02968e", "apply-recovered" },
	[LOG_EV_NETLINK_OPENED]    = { "d4a0850d58f8425a9ab58b8764f29e2b", "netlink-opened" },
	[LOG_EV_NETLINK_FAILED]    = { "c859d1515bd34848833ac29eb24148a2", "netlink-failed" },
	[LOG_EV_OVERRUN]           = { "1962ac95909d4e51923c7e0ea5742618", "overrun" },
	[LOG_EV_DUMP_RETRY]        = { "8732fed4b57540fcb360e23143e3b65e", "dump-retry" },
	[LOG_EV_SWEPT]             = { "fd6e88690a24400eb5d2b9be391074d9", "swept" },
	[LOG_EV_NETLINK_MALFORMED] = { "72621fd3e4604e26b88ad10f8cd34a34", "netlink-malformed" },
	[LOG_EV_NETLINK_FOREIGN]   = { "cac2426db6714ce89a810151fd9ac4e5", "netlink-foreign" },
	[LOG_EV_LINK_STATE]        = { "ba9ffa5e0bb642b9aadc8ffa12794bea", "link-state" },
	[LOG_EV_RULE_UNSUPPORTED]  = { "b72ee02f1d164dc88fc6defc80a43f13", "rule-unsupported" },
	[LOG_EV_NETFILTER_FOUND]   = { "e0b1bdac0164441ab2aaf74e18062896", "netfilter-found" },
	[LOG_EV_NETFILTER_CLEARED] = { "f203454d31954bf19fa91a6d16ba5a59", "netfilter-cleared" },
	[LOG_EV_NETFILTER_UNKNOWN] = { "afddb31c214c4e45babba029f250b58d", "netfilter-unknown" },
	[LOG_EV_NETFILTER_BYPASSED] = { "f0ae5ececc86401997229d75af1f4feb", "netfilter-bypassed" },
};

const char *log_event_id(enum log_event ev)
{
	return ev > LOG_EV_NONE && ev < LOG_EV_MAX ? events[ev].id : NULL;
}

const char *log_event_name(enum log_event ev)
{
	return ev > LOG_EV_NONE && ev < LOG_EV_MAX ? events[ev].name : NULL;
}

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

/* Room for the fixed fields plus a few extra ones per message. */
#define MAX_IOV 20

struct entry {
	struct iovec iov[MAX_IOV];
	int n;
	char buf[512];		/* the short fields, back to back */
	size_t used;
};

static void add(struct entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct entry *e, const char *fmt, ...)
{
	size_t room = sizeof(e->buf) - e->used;
	va_list ap;
	int len;

	if (e->n == MAX_IOV)
		return;
	va_start(ap, fmt);
	len = vsnprintf(e->buf + e->used, room, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= room)
		return;		/* a field that does not fit is left out, not cut */
	e->iov[e->n++] = (struct iovec){ e->buf + e->used, (size_t)len };
	e->used += (size_t)len + 1;
}

static int send_journal(int level, enum log_event ev, const struct log_ctx *ctx,
			const char *const *fields, const char *file, int line, const char *func,
			const char *msg)
{
	struct entry e = { .n = 0 };
	char m[1100];
	int len = snprintf(m, sizeof(m), "MESSAGE=%s", msg);

	e.iov[e.n++] = (struct iovec){ m, (size_t)len < sizeof(m) ? (size_t)len : sizeof(m) - 1 };
	add(&e, "PRIORITY=%d", level);
	add(&e, "SYSLOG_IDENTIFIER=steerd");
	if (log_event_id(ev)) {
		add(&e, "MESSAGE_ID=%s", log_event_id(ev));
		add(&e, "STEER_EVENT=%s", log_event_name(ev));
	}
	if (ctx && ctx->ifname)
		add(&e, "INTERFACE=%s", ctx->ifname);
	if (ctx && ctx->has_table)
		add(&e, "TABLE=%u", ctx->table);
	if (ctx && ctx->has_priority)
		add(&e, "RULE_PRIORITY=%u", ctx->priority);
	if (ctx && ctx->error)
		add(&e, "ERRNO=%d", ctx->error < 0 ? -ctx->error : ctx->error);
	if (file) {
		while (!strncmp(file, "../", 3))	/* meson compiles from the build dir */
			file += 3;
		add(&e, "CODE_FILE=%s", file);
		add(&e, "CODE_LINE=%d", line);
		add(&e, "CODE_FUNC=%s", func);
	}
	for (int i = 0; fields && fields[i] && e.n < MAX_IOV; i++)
		e.iov[e.n++] = (struct iovec){ (void *)fields[i], strlen(fields[i]) };
	return sd_journal_sendv(e.iov, e.n);
}

void log_emit(const char *file, int line, const char *func, int level, enum log_event ev,
	      const char *const *fields, const struct log_ctx *ctx, const char *fmt, ...)
{
	int saved_errno = errno;
	char msg[1024], extra[160] = "";
	size_t x = 0;
	va_list ap;

	if (level > max_level || level < 0 || level > LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* %m reads errno: format before anything else */
	va_end(ap);

	if (use_journal < 0)
		use_journal = stderr_is_journal();
	if (use_journal && send_journal(level, ev, ctx, fields, file, line, func, msg) >= 0) {
		errno = saved_errno;
		return;
	}
	/* On stderr, what the event concerns follows the message in brackets, so a line
	 * greps the same way the journal's fields filter. */
	if (ctx && ctx->ifname)
		x += (size_t)snprintf(extra + x, sizeof(extra) - x, " iface=%s", ctx->ifname);
	if (ctx && ctx->has_table && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x, " table=%u", ctx->table);
	if (ctx && ctx->has_priority && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x, " priority=%u", ctx->priority);
	if (use_journal)	/* the journal socket failed; the stream still takes a level prefix */
		fprintf(stderr, "<%d>%s%s%s%s\n", level, msg, x ? " (" : "", x ? extra + 1 : "",
			x ? ")" : "");
	else
		fprintf(stderr, "steerd[%s]: %s%s%s%s\n", level_names[level], msg, x ? " (" : "",
			x ? extra + 1 : "", x ? ")" : "");
	errno = saved_errno;
}

static void libbpf_line(int level, const char *line, size_t len)
{
	/* No CODE_* fields: they would name this function, not libbpf's. */
	log_emit(NULL, 0, NULL, level, LOG_EV_NONE,
		 (const char *const[]){ "CODE_SUBSYSTEM=libbpf", NULL }, NULL, "%.*s", (int)len, line);
}

/* libbpf hands over a refused program's whole verifier log as one message: thousands of
 * lines, the reason at the end. Logged line by line, its head and its tail. */
static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	enum { HEAD = 5, TAIL = 40 };
	int level = lvl == LIBBPF_WARN ? LOG_NOTICE : lvl == LIBBPF_INFO ? LOG_DEBUG : LOG_DEBUG + 1;
	char *msg, *p, *nl;
	size_t lines = 0, i = 0;

	if (level > max_level || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	for (p = msg; *p; p++)
		lines += *p == '\n' || !p[1];
	for (p = msg; *p; p = nl + 1, i++) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		if (i < HEAD || i + TAIL >= lines)
			libbpf_line(level, p, (size_t)(nl - p) + (*nl != '\n'));
		else if (i == HEAD)
			log_emit(NULL, 0, NULL, level, LOG_EV_NONE, NULL, NULL, "... %zu lines of libbpf's message left out ...",
				 lines - HEAD - TAIL);
	}
	free(msg);
	return 0;
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
