/* Replay store on Redis: single use across every verifier that shares one
 * Redis server (the nodes of a cluster, several services on one machine).
 *
 * One key per accepted token:
 *
 *   xtoken:replay:<32 hex> = "1", expiring at `expires` (unix seconds)
 *
 * The 32 hex characters are the first 128 bits of SHA-256(label || MAC): the
 * token's 32-byte HMAC identifies it, but neither the token, its nonce nor
 * its MAC is stored or sent. Each use is one round trip with two pipelined
 * commands:
 *
 *   TIME                                  the server's clock (see below)
 *   SET <key> 1 NX EXAT <expires>         first use wins, Redis expires it
 *
 * SET ... NX answers OK to the first use and nil to every later one, on
 * whichever connection, node or process, atomically in the server.
 * `expires` is absolute, the same for every verifier of the same token.
 *
 * Clocks: Redis expires the key by its own clock, and SET with an EXAT that
 * its clock has already passed answers OK and stores nothing. So a server
 * whose clock runs ahead by more than what is left of a token's entry would
 * silently let that token through twice. TIME, executed just before the SET
 * on the same connection, tells: unless the server's clock is at least
 * CLOCK_MARGIN_S before `expires`, the answer is XT_STORE (the token is
 * refused; if the SET did store, the key only refuses it once more later).
 *
 * Fail closed: any failure to connect, authenticate, send, or read a
 * well-formed expected reply within the deadline (redis_timeout_ms for the
 * whole use, connecting included), any error reply (READONLY replica, OOM,
 * NOAUTH, ...), and any reply of an unexpected type or with data after it is
 * XT_STORE with the reason in xt_redis_error() (never the password: the
 * server's text is scrubbed of it). The connection is then dropped and the
 * next use connects afresh; nothing is ever retried after a SET was sent.
 *
 * I/O is our own, with one deadline for the whole use (connecting
 * included): hiredis 0.14's blocking API times out per system call (a
 * server trickling one byte at a time holds it forever), writes with
 * write(2) (SIGPIPE in the host process, e.g. a PAM service) and opens its
 * sockets without close-on-exec. We connect without blocking (poll bounds
 * it), then use the socket blocking, each send/recv bounded by
 * SO_SNDTIMEO/SO_RCVTIMEO set to what is left of the deadline (set again
 * only when that differs from the last setting), with MSG_NOSIGNAL: a use
 * on a kept connection is one send and one recv, as for hiredis's own PING.
 * hiredis's protocol reader (0.14 or 1.x) parses the replies into our own
 * small objects: flat RESP2 only (no array inside an array, at most
 * REPLY_ARRAY_MAX elements, at most REPLY_BYTES_MAX bytes per use); the
 * RESP3 types hiredis 1.x also parses are refused as malformed. A kept
 * connection that the server has closed (restart, idle timeout) fails
 * before any reply byte: the use is then tried once more on a new
 * connection within the same deadline (if the first SET did reach the
 * server, the second is refused: never accepted twice). A handle notices a
 * fork (getpid, then a MADV_WIPEONFORK page from its second use on) and
 * reconnects rather than share a socket with its parent. One handle per
 * thread. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <netinet/in.h> /* IWYU pragma: keep (IPPROTO_TCP) */
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "replay_redis.h"
#include "xtoken.h"

#define REPLY_BYTES_MAX 16384 /* all the replies of one use together */
#define REPLY_ARRAY_MAX 16
#define SERVER_TEXT_MAX 96 /* of a server's error text in our messages */
#define CLOCK_MARGIN_S  1
#define CLOCK_WARN_S    2 /* check-config warns from this offset on */
#define FORK_PAGE       4096

struct xt_redis {
    char *host, *socket_path, *user, *password;
    unsigned port, db, timeout_ms;
    char where[XT_REDIS_HOST_MAX + 32]; /* "redis HOST:PORT/DB" for messages */
    int fd;                            /* -1: not connected */
    int ready;                         /* authenticated and SELECTed on fd */
    pid_t pid;                         /* who connected fd */
    long long armed_ms;                /* the socket's SO_RCVTIMEO/SO_SNDTIMEO */
    int lost;                          /* the server hung up before answering at all */
    unsigned uses;                     /* uses so far (fork detection) */
    unsigned char *fork_flag;          /* MADV_WIPEONFORK page: reads 0 in a child */
    redisReader *reader;               /* its privdata: this handle */
    const char *refused;               /* why a reply callback stopped the reader */
    char err[XT_ERR_MAX];
};

/* ---- replies: hiredis's reader, our own bounded objects ----------------- */

