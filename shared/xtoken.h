/* libxtoken: verify and issue mod_auth_token-format login tokens.
 *
 * TOKEN = OTP NONCE SP base64(HMAC-SHA256(token_secret, OTP NONCE JID))
 * OTP is a TOTP (RFC 6238, HMAC-SHA1) of the base32-decoded otp_seed.
 * The token format is described in doc/webapp.md and pam_xtoken(8).
 *
 * Every function returns an enum xt_status; xt_strerror() names it for logs.
 * Nothing here ever logs, prints, or keeps global state: callers (the PAM
 * module, the xtoken tool) decide where messages go. No message built by the
 * library contains a secret or a token.
 */
#ifndef XTOKEN_H
#define XTOKEN_H

#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XT_TOKEN_MAX          255  /* longest token accepted (saslauthd's limit) */
#define XT_JID_MAX            1023 /* longest JID accepted */
#define XT_ERR_MAX            256  /* size of an error message buffer */
#define XT_DEFAULT_CONFIG     "/etc/security/pam_xtoken.conf"
#define XT_DEFAULT_REPLAY_DIR "/run/pam_xtoken"
#define XT_NONCE_DIGITS       32 /* default nonce_digits: the only nonce length accepted */
/* How long (seconds) after the start of its TOTP step every replay store
 * keeps a used token, whoever recorded it; the config refuses any verifier
 * that could accept a token for longer: interval x (window + 1) <= this.
 * 330 s is window 10 (XT_WINDOW_MAX) at the default 30 s interval. */
#define XT_LIFETIME_MAX 330
#define XT_MAC_LEN            32 /* HMAC-SHA256 */

enum xt_status {
    XT_OK = 0,
    XT_MALFORMED,      /* token syntax is wrong (or longer than XT_TOKEN_MAX) */
    XT_EXPIRED,        /* authentic, but its TOTP step is past the window */
    XT_NOT_YET_VALID,  /* authentic, but its TOTP step is ahead of the window */
    XT_BAD_OTP,        /* authentic, but the OTP matches no step near now */
    XT_BAD_SIGNATURE,  /* HMAC does not match any configured token_secret */
    XT_REPLAYED,       /* authentic and fresh, but already used once */
    XT_BAD_USER,       /* user name / JID is empty or malformed */
    XT_UNKNOWN_DOMAIN, /* no keys configured for the JID's domain */
    XT_UNKNOWN_USER,   /* the users policy says this user does not exist */
    XT_CONFIG,         /* config missing, unsafe or invalid */
    XT_STORE,          /* replay store missing, unsafe, corrupt or unreadable */
    XT_STORE_FULL,     /* replay store full of still-valid entries */
    XT_NOMEM,          /* out of memory */
    XT_INTERNAL,       /* crypto library or system failure */
};

/* Short reason for log lines, e.g. "expired", "bad signature". Never NULL. */
const char *xt_strerror(int status);

/* What kind of outcome a status is, so that every adapter (PAM codes, exit
 * codes, extauth replies) maps the statuses the same way. */
enum xt_class {
    XT_CLASS_OK,          /* XT_OK */
    XT_CLASS_REFUSED,     /* the token is wrong: malformed ... replayed */
    XT_CLASS_NO_USER,     /* bad user name, unknown domain or user */
    XT_CLASS_UNAVAILABLE, /* config or replay store unusable */
    XT_CLASS_NOMEM,       /* out of memory */
    XT_CLASS_INTERNAL,    /* anything else */
};
enum xt_class xt_status_class(int status);

/* Copy `in` (inlen bytes) into out for a log line: printable ASCII kept,
 * every other byte (controls, DEL, bytes >= 0x80: C1 controls, bidi
 * overrides) and the backslash as \xNN, cut to fit with "...". Names chosen
 * by clients never reach a log raw. */
void xt_printable(const char *in, size_t inlen, char *out, size_t outlen);

/* Parse a plain unsigned decimal (no sign, no spaces) in [min, max].
 * 1 and *out set on success, 0 otherwise. */
int xt_parse_uint(const char *text, unsigned min, unsigned max, unsigned *out);

/* ---- configuration (shared/config.c) ---------------------------------- */

typedef struct xt_config xt_config;

/* Load and check a config file (safe open, owner/mode checks, parse).
 * XT_OK and *cfg set; XT_CONFIG with err = "PATH:LINE: reason" (or
 * "PATH: reason"); XT_NOMEM. err may be NULL. */
