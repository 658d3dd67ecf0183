/* xtoken extauth: the external-authentication protocol of ejabberd over a
 * pair of fds. Requests are framed by length, never by newline: a password
 * may hold any byte and is still one request with one answer.
 *
 * Data path, per request:
 *   extauth_serve (extauth_proto.c): read one frame
 *   -> extauth_parse_request: split "auth:U:S:P" (the password is the rest)
 *   -> extauth_answer (extauth.c): xt_jid_make(U, S) -> xt_verify(...)
 *   -> write the 4-byte reply.
 *
 * Fuzzing entry points (no signals, no syslog unless log_open was called):
 *   - extauth_parse_request(): one request's text in a writable buffer;
 *   - extauth_serve(): a whole byte stream from any readable fd (a pipe, a
 *     memfd or a regular file: it stops at EOF), replies to any writable fd.
 *     Set up a ctx with extauth_ctx_init(), then either point config_path at
 *     a config file or set ctx->verifier directly (config_path NULL: no
 *     reloads).
 */
#ifndef XTOKEN_EXTAUTH_H
#define XTOKEN_EXTAUTH_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "xtoken.h"

#define EXTAUTH_FRAME_MAX 65535             /* a 2-byte length */
#define EXTAUTH_MSG_MAX   (XT_ERR_MAX + 64) /* one log message */

enum extauth_kind {
    EXTAUTH_MALFORMED,   /* unknown command, missing field, NUL byte */
    EXTAUTH_AUTH,        /* auth:U:S:P */
    EXTAUTH_ISUSER,      /* isuser:U:S */
    EXTAUTH_UNSUPPORTED, /* setpass, tryregister, removeuser, removeuser3: answer 0 */
};

struct extauth_request {
    enum extauth_kind kind;
    const char *user; /* NUL-terminated, inside the parsed buffer */
    const char *server;
    const char *password; /* auth only; may contain ':' */
    size_t password_len;
};

struct extauth_ctx {
    /* settings (from the command line) */
    const char *config_path; /* NULL: use verifier as set, never reload */
    const char *users;       /* users policy for isuser: any, nss or a path */
    int no_replay;
    int verbose; /* log every answer, not only refusals */

    /* state */
    xt_verifier *verifier; /* config (reloaded on change), replay store, caches */
    char last_error[EXTAUTH_MSG_MAX]; /* last problem logged, so each is logged once */
};

/* Set by the signal handlers of `xtoken extauth` (and read by the loop). */
extern volatile sig_atomic_t extauth_stop_requested;
extern volatile sig_atomic_t extauth_reload_requested;
/* Set by the loop while it is blocked reading input: SIGTERM may exit then. */
extern volatile sig_atomic_t extauth_waiting;

/* Zero ctx and fill in the defaults (users "any"). */
void extauth_ctx_init(struct extauth_ctx *ctx);
/* Free the verifier (config, replay handle). */
void extauth_ctx_free(struct extauth_ctx *ctx);

/* Reload the config if SIGHUP asked for it, or (at most once a second) if
 * the file changed (xt_verifier_refresh). Cheap when nothing changed: one
 * stat() per second at most. */
void extauth_refresh(struct extauth_ctx *ctx, time_t now);

/* (Re)load ctx->config_path now (the verifier drops the old config even if
 * the new one is bad: fail closed, answer 0) and log the outcome, a failure
 * once. XT_OK or the library's status. */
int extauth_load(struct extauth_ctx *ctx, const char *why);

/* Split text (len bytes, text[len] must be '\0'; modified in place) into
 * req. Returns req->kind. Never fails otherwise. */
enum extauth_kind extauth_parse_request(char *text, size_t len, struct extauth_request *req);

/* 1 yes, 0 no, for one parsed request. */
int extauth_answer(struct extauth_ctx *ctx, const struct extauth_request *req, time_t now);

/* Serve requests from in_fd, replies to out_fd, until EOF, a zero-length
 * frame or SIGTERM (returns 0) or a read/write error (returns 1). Never
 * writes anything but replies to out_fd. */
int extauth_serve(int in_fd, int out_fd, struct extauth_ctx *ctx);

#endif