/* Every reply the store asks for is RESP2 and flat: a status, an error, an
 * integer, nil ("$-1", "*-1"), a bulk string, or an array of at most
 * REPLY_ARRAY_MAX of those (TIME, CONFIG GET). Anything else is refused
 * while it is parsed, before an object exists for it.
 *
 * Which callback hiredis calls when (read.c of 0.14.1 and 1.2.0): the task
 * carries the type byte's REDIS_REPLY_* type. createString for '+' '-' '$'
 * and, from 1.0 on, '=' (verbatim) and '(' (big number); createArray for
 * '*' and, from 1.0 on, '%' (map, called with twice the pair count), '~'
 * (set) and '>' (push); createNil for "$-1" and "*-1" (the task typed
 * STRING or ARRAY) and, from 1.0 on, for RESP3's '_' and "%-1"/"~-1"/">-1";
 * createInteger for ':'; 1.x only: createDouble for ',', createBool for
 * '#'. 1.x parses all of these even on a RESP2 connection and nests
 * without a limit (0.14 refuses depth > 7 and every RESP3 type byte).
 * 1.x also hands out a made-up pointer (the type's number) for any type
 * whose callback is NULL: every callback must be set. A callback returning
 * NULL stops the reader (it reports "out of memory"); the reason is left
 * in the handle (the reader's privdata) for the message. */

#if HIREDIS_MAJOR >= 1
typedef size_t reply_count;
/* a hiredis that adds a callback must not meet a NULL one (see above) */
_Static_assert(sizeof(redisReplyObjectFunctions) == 7 * sizeof(void (*)(void)),
               "hiredis changed redisReplyObjectFunctions: set every callback");
#else
typedef int reply_count;
_Static_assert(sizeof(redisReplyObjectFunctions) == 5 * sizeof(void (*)(void)),
               "hiredis changed redisReplyObjectFunctions: set every callback");
#endif

struct reply {
    int type; /* REDIS_REPLY_* */
    long long integer;
    char *str; /* STRING, STATUS, ERROR: len bytes + NUL */
    size_t len;
    size_t elements;
    struct reply **element;
};

/* Two levels at most: reply_array refuses an array inside an array. */
static void reply_free(void *obj) // NOLINT(misc-no-recursion): two levels at most
{
    struct reply *r = obj;

    if (r == NULL)
        return;
    for (size_t i = 0; i < r->elements; i++)
        reply_free(r->element[i]); // NOLINT(misc-no-recursion): see above
    free((void *)r->element);
    free(r->str);
    free(r);
}

/* The name of a type the store refuses, for the message. */
static const char *refused_type(int type)
{
    switch (type) {
#ifdef REDIS_REPLY_DOUBLE /* the RESP3 types: hiredis >= 1.0 */
    case REDIS_REPLY_DOUBLE:
        return "a RESP3 double";
    case REDIS_REPLY_BOOL:
        return "a RESP3 boolean";
    case REDIS_REPLY_MAP:
        return "a RESP3 map";
    case REDIS_REPLY_SET:
        return "a RESP3 set";
    case REDIS_REPLY_ATTR:
        return "a RESP3 attribute";
    case REDIS_REPLY_PUSH:
        return "a RESP3 push";
    case REDIS_REPLY_BIGNUM:
        return "a RESP3 big number";
    case REDIS_REPLY_VERB:
        return "a RESP3 verbatim string";
#endif
    case REDIS_REPLY_NIL: /* the task of '_': RESP2's nils are typed STRING or ARRAY */
        return "a RESP3 null";
    default:
        return "an unknown type";
    }
}

/* Stop the reader: NULL, with the reason kept for read_reply. */
static void *refuse(const redisReadTask *task, const char *why)
{
    struct xt_redis *r = task->privdata;

    if (r != NULL)
        r->refused = why;
    return NULL;
}

/* A new object of the task's type, linked into its parent array. */
static struct reply *reply_new(const redisReadTask *task)
{
    struct reply *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->type = task->type;
    if (task->parent != NULL) {
        const struct reply *parent = task->parent->obj;

        if (task->idx < 0 || (size_t)task->idx >= parent->elements) {
            free(r);
            return NULL;
        }
        parent->element[task->idx] = r;
    }
    return r;
}

/* cppcheck-suppress constParameterCallback ; hiredis's signature */
static void *reply_string(const redisReadTask *task, char *str, size_t len)
{
    struct reply *r;
    char *copy;

    if (task->type != REDIS_REPLY_STRING && task->type != REDIS_REPLY_STATUS &&
        task->type != REDIS_REPLY_ERROR)
        return refuse(task, refused_type(task->type));
    copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, str, len);
    copy[len] = '\0';
    r = reply_new(task);
    if (r == NULL) {
        free(copy);
        return NULL;
    }
    r->str = copy;
    r->len = len;
    return r;
}

/* A RESP2 array at the top, of at most REPLY_ARRAY_MAX elements: a longer
 * or nested one is refused before anything is allocated for it. */
static void *reply_array(const redisReadTask *task, reply_count elements)
{
    struct reply *r;
    struct reply **element;

    if (task->type != REDIS_REPLY_ARRAY)
        return refuse(task, refused_type(task->type));
    if (task->parent != NULL)
        return refuse(task, "an array inside an array");
    /* one test for both versions: a negative int is huge here */
    if ((unsigned long long)elements > REPLY_ARRAY_MAX)
        return refuse(task, "an array too long");
    element = (struct reply **)calloc((size_t)elements + 1, sizeof(struct reply *));
    if (element == NULL)
        return NULL;
    r = reply_new(task);
    if (r == NULL) {
        free((void *)element);
        return NULL;
    }
    r->element = element;
    r->elements = (size_t)elements;
    return r;
}

