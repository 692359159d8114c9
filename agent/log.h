/* One logging site for steerd: structured journald entries when stderr is the journal,
 * one readable line on stderr otherwise. Events an operator may want to find or alert on
 * carry a fixed MESSAGE_ID (listed in steerd(8), LOGGING) and the objects they concern. */
#ifndef STEER_LOG_H
#define STEER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Kinds of events. Each has a 128-bit MESSAGE_ID that never changes once released, and a
 * short name sent as STEER_EVENT=. Where each is logged:
 *
 *   STARTED            main: steerd starts (version, pin directory)
 *   STOPPING           main: SIGTERM/SIGINT, the fast path hands everything to the kernel
 *   FATAL              main: steerd exits on an error
 *   CAPABILITY_MISSING main: a capability steerd needs is not effective
 *   CONFIG_LOADED      main: the YAML file was read and is in use (start, SIGHUP)
 *   CONFIG_REJECTED    main: the YAML file is invalid; the previous one stays in use
 *   RELOADING          main: SIGHUP, configuration and the kernel's state are re-read
 *   FIRST_SYNC         main: the first full picture is in the maps; READY=1 follows
 *   RULES_TRUNCATED    main: source prefixes with more rules than a list holds
 *   CAPACITY           main, sync.c: the maps are too small (or fit again)
 *   DRIFT              main, verify.c: map entries differ from what the kernel says
 *   RESYNC             main, nl.c: a full re-read of the kernel's state begins
 *   IFACE_WAIT         main: an interface to attach to does not exist (any more)
 *   PROGRAM_LOADED     attach.c: program loaded, maps pinned
 *   PROGRAM_FAILED     attach.c: no bpffs, or the program cannot be opened, loaded, pinned
 *   PIN_REPLACED       attach.c: a pinned map of another layout was replaced
 *   ATTACHED           attach.c: attached at ingress of INTERFACE=
 *   ATTACH_FAILED      attach.c: cannot attach to INTERFACE=
 *   DETACHED           attach.c: detached from INTERFACE= (--cleanup)
 *   CLEANUP            attach.c: --cleanup removed (or could not remove) the pins
 *   ADOPTED            sync.c: the maps of an earlier steerd were adopted
 *   APPLY_FAILED       sync.c: a map write failed; the fast path punts until one succeeds
 *   APPLY_RECOVERED    sync.c: an apply succeeded again after failures
 *   NETLINK_OPENED     nl.c: the rtnetlink socket is open (the buffer the kernel granted)
 *   NETLINK_FAILED     nl.c: cannot open, subscribe, request or receive
 *   OVERRUN            nl.c: netlink receive buffer overrun, events lost
 *   DUMP_RETRY         nl.c: a dump was interrupted, failed or stalled and is asked again
 *   SWEPT              nl.c: objects gone without a notification were removed
 *   NETLINK_MALFORMED  nl.c: a malformed message was ignored
 *   NETLINK_FOREIGN    nl.c: a message not from the kernel was ignored
 *   LINK_STATE         nl-link.c: INTERFACE= went up or down
 *   RULE_UNSUPPORTED   nl-rule.c: a rule (RULE_PRIORITY=, TABLE=) has a selector the fast
 *                      path cannot evaluate; it punts
 *   NETFILTER_FOUND    daemon-nf.c: a family's forwarded packets meet netfilter (chains named);
 *                      with `respect` the fast path hands that family to the kernel
 *   NETFILTER_CLEARED  daemon-nf.c: no chain acts on the family's forward path any more;
 *                      the fast path forwards it again
 *   NETFILTER_UNKNOWN  daemon-nf.c: the ruleset is not known (not read yet, events lost, a
 *                      read failed); the fast path punts both families until it is
 *   NETFILTER_BYPASSED daemon-nf.c: `bypass`: steerd forwards past the chains it names
 *
 * Messages without an event (LOG_EV_NONE: the log_info() family) are for people only. */
