/* xtoken extauth: framing and request parsing (see extauth.h).
 *
 * Input goes through one buffer big enough for the largest frame, filled
 * by read() of whatever is available: usually one read() per request,
 * short reads are simply read again. A request costs one read()
 * and one write(), like the bare IPC.
 *
 * Signals (handlers installed by `xtoken extauth`, without SA_RESTART):
 * while blocked in read() extauth_waiting is set, and SIGTERM exits at once
 * from its handler (nothing is half-done then); at any other moment it sets
 * extauth_stop_requested, seen before the next read(). So SIGTERM is never
 * lost between a flag check and a blocking read, and never cuts a reply in
 * half. SIGHUP interrupts read() (EINTR) and reloads at once; if it lands
 * just before read(), the reload happens before the next answer. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "extauth.h"

/* A whole frame (2 + 65535 bytes) always fits after the unread bytes are
 * moved to the front. */
#define READ_BUF_SIZE (2 * (EXTAUTH_FRAME_MAX + 2))

struct reader {
    int fd;
    size_t start, end; /* unread bytes are buf[start, end) */
    unsigned char buf[READ_BUF_SIZE];
};

enum fill_result {
    FILL_OK,   /* got more bytes */
    FILL_END,  /* end of input or SIGTERM: stop cleanly */
    FILL_ERROR /* read error */
};

/* Wait until fd is readable (it was non-blocking and had nothing). */
static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};

    (void)poll(&pfd, 1, -1); /* EINTR: the caller looks at the flags again */
}

/* Read more input, keeping at least room for `need` unread bytes.
 * Signals that arrive meanwhile are acted on here (SIGHUP reloads). */
static enum fill_result reader_fill(struct reader *r, size_t need, struct extauth_ctx *ctx)
{
    if (r->start > 0 && (r->start + need > READ_BUF_SIZE || r->end == READ_BUF_SIZE)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    for (;;) {
        ssize_t got;
        extauth_waiting = 1; /* from here SIGTERM exits from its handler */
        if (extauth_stop_requested || extauth_reload_requested) {
            extauth_waiting = 0;
            if (extauth_stop_requested)
                return FILL_END;
            extauth_refresh(ctx, time(NULL));
            continue;
        }
        got = read(r->fd, r->buf + r->end, READ_BUF_SIZE - r->end);
        extauth_waiting = 0;
        if (got > 0) {
            r->end += (size_t)got;
            return FILL_OK;
        }
        if (got == 0)
            return FILL_END;
        if (errno == EAGAIN)
            wait_readable(r->fd);
        else if (errno != EINTR)
            return FILL_ERROR;
    }
}

/* Write all of buf: 0, or -1 on an error (the server has gone). */
static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EAGAIN) { /* a non-blocking fd: wait for room */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
            (void)poll(&pfd, 1, -1);
            continue;
        }
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

/* Take the next field up to ':' (or the end) from *rest. NULL if none. */
static char *next_field(char **rest, int last)
{
    char *field = *rest;
    char *colon;

    if (field == NULL)
        return NULL;
    colon = last ? NULL : strchr(field, ':');
    if (colon) {
        *colon = '\0';
        *rest = colon + 1;
    } else {
        *rest = NULL;
    }
    return field;
}

enum extauth_kind extauth_parse_request(char *text, size_t len, struct extauth_request *req)
{
    static const char *const unsupported[] = {"setpass", "tryregister", "removeuser",
                                              "removeuser3"};
    char *rest = text;
    const char *command;

    memset(req, 0, sizeof *req);
    req->kind = EXTAUTH_MALFORMED;
    if (memchr(text, '\0', len) != NULL)
        return req->kind; /* a NUL would silently cut a field short */
    command = next_field(&rest, 0);
    if (strcmp(command, "auth") == 0) {
        req->user = next_field(&rest, 0);
        req->server = next_field(&rest, 0);
        req->password = next_field(&rest, 1); /* the rest, ':' and all */
        if (req->password) {
            req->password_len = len - (size_t)(req->password - text);
            req->kind = EXTAUTH_AUTH;
        }
    } else if (strcmp(command, "isuser") == 0) {
        req->user = next_field(&rest, 0);
        req->server = next_field(&rest, 1);
        if (req->server)
            req->kind = EXTAUTH_ISUSER;
    } else {
        for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
            if (strcmp(command, unsupported[i]) == 0)
                req->kind = EXTAUTH_UNSUPPORTED;
    }
    return req->kind;
}

/* Parse and answer one request held in buf[0, len) (buf[len] is writable).
 * Wipes the request text afterwards: it may hold a token. */
static int handle_request(struct extauth_ctx *ctx, unsigned char *buf, size_t len)
{
    struct extauth_request req;
    time_t now = time(NULL);
    int yes = 0;

    buf[len] = '\0';
    extauth_refresh(ctx, now);
    if (extauth_parse_request((char *)buf, len, &req) != EXTAUTH_MALFORMED)
        yes = extauth_answer(ctx, &req, now);
    memset(buf, 0, len); /* the token is single-use, but still: no copies left */
    return yes;
}

/* ejabberd framing: 2-byte big-endian length + text. */
static int serve_frames(struct reader *r, int out_fd, struct extauth_ctx *ctx)
{
    for (;;) {
        size_t len;
        unsigned char reply[4] = {0, 2, 0, 0};
        enum fill_result fill = FILL_OK;

        while (r->end - r->start < 2 && (fill = reader_fill(r, 2, ctx)) == FILL_OK)
            ;
        if (fill != FILL_OK)
            return fill == FILL_ERROR;
        len = (size_t)r->buf[r->start] << 8 | r->buf[r->start + 1];
        if (len == 0)
            return 0; /* ejabberd's way to say goodbye */
        while (r->end - r->start < 2 + len && (fill = reader_fill(r, 2 + len, ctx)) == FILL_OK)
            ;
        if (fill != FILL_OK) /* EOF mid-frame: the server is gone */
            return fill == FILL_ERROR;
        /* The request is decoded in place; its length bytes become scratch
         * space, so shift it 1 byte left to get room for a NUL at the end. */
        memmove(r->buf + r->start + 1, r->buf + r->start + 2, len);
        reply[3] = (unsigned char)handle_request(ctx, r->buf + r->start + 1, len);
        r->start += 2 + len;
        if (write_all(out_fd, reply, sizeof reply) < 0)
            return 1;
    }
}

int extauth_serve(int in_fd, int out_fd, struct extauth_ctx *ctx)
{
    struct reader *r = calloc(1, sizeof *r);
    int rc = 1;

    if (r == NULL)
        goto done;
    r->fd = in_fd;
    rc = serve_frames(r, out_fd, ctx);
done:
    if (r)
        memset(r->buf, 0, sizeof r->buf);
    free(r);
    return rc;
}