static void *reply_integer(const redisReadTask *task, long long value)
{
    struct reply *r = reply_new(task);

    if (r != NULL)
        r->integer = value;
    return r;
}

/* RESP2's nils only: "$-1" and "*-1", whose task has the type of the
 * bulk/array. */
static void *reply_nil(const redisReadTask *task)
{
    struct reply *r;

    if (task->type != REDIS_REPLY_STRING && task->type != REDIS_REPLY_ARRAY)
        return refuse(task, refused_type(task->type));
    r = reply_new(task);
    if (r != NULL)
        r->type = REDIS_REPLY_NIL;
    return r;
}

#if HIREDIS_MAJOR >= 1
static void *reply_double(const redisReadTask *task, double value, char *str, size_t len)
{
    (void)value;
    (void)str;
    (void)len;
    return refuse(task, refused_type(task->type));
}

static void *reply_bool(const redisReadTask *task, int value)
{
    (void)value;
    return refuse(task, refused_type(task->type));
}
#endif

/* Not const: redisReaderCreateWithFunctions takes a mutable pointer. */
static redisReplyObjectFunctions reply_functions = {
    .createString = reply_string,
    .createArray = reply_array,
    .createInteger = reply_integer,
    .createNil = reply_nil,
#if HIREDIS_MAJOR >= 1
    .createDouble = reply_double,
    .createBool = reply_bool,
#endif
    .freeObject = reply_free,
};

/* ---- messages ----------------------------------------------------------- */

static void set_error(struct xt_redis *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct xt_redis *r, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(r->err, sizeof(r->err), "%s: ", r->where);

    if (n < 0 || (size_t)n >= sizeof(r->err))
        return;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A server's text made fit for a log line: printable ASCII, bounded, and
 * with every occurrence of the password (a server could echo it) masked. */
static void server_text(const struct xt_redis *r, const char *text, size_t len, char *out,
                        size_t outlen)
{
    size_t pw_len = r->password ? strlen(r->password) : 0, o = 0;

    for (size_t i = 0; i < len && o + 1 < outlen && o < SERVER_TEXT_MAX; i++) {
        if (pw_len > 0 && len - i >= pw_len && memcmp(text + i, r->password, pw_len) == 0) {
            for (const char *m = "***"; *m && o + 1 < outlen; m++)
                out[o++] = *m;
            i += pw_len - 1;
            continue;
        }
        /* NOLINTNEXTLINE(bugprone-narrowing-conversions): '?' or the char itself */
        out[o++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
    }
    out[o] = '\0';
}

static const char *type_name(int type)
{
    switch (type) {
    case REDIS_REPLY_STRING:
        return "a string";
    case REDIS_REPLY_ARRAY:
        return "an array";
    case REDIS_REPLY_INTEGER:
        return "an integer";
    case REDIS_REPLY_NIL:
        return "nil";
    case REDIS_REPLY_STATUS:
        return "a status";
    default:
        return "an error";
    }
}

/* XT_STORE with a message for an error reply to `what`, naming the cases
 * an administrator must act on. */
static int error_reply(struct xt_redis *r, const char *what, const struct reply *reply)
{
    char text[SERVER_TEXT_MAX + 8];

    server_text(r, reply->str, reply->len, text, sizeof(text));
    if (strncmp(reply->str, "READONLY", 8) == 0)
        set_error(r, "%s: the server is a read-only replica, point replay at the primary (%s)",
                  what, text);
    else if (strncmp(reply->str, "OOM", 3) == 0)
        set_error(r, "%s: the server is out of memory (maxmemory reached) (%s)", what, text);
    else if (strncmp(reply->str, "NOAUTH", 6) == 0)
        set_error(r, "%s: the server wants a password: set redis_password (%s)", what, text);
    else if (strncmp(reply->str, "WRONGPASS", 9) == 0 || strstr(reply->str, "password") != NULL)
        set_error(r, "%s: authentication failed: check redis_user and redis_password (%s)", what,
                  text);
    else if (strncmp(reply->str, "NOPERM", 6) == 0)
        set_error(r, "%s: the ACL user may not run it (%s)", what, text);
    else
        set_error(r, "%s: error reply (%s)", what, text);
    return XT_STORE;
}

/* XT_OK if reply is the status `want`; XT_STORE with the reason otherwise. */
static int expect_status(struct xt_redis *r, const char *what, const struct reply *reply,
                         const char *want)
{
    if (reply->type == REDIS_REPLY_ERROR)
        return error_reply(r, what, reply);
    if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, want) != 0) {
        set_error(r, "%s: unexpected reply (%s, not %s)", what, type_name(reply->type), want);
        return XT_STORE;
    }
    return XT_OK;
}

/* ---- connection: non-blocking socket, one deadline per use ------------- */

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void disconnect(struct xt_redis *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->ready = 0;
    r->armed_ms = 0; /* a new socket has no timeout */
    if (r->reader != NULL)
        redisReaderFree(r->reader);
    r->reader = NULL;
}

static void forget_fork_flag(struct xt_redis *r)
{
    if (r->fork_flag != NULL)
        munmap(r->fork_flag, FORK_PAGE);
    r->fork_flag = NULL;
}

