/* Logging for xtoken extauth (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Until log_open nothing is logged (a fuzzer or test driving the extauth
 * code directly stays quiet). */
static enum { DEST_NONE, DEST_SYSLOG, DEST_BOTH, DEST_STDERR } log_mode = DEST_NONE;
static int log_verbose;
static const char *log_ident = "xtoken";

/* 1 if a syslog daemon listens on LOG_SOCKET_PATH: glibc's syslog() drops
 * messages silently when nobody does (a container without a syslog daemon),
 * so the reasons would be lost. Datagram first, then stream, as glibc. */
static int syslog_reachable(void)
{
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    memcpy(addr.sun_path, LOG_SOCKET_PATH, sizeof LOG_SOCKET_PATH);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        int ok = fd >= 0 && connect(fd, (const struct sockaddr *)&addr, sizeof addr) == 0;
        int saved = errno;

        if (fd >= 0)
            close(fd);
        if (ok)
            return 1;
        if (saved != EPROTOTYPE)
            return 0;
    }
    return 0;
}

void log_open(int verbose)
{
    log_open_as("xtoken", verbose ? LOG_OPEN_VERBOSE : 0);
}

void log_open_as(const char *ident, unsigned flags)
{
    log_ident = ident;
    log_verbose = (flags & LOG_OPEN_VERBOSE) != 0;
    if (!syslog_reachable()) {
        log_mode = DEST_STDERR;
        if (!(flags & LOG_OPEN_QUIET))
            log_msg(LOG_NOTICE, "no syslog socket at %s: logging to standard error",
                    LOG_SOCKET_PATH);
        return;
    }
    log_mode = log_verbose ? DEST_BOTH : DEST_SYSLOG;
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

int log_to_stderr_only(void)
{
    return log_mode == DEST_STDERR;
}

static void stderr_line(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", log_ident);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_msg(int priority, const char *fmt, ...)
{
    va_list ap;

    if (log_mode == DEST_NONE)
        return;
    va_start(ap, fmt);
    if (log_mode == DEST_STDERR) {
        /* what syslog would have got, less the debug lines unless verbose */
        if (priority != LOG_DEBUG || log_verbose)
            stderr_line(fmt, ap);
    } else {
        vsyslog(priority, fmt, ap);
        va_end(ap);
        va_start(ap, fmt);
        if (log_mode == DEST_BOTH)
            stderr_line(fmt, ap);
    }
    va_end(ap);
}
