/* Private declarations shared by the library's own files. */
#ifndef XTOKEN_INTERNAL_H
#define XTOKEN_INTERNAL_H

#include <openssl/evp.h>
#include <setjmp.h>
#include <stddef.h>
#include <sys/types.h>

#include "replay_redis.h"
#include "xtoken.h"

#define XT_SEED_MIN     10 /* bytes: the reference's 16 base32 characters */
#define XT_SECRET_MIN   16 /* bytes of token_secret */
#define XT_KEYS_MAX     8  /* otp_seed / token_secret entries per scope */
#define XT_DIGITS_MIN   6  /* liboath supports 6..8 */
#define XT_DIGITS_MAX   8
#define XT_INTERVAL_MAX 3600
#define XT_DOMAIN_MAX   255
/* nonce_digits: at least 16 digits (53 bits), so two tokens of one user in
 * one step practically never share a nonce (and so a MAC); at most what
 * keeps an 8-digit token within XT_TOKEN_MAX. */
#define XT_NONCE_MIN 16
#define XT_NONCE_MAX 128

struct xt_seed {
    unsigned char *key; /* base32-decoded otp_seed */
    size_t len;
};

/* HMAC-SHA256 keyed once: digest states after the inner and outer pads. */
struct xt_hmac {
    EVP_MD_CTX *inner;
    EVP_MD_CTX *outer;
};

struct xt_secret {
    struct xt_hmac hmac; /* keyed with the secret; copied per use */
    char *text;          /* the secret as written */
    size_t len;
};

/* One scope: the global one (name "*") or a [domain] section after
 * inheritance from the global scope has been applied. */
struct xt_scope {
    char *name;
    struct xt_seed seeds[XT_KEYS_MAX];
    struct xt_secret secrets[XT_KEYS_MAX];
    unsigned n_seeds, n_secrets;
    unsigned window, digits, interval;
    unsigned nonce_digits; /* exact length of the nonce: no other is accepted */
    unsigned given; /* parse time: XT_GIVEN_* bits of keys set here */
};

struct xt_config {
    struct xt_scope *sections; /* [domain] sections, after inheritance */
    size_t n_sections;
    struct xt_scope global; /* keys outside any section */
    int global_serves;      /* global has seeds and secrets: serves any domain */
    char *replay_dir;       /* NULL: replay = off; the URL for Redis */
    struct xt_redis_settings redis; /* redis.url set: the replay store is on Redis */
};

/* The scope serving domain, or NULL. */
const struct xt_scope *xt_scope_find(const xt_config *cfg, const char *domain, size_t len);

/* The scope for a JID "local@domain": XT_OK; XT_BAD_USER if the JID is
 * not of that form; XT_UNKNOWN_DOMAIN if no keys serve its domain. */
int xt_scope_for_jid(const xt_config *cfg, const char *jid, const struct xt_scope **scope);

/* XT_OK if a verifier with this interval and window accepts a token no
 * longer than every replay store keeps it (interval x (window + 1) <=
 * XT_LIFETIME_MAX); XT_CONFIG with the reason in msg otherwise. */
int xt_lifetime_check(unsigned interval, unsigned window, char *msg, size_t msglen);

/* Split "local@domain": XT_OK with *at pointing at the '@'; XT_BAD_USER
 * if either part is empty, there is a second '@', or it is too long. */
int xt_jid_split(const char *jid, const char **at);

/* hmac.c: the key block HMAC really uses (RFC 2104): a key longer than
 * the block is replaced by its digest, and every key is padded with zero
 * bytes to the block. So keys that differ only in trailing zero bytes are
 * one key, and a long key is the same key as its digest. SHA-1 (TOTP) and
 * SHA-256 (the signature) both have 64-byte blocks. XT_OK; XT_INTERNAL. */
#define XT_HMAC_BLOCK 64
int xt_hmac_block_key(const char *digest, const unsigned char *key, size_t len,
                      unsigned char block[XT_HMAC_BLOCK]);
/* 1 if HMAC with `digest` ("SHA1", "SHA256") keyed with a is HMAC keyed
 * with b (their key blocks are equal), 0 if not, -1 on an error. */
int xt_hmac_same_key(const char *digest, const unsigned char *a, size_t alen,
                     const unsigned char *b, size_t blen);
/* hmac.c: key h (XT_OK; XT_INTERNAL; h must be freed either way). */
int xt_hmac_key(struct xt_hmac *h, const unsigned char *key, size_t len);
void xt_hmac_free(struct xt_hmac *h);
/* HMAC(part1 || part2) into out, using scratch (any EVP_MD_CTX) as work
 * space. XT_OK; XT_INTERNAL. */
int xt_hmac_sha256(const struct xt_hmac *h, EVP_MD_CTX *scratch, const void *part1, size_t len1,
                   const void *part2, size_t len2, unsigned char out[XT_MAC_LEN]);

/* otp.c: how far past the window a correctly signed token's step is
 * looked for, only to tell "expired" from "not yet valid" (and by how
 * much) in the log. A long-lived verifier looks it up in a table made once
 * per step, so it can afford 120 steps (an hour at the default interval:
 * a time-zone bug shows as such); a one-shot check (the PAM module,
 * `xtoken verify`) computes each OTP it compares, so it looks 4 steps
 * (2 minutes: a clock 2 minutes off is still named) far: at most 8 OTPs
 * per seed, whatever the token (~30 us with 8 seeds, where a PAM round
 * trip refusing a bad signature costs ~20 us). */