/* Wait until fd is ready for `events` or the deadline passes.
 * 1 ready; 0 timed out; -1 error (errno). */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        long long left = deadline - mono_ms();
        int n;

        if (left <= 0)
            return 0;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Finish a non-blocking connect. XT_OK; XT_STORE with the reason. */
static int connect_wait(struct xt_redis *r, int fd, long long deadline)
{
    int err = 0, ready = wait_fd(fd, POLLOUT, deadline);
    socklen_t len = sizeof(err);

    if (ready == 0) {
        set_error(r, "connect: no answer within %u ms", r->timeout_ms);
        return XT_STORE;
    }
    if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        set_error(r, "connect: %s", strerror(err));
        return XT_STORE;
    }
    return XT_OK;
}

/* Connect to one address. The fd, or -1 with the reason set. */
static int connect_addr(struct xt_redis *r, const struct sockaddr *sa, socklen_t sa_len,
                        int family, long long deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        set_error(r, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, sa, sa_len) != 0 &&
        (errno != EINPROGRESS || connect_wait(r, fd, deadline) != XT_OK)) {
        if (errno != EINPROGRESS)
            set_error(r, "connect: %s", errno == EAGAIN ? "the server's backlog is full"
                                                         : strerror(errno));
        close(fd);
        return -1;
    }
    if (family != AF_UNIX) {
        int one = 1;

        /* requests are small and answered at once: no Nagle delay */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    /* blocking from now on, each call bounded by SO_RCVTIMEO/SO_SNDTIMEO
     * (arm_timeout): one system call per read instead of poll + read */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        set_error(r, "fcntl: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A host name is resolved by getaddrinfo, which the deadline cannot bound
 * (the docs say: use an address or /etc/hosts). The fd, or -1. */
static int connect_tcp(struct xt_redis *r, long long deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    char port[8];
    int fd = -1, gai;

    snprintf(port, sizeof(port), "%u", r->port);
    gai = getaddrinfo(r->host, port, &hints, &list);
    if (gai != 0) {
        set_error(r, "cannot resolve the host: %s", gai_strerror(gai));
        return -1;
    }
    for (const struct addrinfo *a = list; a != NULL && fd < 0; a = a->ai_next)
        fd = connect_addr(r, a->ai_addr, a->ai_addrlen, a->ai_family, deadline);
    freeaddrinfo(list);
    return fd;
}

static int connect_unix(struct xt_redis *r, long long deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    /* the config parser bounds the path */
    memcpy(sun.sun_path, r->socket_path, strlen(r->socket_path) + 1);
    return connect_addr(r, (const struct sockaddr *)&sun, sizeof(sun), AF_UNIX, deadline);
}

/* Let the next blocking send/recv wait at most until the deadline. The
 * socket keeps its timeout between uses, so in the common case (a whole
 * timeout left, as set last time) this costs no system call. 0; -1. */
static int arm_timeout(struct xt_redis *r, long long deadline)
{
    long long left = deadline - mono_ms();
    struct timeval tv;

    if (left <= 0)
        return -1;
    if (left >= r->armed_ms - 5 && left <= r->armed_ms + 5)
        return 0;
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
    if (setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return -1;
    r->armed_ms = left;
    return 0;
}

/* Send all of buf. MSG_NOSIGNAL: a closed connection is EPIPE, never a
 * SIGPIPE in the host process. XT_OK; XT_STORE. */
static int send_all(struct xt_redis *r, const char *buf, size_t len, long long deadline)
{
    while (len > 0) {
        ssize_t n;

        if (arm_timeout(r, deadline) != 0) {
            set_error(r, "send: no progress within %u ms", r->timeout_ms);
            return XT_STORE;
        }
        n = send(r->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
            r->lost = errno == EPIPE || errno == ECONNRESET;
            set_error(r, "send: %s", strerror(errno));
            return XT_STORE;
        }
    }
    return XT_OK;
}

/* The reason the reader stopped: what a callback refused, or hiredis's
 * own protocol error (its text names at most one byte of the reply). */
static void reader_error(struct xt_redis *r, const char *what)
{
    char text[SERVER_TEXT_MAX + 8];

    if (r->refused != NULL) {
        set_error(r, "%s: malformed reply (%s: the store expects flat RESP2 replies)", what,
                  r->refused);
        return;
    }
    if (r->reader->err == REDIS_ERR_OOM) {
        set_error(r, "%s: malformed reply (out of memory)", what);
        return;
    }
    server_text(r, r->reader->errstr, strnlen(r->reader->errstr, sizeof(r->reader->errstr)),
                text, sizeof(text));
    set_error(r, "%s: malformed reply (protocol error: %s)", what, text);
}

/* Read the next whole reply, to the command `what`: blocking reads, each
 * bounded by what is left of the deadline. *received counts the bytes of
 * this use. XT_OK with *out (caller frees with reply_free); XT_STORE. */
static int read_reply(struct xt_redis *r, const char *what, struct reply **out, size_t *received,
                      long long deadline)
{
    char buf[4096];
    void *obj = NULL;

    for (;;) {
        ssize_t n;

        if (redisReaderGetReply(r->reader, &obj) != REDIS_OK) {
            reader_error(r, what);
            return XT_STORE;
        }
        if (obj != NULL) {
            *out = obj;
            return XT_OK;
        }
        n = arm_timeout(r, deadline) == 0 ? recv(r->fd, buf, sizeof(buf), 0) : -2;
        if (n == -2 || (n < 0 && errno == EAGAIN)) {
            set_error(r, "%s: no reply within %u ms", what, r->timeout_ms);
            return XT_STORE;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->lost = *received == 0 && (n == 0 || errno == ECONNRESET);
            set_error(r, "%s: read: %s", what,
                      n == 0 ? "the server closed the connection" : strerror(errno));
            return XT_STORE;
        }
        *received += (size_t)n;
        if (*received > REPLY_BYTES_MAX) {
            set_error(r, "%s: reply longer than %d bytes", what, REPLY_BYTES_MAX);
            return XT_STORE;
        }
        if (redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK) {
            set_error(r, "%s: out of memory reading a reply", what);
            return XT_STORE;
        }
    }
}

/* Append one command in the protocol's array-of-bulk-strings form.
 * 0; -1 if it does not fit. */
static int format_command(char *out, size_t cap, size_t *len, int argc, const char *const *argv)
{
    int n = snprintf(out + *len, cap - *len, "*%d\r\n", argc);

    for (int i = 0; n > 0 && (size_t)n < cap - *len && i < argc; i++) {
        size_t arg_len = strlen(argv[i]);

        *len += (size_t)n;
        n = snprintf(out + *len, cap - *len, "$%zu\r\n", arg_len);
        if (n < 0 || (size_t)n + arg_len + 2 >= cap - *len)
            return -1;
        memcpy(out + *len + n, argv[i], arg_len);
        out[*len + (size_t)n + arg_len] = '\r';
        out[*len + (size_t)n + arg_len + 1] = '\n';
        n += (int)arg_len + 2;
    }
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* Send the n commands (argv vectors) in one write and read n replies into
 * replies[]. XT_OK (all read; caller frees them); XT_STORE. */
static int exchange(struct xt_redis *r, int n, const int *argc, const char **const *argv,
                    struct reply **replies, long long deadline)
{
    char out[1024 + XT_REDIS_PASSWORD_MAX + XT_REDIS_USER_MAX];
    size_t out_len = 0, received = 0;
    int rc = XT_OK;

    r->refused = NULL;

    for (int i = 0; i < n && rc == XT_OK; i++)
        if (format_command(out, sizeof(out), &out_len, argc[i], argv[i]) != 0) {
            set_error(r, "command too long");
            rc = XT_STORE;
        }
    if (rc == XT_OK)
        rc = send_all(r, out, out_len, deadline);
    OPENSSL_cleanse(out, out_len); /* AUTH carries the password */
    for (int i = 0; i < n && rc == XT_OK; i++)
        rc = read_reply(r, argv[i][0], &replies[i], &received, deadline);
    /* a reply we did not ask for would answer the next request */
    if (rc == XT_OK && r->reader->pos < r->reader->len) {
        set_error(r, "unexpected data after the replies");
        rc = XT_STORE;
    }
    return rc;
}

static void free_replies(struct reply **replies, int n)
{
    for (int i = 0; i < n; i++) {
        reply_free(replies[i]);
        replies[i] = NULL;
    }
}

/* AUTH (with the ACL user if set) and SELECT, pipelined. XT_OK; XT_STORE;
 * XT_NOMEM. */
static int handshake(struct xt_redis *r, long long deadline)
{
    char db[16];
    const char *auth[] = {"AUTH", r->user ? r->user : r->password, r->password};
    const char *select[] = {"SELECT", db};
    const char **argv[2] = {NULL, NULL};
    struct reply *replies[2] = {NULL, NULL};
    int argc[2] = {0, 0}, n = 0, rc;

    snprintf(db, sizeof(db), "%u", r->db);
    if (r->password == NULL && r->db == 0) {
        r->ready = 1; /* nothing to say first */
        return XT_OK;
    }
    if (r->password != NULL) {
        argv[n] = auth;
        argc[n++] = r->user ? 3 : 2;
    }
    if (r->db != 0) {
        argv[n] = select;
        argc[n++] = 2;
    }
    rc = exchange(r, n, argc, argv, replies, deadline);
    for (int i = 0; i < n && rc == XT_OK; i++)
        rc = expect_status(r, argv[i] == auth ? "AUTH" : "SELECT", replies[i], "OK");
    free_replies(replies, n);
    if (rc == XT_OK)
        r->ready = 1;
    return rc;
}

/* 1 if this process is not the one that connected: a forked child must
 * not talk over its parent's connection (each could read the other's
 * replies). From a handle's second use on, a private page marked
 * MADV_WIPEONFORK tells without a system call (it reads as zero in a
 * child); before that, and if the page cannot be had, getpid does. */
static int forked(struct xt_redis *r)
{
    void *page;

    if (r->fork_flag != NULL)
        return __atomic_load_n(r->fork_flag, __ATOMIC_RELAXED) == 0;
    if (r->pid != getpid())
        return 1;
    if (r->uses++ == 0)
        return 0; /* the PAM module's handles are used once: no page */
    /* fd -1 is what MAP_ANONYMOUS asks for */
    /* cppcheck-suppress invalidFunctionArg */
    page = mmap(NULL, FORK_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return 0;
    if (madvise(page, FORK_PAGE, MADV_WIPEONFORK) != 0) {
        munmap(page, FORK_PAGE);
        return 0;
    }
    r->fork_flag = page;
    *r->fork_flag = 1;
    return 0;
}

/* Make r->fd a live, authenticated connection. XT_OK; XT_STORE; XT_NOMEM. */
static int ensure_connected(struct xt_redis *r, long long deadline)
{
    if (r->fd >= 0 && forked(r))
        disconnect(r);
    if (r->fd < 0) {
        r->fd = r->socket_path ? connect_unix(r, deadline) : connect_tcp(r, deadline);
        if (r->fd < 0)
            return XT_STORE;
        r->pid = getpid();
        if (r->fork_flag != NULL)
            *r->fork_flag = 1; /* ours again (a child's page read as zero) */
    }
    if (r->reader == NULL) {
        r->reader = redisReaderCreateWithFunctions(&reply_functions);
        if (r->reader == NULL)
            return XT_NOMEM;
        r->reader->privdata = r; /* each task's privdata: refuse() reaches the handle */
        r->refused = NULL;
    }
    return r->ready ? XT_OK : handshake(r, deadline);
}

/* ---- the handle ----------------------------------------------------------- */

int xt_redis_new(const struct xt_redis_settings *s, struct xt_redis **redis)
{
    struct xt_redis *r = calloc(1, sizeof(*r));

    *redis = NULL;
    if (r == NULL)
        return XT_NOMEM;
    r->fd = -1;
    r->port = s->port;
    r->db = s->db;
    r->timeout_ms = s->timeout_ms ? s->timeout_ms : XT_REDIS_TIMEOUT_DEFAULT;
    r->host = s->host ? strdup(s->host) : NULL;
    r->socket_path = s->socket_path ? strdup(s->socket_path) : NULL;
    r->user = s->user ? strdup(s->user) : NULL;
    r->password = s->password ? strdup(s->password) : NULL;
    if ((s->host && !r->host) || (s->socket_path && !r->socket_path) || (s->user && !r->user) ||
        (s->password && !r->password) || (!r->host && !r->socket_path)) {
        xt_redis_free(r);
        return XT_NOMEM;
    }
    if (r->socket_path != NULL)
        snprintf(r->where, sizeof(r->where), "redis unix:%s/%u", r->socket_path, r->db);
    else
        snprintf(r->where, sizeof(r->where), "redis %s%s%s:%u/%u", strchr(r->host, ':') ? "[" : "",
                 r->host, strchr(r->host, ':') ? "]" : "", r->port, r->db);
    *redis = r;
    return XT_OK;
}

void xt_redis_free(struct xt_redis *r)
{
    if (r == NULL)
        return;
    disconnect(r);
    forget_fork_flag(r);
    if (r->password != NULL)
        xt_free_wipe(r->password, strlen(r->password));
    free(r->host);
    free(r->socket_path);
    free(r->user);
    free(r);
}

const char *xt_redis_error(const struct xt_redis *r)
{
    return r->err;
}

void xt_redis_adopt_fd(struct xt_redis *r, int fd)
{
    disconnect(r);
    r->fd = fd;
    r->pid = getpid();
}

int xt_redis_key(const unsigned char key[XT_REPLAY_KEY_LEN], char out[XT_REDIS_KEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    static const char prefix[] = XT_REDIS_KEY_PREFIX;
    unsigned char input[sizeof(XT_REDIS_KEY_LABEL) - 1 + XT_REPLAY_KEY_LEN];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    int ok;

    memcpy(input, XT_REDIS_KEY_LABEL, sizeof(XT_REDIS_KEY_LABEL) - 1);
    memcpy(input + sizeof(XT_REDIS_KEY_LABEL) - 1, key, XT_REPLAY_KEY_LEN);
    ok = EVP_Digest(input, sizeof(input), digest, &digest_len, EVP_sha256(), NULL) == 1 &&
         digest_len >= XT_REDIS_DIGEST_BYTES;
    OPENSSL_cleanse(input, sizeof(input));
    if (!ok)
        return XT_INTERNAL;
    memcpy(out, prefix, sizeof(prefix) - 1);
    for (size_t i = 0; i < XT_REDIS_DIGEST_BYTES; i++) {
        out[sizeof(prefix) - 1 + 2 * i] = hex[digest[i] >> 4];
        out[sizeof(prefix) - 1 + 2 * i + 1] = hex[digest[i] & 15];
    }
    out[XT_REDIS_KEY_LEN] = '\0';
    OPENSSL_cleanse(digest, sizeof(digest));
    return XT_OK;
}

/* The server's clock from a TIME reply, in whole seconds.
 * XT_OK; XT_STORE with the reason. */
static int time_reply(struct xt_redis *r, const struct reply *reply, long long *seconds)
{
    unsigned long long value = 0;

    if (reply->type == REDIS_REPLY_ERROR)
        return error_reply(r, "TIME", reply);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0 ||
        reply->element[0]->len > 12) {
        set_error(r, "TIME: unexpected reply (%s)", type_name(reply->type));
        return XT_STORE;
    }
    for (size_t i = 0; i < reply->element[0]->len; i++) {
        char c = reply->element[0]->str[i];

        if (c < '0' || c > '9') {
            set_error(r, "TIME: unexpected reply (not a number)");
            return XT_STORE;
        }
        value = value * 10 + (unsigned long long)(c - '0');
    }
    *seconds = (long long)value;
    return XT_OK;
}

/* The answer to TIME + SET NX EXAT. */
static int use_replies(struct xt_redis *r, struct reply *const replies[2], time_t expires,
                       time_t now)
{
    long long server_now = 0;
    int rc = time_reply(r, replies[0], &server_now);

    if (rc != XT_OK)
        return rc;
    if (replies[1]->type == REDIS_REPLY_NIL)
        return XT_REPLAYED;
    rc = expect_status(r, "SET", replies[1], "OK");
    if (rc == XT_OK && server_now + CLOCK_MARGIN_S >= (long long)expires) {
        set_error(r, "the server's clock is %lld s ahead of this host's: it would expire this "
                  "token's entry at once (keep every verifier and Redis in NTP sync)",
                  server_now - (long long)now);
        rc = XT_STORE;
    }
    return rc;
}

/* One TIME + SET exchange. XT_OK; XT_REPLAYED; XT_STORE; XT_NOMEM. */
static int use_once(struct xt_redis *r, const char *name, time_t expires, time_t now,
                    long long deadline)
{
    char at[24];
    const char *time_cmd[] = {"TIME"};
    const char *set_cmd[] = {"SET", name, "1", "NX", "EXAT", at};
    const char **argv[2] = {time_cmd, set_cmd};
    const int argc[2] = {1, 6};
    struct reply *replies[2] = {NULL, NULL};
    int rc;

    snprintf(at, sizeof(at), "%lld", (long long)expires);
    r->lost = 0;
    rc = ensure_connected(r, deadline);
    if (rc == XT_OK)
        rc = exchange(r, 2, argc, argv, replies, deadline);
    if (rc == XT_OK)
        rc = use_replies(r, replies, expires, now);
    free_replies(replies, 2);
    if (rc == XT_STORE || rc == XT_NOMEM)
        disconnect(r); /* the next use starts afresh */
    return rc;
}

int xt_redis_use(struct xt_redis *r, const unsigned char key[XT_REPLAY_KEY_LEN], time_t expires)
{
    time_t now = time(NULL);
    long long deadline = mono_ms() + r->timeout_ms;
    char name[XT_REDIS_KEY_LEN + 1];
    int kept, rc;

    r->err[0] = '\0';
    if (expires <= now)
        return XT_EXPIRED; /* nothing left to protect; never written */
    rc = xt_redis_key(key, name);
    if (rc != XT_OK)
        return rc;
    kept = r->fd >= 0 && r->ready;
    rc = use_once(r, name, expires, now, deadline);
    /* A kept connection the server had closed (restart, idle timeout)
     * fails before any reply: once more on a new one, within the same
     * deadline. Safe whatever the server did: if the first SET was stored,
     * the second is refused (XT_REPLAYED), never accepted twice. */
    if (rc == XT_STORE && kept && r->lost)
        rc = use_once(r, name, expires, now, deadline);
    return rc;
}

/* ---- xtoken check-config ------------------------------------------------ */

static long long real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The value of a CONFIG GET NAME reply, or NULL (refused, renamed, absent). */
static const char *config_value(const struct reply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return NULL;
    return reply->element[1]->str;
}

/* used_memory from an INFO memory reply; 0 if absent. */
static unsigned long long used_memory(const struct reply *reply)
{
    const char *at;

    if (reply->type != REDIS_REPLY_STRING)
        return 0;
    at = strstr(reply->str, "used_memory:");
    if (at == NULL || (at != reply->str && at[-1] != '\n'))
        return 0;
    return strtoull(at + strlen("used_memory:"), NULL, 10);
}

static void append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(buf, len);
    va_list ap;

    if (used + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* Eviction: an evicted replay entry reopens its token. noeviction makes a
 * full server refuse writes (OOM: logins are refused, never let in twice);
 * maxmemory 0 never evicts; volatile-* evicts only keys with an expiry,
 * which every replay entry has, so it is safe only while memory has room. */
static void check_eviction(struct xt_redis *r, struct reply *const replies[3], char *report,
                           size_t reportlen, char *warning, size_t warnlen)
{
    const char *policy = config_value(replies[0]), *maxmem = config_value(replies[1]);
    unsigned long long max = maxmem ? strtoull(maxmem, NULL, 10) : 0, used = used_memory(replies[2]);
    char text[SERVER_TEXT_MAX + 8];

    if (policy == NULL || maxmem == NULL) {
        const struct reply *why = replies[policy == NULL ? 0 : 1];

        server_text(r, why->type == REDIS_REPLY_ERROR ? why->str : "no such setting",
                    why->type == REDIS_REPLY_ERROR ? why->len : 15, text, sizeof(text));
        append(report, reportlen, "%s: CONFIG GET not allowed (%s): make sure maxmemory-policy "
               "is noeviction\n", r->where, text);
        return;
    }
    server_text(r, policy, strlen(policy), text, sizeof(text));
    append(report, reportlen, "%s: maxmemory-policy %s, maxmemory %llu bytes%s, used %llu bytes\n",
           r->where, text, max, max == 0 ? " (no limit)" : "", used);
    if (max == 0 || strcmp(policy, "noeviction") == 0)
        return;
    if (strncmp(policy, "volatile-", 9) == 0 && used < max / 2) {
        append(report, reportlen, "%s: %s evicts keys with an expiry, as every replay entry has, "
               "only once maxmemory is reached (%llu%% used): noeviction is safe whatever the "
               "load\n", r->where, text, used * 100 / max);
        return;
    }
    append(warning, warnlen, "%s: maxmemory-policy %s can evict replay entries and so let their "
           "tokens in again%s: use noeviction; ", r->where, text,
           strncmp(policy, "volatile-", 9) == 0 ? " (memory is over half full)" : "");
}

/* PING and TIME: reachability, round trip and clock offset. */
static int probe_ping(struct xt_redis *r, long long deadline, char *report, size_t reportlen,
                      char *warning, size_t warnlen)
{
    const char *ping[] = {"PING"}, *time_cmd[] = {"TIME"};
    const char **argv[2] = {ping, time_cmd};
    const int argc[2] = {1, 1};
    struct reply *replies[2] = {NULL, NULL};
    long long sent = real_us(), server_s = 0, offset_ms;
    double rtt_ms;
    int rc = exchange(r, 2, argc, argv, replies, deadline);

    rtt_ms = (double)(real_us() - sent) / 1000.0;
    if (rc == XT_OK)
        rc = expect_status(r, "PING", replies[0], "PONG");
    if (rc == XT_OK)
        rc = time_reply(r, replies[1], &server_s);
    if (rc == XT_OK) {
        /* the server read its clock about half way through the round trip */
        const struct reply *usec = replies[1]->element[1];
        long long server_us = server_s * 1000000 +
                              (usec->type == REDIS_REPLY_STRING ? strtoll(usec->str, NULL, 10) : 0);

        offset_ms = (server_us - sent - (long long)(rtt_ms * 500.0)) / 1000;
        append(report, reportlen, "%s: connected, %s, PING answered in %.2f ms\n", r->where,
               r->password ? "authenticated" : "no password", rtt_ms);
        append(report, reportlen, "%s: server clock %+.3f s from this host's\n", r->where,
               (double)offset_ms / 1000.0);
        if (offset_ms >= CLOCK_WARN_S * 1000 || offset_ms <= -CLOCK_WARN_S * 1000)
            append(warning, warnlen, "%s: the server's clock is %+.1f s off this host's: keep "
                   "every verifier and Redis in NTP sync; ", r->where, (double)offset_ms / 1000.0);
    }
    free_replies(replies, 2);
    return rc;
}

int xt_redis_probe(struct xt_redis *r, char *report, size_t reportlen, char *warning,
                   size_t warnlen)
{
    const char *policy[] = {"CONFIG", "GET", "maxmemory-policy"};
    const char *maxmem[] = {"CONFIG", "GET", "maxmemory"};
    const char *info[] = {"INFO", "memory"};
    const char **argv[3] = {policy, maxmem, info};
    const int argc[3] = {3, 3, 2};
    struct reply *replies[3] = {NULL, NULL, NULL};
    long long deadline = mono_ms() + r->timeout_ms;
    size_t n;
    int rc;

    r->err[0] = '\0';
    report[0] = warning[0] = '\0';
    rc = ensure_connected(r, deadline);
    if (rc == XT_OK)
        rc = probe_ping(r, deadline, report, reportlen, warning, warnlen);
    if (rc == XT_OK)
        rc = exchange(r, 3, argc, argv, replies, mono_ms() + r->timeout_ms);
    if (rc == XT_OK)
        check_eviction(r, replies, report, reportlen, warning, warnlen);
    free_replies(replies, 3);
    if (rc != XT_OK)
        disconnect(r);
    n = strlen(warning);
    if (n >= 2 && strcmp(warning + n - 2, "; ") == 0)
        warning[n - 2] = '\0';
    return rc;
}

/* ---- the public constructor and probe (xtoken.h) ------------------------ */

int xt_replay_open(const xt_config *cfg, xt_replay **replay)
{
    struct xt_redis *redis = NULL;
    int rc;

    *replay = NULL;
    if (cfg->redis.url == NULL)
        return cfg->replay_dir != NULL ? xt_replay_new(cfg->replay_dir, replay) : XT_OK;
    rc = xt_redis_new(&cfg->redis, &redis);
    return rc == XT_OK ? xt_replay_wrap_redis(redis, replay) : rc;
}

int xt_replay_probe(const xt_replay *replay, char *report, size_t reportlen, char *warning,
                    size_t warnlen)
{
    struct xt_redis *redis = xt_replay_redis(replay);

    if (reportlen == 0 || warnlen == 0)
        return XT_INTERNAL;
    report[0] = warning[0] = '\0';
    return redis != NULL ? xt_redis_probe(redis, report, reportlen, warning, warnlen) : XT_OK;
}
