/* One logging site for steerd: structured journald entries when stderr is the journal,
 * one readable line on stderr otherwise. */
#ifndef STEER_LOG_H
#define STEER_LOG_H

#include <stdarg.h>
#include <syslog.h>

int log_parse_level(const char *name);	/* LOG_* or -1 */
void log_set_level(int level);
int log_get_level(void);
void log_setup_libbpf(void);

/* Extra journald fields are passed as "KEY=value" strings ending with NULL. */
void log_fields(int level, const char *const *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(level, ...) log_fields(level, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_at(LOG_ERR, __VA_ARGS__)

#endif