#define XT_CLASSIFY_STEPS         120
#define XT_CLASSIFY_STEPS_ONESHOT 4

/* The OTPs of every seed for the steps now-step +- (window + 1 ..
 * window + XT_CLASSIFY_STEPS), sorted by value: a refusal finds its
 * token's step by binary search instead of computing them all. */
struct xt_far_otp {
    unsigned long otp; /* the digits as a number */
    long offset;       /* its step - now-step */
};
struct xt_far_table {
    long long step; /* the now-step the OTPs are for; -1: none */
    unsigned window;
    size_t n;
    struct xt_far_otp e[2 * XT_CLASSIFY_STEPS * XT_KEYS_MAX];
};

/* token.c: what a long-lived verifier keeps between verifications. */
struct xt_otp_cache {
    long long step; /* the now-step the OTPs are of; -1: none yet */
    unsigned window;
    /* [seed][window + (step - now-step)]; not NUL-terminated; all-NUL for
     * a step before the epoch, which no token's digits match */
    char otp[XT_KEYS_MAX][2 * XT_WINDOW_MAX + 1][XT_DIGITS_MAX];
    struct xt_far_table *far; /* made at the first refusal to classify */
};
struct xt_verify_state {
    EVP_MD_CTX *scratch;        /* work space of every HMAC */
    struct xt_otp_cache *otps;  /* one per scope (sections, then global), or NULL */
};
/* Caches for cfg's scopes in state (its scratch untouched): XT_OK; XT_NOMEM. */
int xt_verify_state_init(struct xt_verify_state *state, const xt_config *cfg);
/* Wipe and free what xt_verify_state_init made (the OTPs derive from the
 * seeds: wiped like them). */
void xt_verify_state_clear(struct xt_verify_state *state, const xt_config *cfg);
/* otp.c: the step of otp (the token's first `digits` bytes, digits
 * already) near now_step, with state's caches if it keeps any. XT_OK with
 * *step within the window; XT_EXPIRED / XT_NOT_YET_VALID with *step up to
 * XT_CLASSIFY_STEPS past it (XT_CLASSIFY_STEPS_ONESHOT for a state without
 * caches); XT_BAD_OTP; XT_INTERNAL. */
int xt_otp_step(const xt_config *cfg, const struct xt_scope *s, struct xt_verify_state *state,
                const char *otp, long long now_step, long long *step);
/* xt_verify_detail() with the caller's state (verifier.c). */
int xt_verify_with(const xt_config *cfg, xt_replay *replay, struct xt_verify_state *state,
                   const char *jid, const char *token, size_t token_len, time_t now,
                   struct xt_detail *detail);

/* replay.c: start loading the cache lines xt_replay_use will scan for key
 * (a long-lived handle's mapped file store; nothing otherwise), so that
 * their misses overlap the HMAC instead of following it. */
void xt_replay_prefetch(const xt_replay *replay, const unsigned char key[XT_REPLAY_KEY_LEN]);

/* codec.c */
/* Decoded length (> 0) on success; 0 on a character outside base32, a
 * length no encoder produces, or output overflow. Case-insensitive, '='
 * ignored. */
size_t xt_base32_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen);
/* 1 if in is the canonical padded base64 of exactly outlen bytes, with the
 * bytes in out; 0 otherwise. */
int xt_base64_decode_exact(const char *in, size_t inlen, unsigned char *out, size_t outlen);

/* totp.c: the OTP of step `step` into out (digits chars + NUL).
 * XT_OK; XT_INTERNAL. */
int xt_totp(const struct xt_seed *seed, unsigned digits, unsigned interval, long long step,
            char *out);

/* safefile.c: read a whole small file opened without following symlinks.
 * The file must be regular, owned by root or the euid, not writable by
 * group/other, not readable by other if `secret`, and at most maxlen bytes.
 * XT_OK with *buf (NUL-terminated, caller frees with xt_free_wipe) and
 * *len; XT_CONFIG with the reason in err; XT_NOMEM. */
int xt_read_file_safely(const char *path, size_t maxlen, int secret, char **buf, size_t *len,
                        char *err, size_t errlen);
/* config.c: read a config file with xt_read_file_safely's checks for a
 * secret file and the config's size limit (what xt_config_load parses). */
int xt_config_read(const char *path, char **text, size_t *len, char *err, size_t errlen);
/* OPENSSL_cleanse then free. NULL is fine. */
void xt_free_wipe(void *p, size_t len);

/* busguard.c: a SIGBUS at an address in [lo, hi) while the guard is armed
 * in this thread jumps back to the sigsetjmp(env, 0) made before arming. */
struct xt_bus_guard {
    sigjmp_buf env;
    const unsigned char *lo, *hi;
};
/* Install the process's SIGBUS handler once. XT_OK; XT_INTERNAL. */
int xt_bus_guard_install(void);
void xt_bus_arm(struct xt_bus_guard *guard, const void *start, size_t len);
void xt_bus_disarm(const struct xt_bus_guard *guard);

/* snprintf into err if err is set. */
void xt_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
