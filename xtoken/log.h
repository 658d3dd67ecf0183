/* Logging for xtoken extauth: syslog (ident "xtoken", LOG_AUTHPRIV) when a
 * syslog socket accepts connections, standard error otherwise; --verbose
 * copies every line to standard error too. Never pass a secret or a token. */
#ifndef XTOKEN_LOG_H
#define XTOKEN_LOG_H

#include <syslog.h>

/* Where syslog(3) sends its messages (glibc's _PATH_LOG). */
#define LOG_SOCKET_PATH "/dev/log"

/* Choose the destination: syslog if LOG_SOCKET_PATH accepts a connection,
 * else standard error (saying so in a first line). verbose also copies
 * every line to standard error. Until this is called, log_msg does nothing. */
void log_open(int verbose);

/* log_open for another program (xtoken-credentials): ident names it in
 * syslog and prefixes its standard error lines. LOG_OPEN_QUIET leaves out
 * the "no syslog socket" line, which a CGI program would write on every
 * request. ident must outlive the logging (a string literal). */
#define LOG_OPEN_VERBOSE 1u
#define LOG_OPEN_QUIET   2u
void log_open_as(const char *ident, unsigned flags);

/* 1 if log_open found no syslog socket and writes to standard error. */
int log_to_stderr_only(void);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