enum log_event {
	LOG_EV_NONE,
	LOG_EV_STARTED,
	LOG_EV_STOPPING,
	LOG_EV_FATAL,
	LOG_EV_CAPABILITY_MISSING,
	LOG_EV_CONFIG_LOADED,
	LOG_EV_CONFIG_REJECTED,
	LOG_EV_RELOADING,
	LOG_EV_FIRST_SYNC,
	LOG_EV_RULES_TRUNCATED,
	LOG_EV_CAPACITY,
	LOG_EV_DRIFT,
	LOG_EV_RESYNC,
	LOG_EV_IFACE_WAIT,
	LOG_EV_PROGRAM_LOADED,
	LOG_EV_PROGRAM_FAILED,
	LOG_EV_PIN_REPLACED,
	LOG_EV_ATTACHED,
	LOG_EV_ATTACH_FAILED,
	LOG_EV_DETACHED,
	LOG_EV_CLEANUP,
	LOG_EV_ADOPTED,
	LOG_EV_APPLY_FAILED,
	LOG_EV_APPLY_RECOVERED,
	LOG_EV_NETLINK_OPENED,
	LOG_EV_NETLINK_FAILED,
	LOG_EV_OVERRUN,
	LOG_EV_DUMP_RETRY,
	LOG_EV_SWEPT,
	LOG_EV_NETLINK_MALFORMED,
	LOG_EV_NETLINK_FOREIGN,
	LOG_EV_LINK_STATE,
	LOG_EV_RULE_UNSUPPORTED,
	LOG_EV_NETFILTER_FOUND,
	LOG_EV_NETFILTER_CLEARED,
	LOG_EV_NETFILTER_UNKNOWN,
	LOG_EV_NETFILTER_BYPASSED,
	LOG_EV_MAX
};

/* What an event concerns; only what is set is logged. Tables and priorities can be 0, so
 * they come with a flag: write LOG_TABLE(t) and LOG_PRIORITY(p) inside the initializer,
 *   log_event(LOG_INFO, LOG_EV_ATTACHED, &(struct log_ctx){ .ifname = name }, ...);
 *   log_event(LOG_DEBUG, LOG_EV_RULE_UNSUPPORTED,
 *             &(struct log_ctx){ LOG_PRIORITY(k->priority), LOG_TABLE(k->table) }, ...); */
struct log_ctx {
	const char *ifname;	/* INTERFACE= */
	bool has_table, has_priority;
	uint32_t table;		/* TABLE= */
	uint32_t priority;	/* RULE_PRIORITY= */
	int error;		/* ERRNO= (positive or negative errno; 0: none) */
};
#define LOG_TABLE(t) .has_table = true, .table = (t)
#define LOG_PRIORITY(p) .has_priority = true, .priority = (p)

int log_parse_level(const char *name);	/* LOG_* or -1 */
void log_set_level(int level);
int log_get_level(void);
void log_setup_libbpf(void);

/* The event's MESSAGE_ID as 32 hex digits, and its STEER_EVENT= name; NULL for LOG_EV_NONE
 * and out-of-range values. */
const char *log_event_id(enum log_event ev);
const char *log_event_name(enum log_event ev);

/* The one entry point; use the macros, which add CODE_FILE=, CODE_LINE=, CODE_FUNC=.
 * fields: extra "KEY=value" strings ending with NULL (journal only), or NULL. errno is
 * preserved, so %m works in fmt. */
void log_emit(const char *file, int line, const char *func, int level, enum log_event ev,
	      const char *const *fields, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* log_event(level, ev, ctx, fmt, ...): ctx travels inside __VA_ARGS__ because the commas
 * of a compound literal would split a named macro argument. */
#define log_event(level, ev, ...) \
	log_emit(__FILE__, __LINE__, __func__, level, ev, NULL, __VA_ARGS__)
#define log_fields(level, fields, ...) \
	log_emit(__FILE__, __LINE__, __func__, level, LOG_EV_NONE, fields, NULL, __VA_ARGS__)

#define log_at(level, ...) log_fields(level, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_at(LOG_ERR, __VA_ARGS__)

#endif