int xt_config_load(const char *path, xt_config **cfg, char *err, size_t errlen);

/* Parse config text already in memory (name is used in messages).
 * Same returns as xt_config_load. text need not be NUL-terminated. */
int xt_config_parse(const char *text, size_t len, const char *name, xt_config **cfg, char *err,
                    size_t errlen);

/* Wipes all key material. NULL is fine. */
void xt_config_free(xt_config *cfg);

/* Override the window of every domain (PAM argument window=N).
 * XT_OK; XT_CONFIG (nothing changed, the reason in err) if window >
 * XT_WINDOW_MAX or a domain's interval x (window + 1) > XT_LIFETIME_MAX. */
#define XT_WINDOW_MAX 10
int xt_config_set_window(xt_config *cfg, unsigned window, char *err, size_t errlen);

/* The `replay` value, for display: the file store's directory (default
 * XT_DEFAULT_REPLAY_DIR), a Redis URL (it never holds the password), NULL
 * for `replay = off`. Build the store with xt_replay_open(). */
const char *xt_config_replay_dir(const xt_config *cfg);

/* What check-config prints: one entry per scope, never a secret. */
struct xt_domain_info {
    const char *name; /* domain, or "*" for the global (any domain) scope */
    unsigned n_seeds, n_secrets;
    unsigned window, digits, interval, nonce_digits;
};
size_t xt_config_domain_count(const xt_config *cfg);
/* XT_OK; XT_CONFIG if i is out of range. */
int xt_config_domain_info(const xt_config *cfg, size_t i, struct xt_domain_info *info);

/* XT_OK if the domain has keys (a section, or a complete global scope);
 * XT_UNKNOWN_DOMAIN otherwise. */
int xt_config_has_domain(const xt_config *cfg, const char *domain);

/* ---- JIDs and users (shared/jid.c, shared/users.c) --------------------- */

/* Build "local@domain" from a server-supplied user name: either "local"
 * plus default_domain, or "local@domain" (default_domain may be NULL; if
 * set, the user's domain must equal it). No case folding: the server's
 * bytes are signed as they are.
 * XT_OK; XT_BAD_USER (empty part, bad character, too long, second '@');
 * XT_UNKNOWN_DOMAIN (no domain at all, or not default_domain). */
int xt_jid_make(const char *user, const char *default_domain, char *jid, size_t jidlen);

/* Does the user exist? policy is "any" (every user of a configured domain),
 * "nss" (the localpart resolves with getpwnam) or an absolute path of a
 * file listing JIDs or localparts, one per line.
 * XT_OK; XT_UNKNOWN_USER; XT_UNKNOWN_DOMAIN; XT_BAD_USER; XT_CONFIG (bad
 * policy or unusable users file, detail in err); XT_NOMEM. */
int xt_user_exists(const xt_config *cfg, const char *policy, const char *jid, char *err,
                   size_t errlen);

/* XT_OK if policy is well-formed ("any", "nss" or an absolute path),
 * XT_CONFIG otherwise. Does not open the file. */
int xt_users_policy_check(const char *policy);

/* ---- arguments of pam_xtoken.so (shared/pamargs.c) --------------------- */

#define XT_PAM_WINDOW_UNSET (~0u)

struct xt_pam_args {
    const char *conf;   /* conf=: config file (default XT_DEFAULT_CONFIG) */
    const char *domain; /* domain=: domain for bare user names, or NULL */
    const char *users;  /* users=: users policy, default "any" */
    unsigned window;    /* window=, XT_PAM_WINDOW_UNSET: as the config says */
    int debug;
    int noreplay;
};

/* The defaults, before any argument. */
void xt_pam_args_init(struct xt_pam_args *args);

/* Apply one module argument to args (values point into arg).
 * XT_ARG_OK; XT_ARG_MALFORMED for a known key with a bad value;
 * XT_ARG_UNKNOWN for an argument the module does not know. The module
 * refuses to run (PAM_SERVICE_ERR) on either of the last two. */
enum { XT_ARG_OK, XT_ARG_MALFORMED, XT_ARG_UNKNOWN };
int xt_pam_arg_apply(const char *arg, struct xt_pam_args *args);

/* ---- replay store (shared/replay.c) ------------------------------------ */

typedef struct xt_replay xt_replay;

