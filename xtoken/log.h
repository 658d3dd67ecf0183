/* Logging for xtoken extauth: syslog (ident "xtoken", LOG_AUTHPRIV), and
 * stderr too when verbose. Never pass a secret or a token. */
#ifndef XTOKEN_LOG_H
#define XTOKEN_LOG_H

#include <syslog.h>

/* Open syslog; verbose also copies every line to stderr. Until this is
 * called, log_msg does nothing. */
void log_open(int verbose);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
