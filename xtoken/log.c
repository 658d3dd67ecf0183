/* Logging for xtoken extauth (see log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* -1 until log_open: nothing is logged (a fuzzer or test driving the
 * extauth code directly stays quiet); 0 syslog; 1 syslog and stderr. */
static int log_mode = -1;

void log_open(int verbose)
{
    log_mode = verbose ? 1 : 0;
    openlog("xtoken", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

void log_msg(int priority, const char *fmt, ...)
{
    va_list ap;

    if (log_mode < 0)
        return;
    va_start(ap, fmt);
    vsyslog(priority, fmt, ap);
    va_end(ap);
    if (log_mode > 0) {
        fputs("xtoken: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
}