/* The replay store the config names: the file store for `replay = DIR`
 * (the default), Redis for `replay = redis://HOST[:PORT][/DB]` or
 * `redis+unix:///PATH` (shared/replay_redis.c), and *replay NULL for
 * `replay = off`. Does no I/O: the store is reached on first use, and a
 * Redis handle keeps its connection, reconnecting on the use after an error.
 * XT_OK; XT_NOMEM. Every caller builds its store this way. */
int xt_replay_open(const xt_config *cfg, xt_replay **replay);

/* Reach the store once without recording anything (xtoken check-config).
 * Redis: connect, authenticate, select the database, PING, compare the
 * clocks and, where the server allows CONFIG GET, check its eviction
 * policy. XT_OK with report ('\n'-terminated lines) and warning ("" or
 * what could let a token in twice); XT_STORE with the reason in
 * xt_replay_error(); XT_NOMEM. The file store: XT_OK, no I/O, empty report. */
int xt_replay_probe(const xt_replay *replay, char *report, size_t reportlen, char *warning,
                    size_t warnlen);

/* A handle on the store in dir: DIR/<euid>.store if the euid owns DIR,
 * else DIR/<user name>/<euid>.store (a directory root made for the user;
 * replay.c). Does no I/O: the store is opened (DIR created if missing) on
 * first use and kept open; a long-lived handle reopens it after a fork or once it notices (at
 * most a second later) that the file was removed or replaced. One handle per
 * thread. XT_OK; XT_NOMEM. */
int xt_replay_new(const char *dir, xt_replay **replay);
void xt_replay_free(xt_replay *replay);

/* Record key as used until `expires` (unix seconds): the last moment any
 * verifier sharing the store could accept the token (xt_verify passes the
 * start of the token's step + XT_LIFETIME_MAX). The store decides with its
 * own clock, read under its lock (see xt_replay_set_clock).
 * XT_OK on first use; XT_REPLAYED if already recorded and not expired;
 * XT_EXPIRED if `expires` has passed (nothing recorded); XT_STORE_FULL
 * (never evicts a valid entry); XT_STORE (unsafe, corrupt, truncated or
 * unreadable, or the system clock stepped back by more than a token's
 * life: detail in xt_replay_error); XT_NOMEM. */
#define XT_REPLAY_KEY_LEN 32
int xt_replay_use(xt_replay *replay, const unsigned char key[XT_REPLAY_KEY_LEN], time_t expires);

/* The clock the store reads (default: time(NULL)): for tests and
 * simulations. It is called before and while holding the store's lock. */
void xt_replay_set_clock(xt_replay *replay, time_t (*clock)(void *arg), void *arg);

/* Detail of the last XT_STORE / XT_STORE_FULL error ("" if none). */
const char *xt_replay_error(const xt_replay *replay);

/* ---- tokens (shared/token.c) ------------------------------------------- */

/* Verify token (token_len bytes, need not be NUL-terminated) for jid at
 * time now (unix seconds, UTC). replay may be NULL (no replay protection);
 * the store is consulted only for a token that passed every other check.
 * XT_OK only for a genuine, fresh, unused token for exactly this JID;
 * otherwise the specific reason (see enum xt_status). */
int xt_verify(const xt_config *cfg, xt_replay *replay, const char *jid, const char *token,
              size_t token_len, time_t now);

/* What a refusal's log line can say beyond its status, never a secret. */
struct xt_detail {
    long long age;     /* now minus the start of the token's TOTP step, when known */
    unsigned lifetime; /* interval x (window + 1) of the JID's scope; 0: step unknown */
};

/* xt_verify, also filling detail (may be NULL) for xt_reason. */
int xt_verify_detail(const xt_config *cfg, xt_replay *replay, const char *jid, const char *token,
                     size_t token_len, time_t now, struct xt_detail *detail);

/* The reason for a log line: xt_strerror(status), and for an expired or
 * not-yet-valid token how far its step is from now (a clock skew of
 * minutes should not look like a time-zone bug). Writes buf (len bytes,
 * XT_ERR_MAX is enough) and returns it. */
const char *xt_reason(int status, const struct xt_detail *detail, char *buf, size_t len);

/* Mint a token for jid at time now with the first otp_seed and the first
 * token_secret of jid's domain; nonce: nonce_digits unbiased random
 * digits from the OS CSPRNG. out gets a NUL-terminated token.
 * XT_OK; XT_UNKNOWN_DOMAIN; XT_BAD_USER; XT_INTERNAL; XT_NOMEM. */
int xt_issue(const xt_config *cfg, const char *jid, time_t now, char *out, size_t outlen);

/* Fill buf with len unbiased random digits from the OS CSPRNG (no NUL).
 * XT_OK; XT_INTERNAL. */
int xt_random_digits(char *buf, size_t len);

/* Fill buf with len random base32 characters (A-Z2-7, no NUL), for
 * `xtoken keygen`. XT_OK; XT_INTERNAL. */
int xt_random_base32(char *buf, size_t len);

/* ---- verifier handle for long-lived processes (shared/verifier.c) ------- */

/* What `xtoken extauth` and the Lua binding keep between requests: the
 * config, loaded once and reloaded when its file changes; the replay
 * handle the config names; preallocated crypto scratch; and the expected
 * OTPs of the window's steps, computed once per step (the OTP of a step is
 * the same for every token of it). Verifying through a handle gives exactly
 * the answers of xt_verify_detail() on the same config and store.
 *
 * Threads and forks: a handle is used by one thread at a time (no locking
 * inside); use one handle per thread. After a fork, either process may go
 * on using its copy: the replay handle reopens its file or reconnects to
 * Redis on the next use. */
typedef struct xt_verifier xt_verifier;

#define XT_VERIFIER_NO_REPLAY 1u /* no replay store, whatever the config says */

/* A handle on the config at config_path, loaded now. The handle exists
 * even when the config cannot be loaded: it then refuses everything with
 * XT_CONFIG (fail closed) and tries again at every xt_verifier_refresh (at
 * most once a second) until a load works;
 * xt_verifier_status()/xt_verifier_error() say why. XT_OK; XT_NOMEM. */
int xt_verifier_new(const char *config_path, unsigned flags, xt_verifier **v);

/* A handle on a config already loaded (it takes cfg, also on failure),
 * never reloaded: for tests and fuzzing. XT_OK; XT_NOMEM. */
int xt_verifier_new_from(xt_config *cfg, unsigned flags, xt_verifier **v);

/* NULL is fine. Wipes the keys. */
void xt_verifier_free(xt_verifier *v);

/* Reload the config when force is set; otherwise look at the file no more
 * than once per second of `now`, reading it whole, and reload when its
 * content differs from what was loaded (a SHA-256 of the bytes: a
 * same-size rewrite within one timestamp tick is seen too), when it cannot
 * be read, or when the last load failed (its reason may have passed:
 * EMFILE, ENOMEM, a file briefly unreadable). A failed reload drops the old
 * config too (fail closed: nothing is accepted with keys the admin meant to
 * replace). Returns 1 if a load was attempted (the caller may log
 * xt_verifier_status/_error), 0 otherwise. */
int xt_verifier_refresh(xt_verifier *v, time_t now, int force);

/* XT_OK while a config is loaded; otherwise the status of the failed load
 * (XT_CONFIG, XT_NOMEM). */
int xt_verifier_status(const xt_verifier *v);

/* Why the last load failed ("PATH:LINE: reason", never a secret), "" if
 * it did not. */
const char *xt_verifier_error(const xt_verifier *v);

/* The loaded config (NULL while none is) and the replay handle (NULL for
 * `replay = off`, XT_VERIFIER_NO_REPLAY, or no config). */
const xt_config *xt_verifier_config(const xt_verifier *v);
xt_replay *xt_verifier_replay(const xt_verifier *v);

/* xt_verify_detail() with the handle's config, store and caches (detail
 * may be NULL). Does not reload: call xt_verifier_refresh() first.
 * XT_CONFIG while no config is loaded. */
int xt_verifier_verify(xt_verifier *v, const char *jid, const char *token, size_t token_len,
                       time_t now, struct xt_detail *detail);

/* The reason for a log line or a caller: for XT_CONFIG "config: " and
 * why the config is not loaded; for XT_STORE / XT_STORE_FULL the store's
 * own detail, beginning "replay store"; otherwise xt_reason(). Never a
 * token or a secret. Writes buf (len bytes, XT_ERR_MAX + 32 is enough) and
 * returns it. */
const char *xt_verifier_reason(const xt_verifier *v, int status, const struct xt_detail *detail,
                               char *buf, size_t len);

/* xt_user_exists() with the handle's config; XT_CONFIG while none is
 * loaded (err says so). */
int xt_verifier_user_exists(xt_verifier *v, const char *policy, const char *jid, char *err,
                            size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
