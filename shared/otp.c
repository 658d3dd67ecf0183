/* Finding the TOTP step of a correctly signed token's OTP: within the
 * window (the OTPs of its steps computed once per step in a long-lived
 * verifier's cache), or, for a refusal's log line, how far outside it. A
 * long-lived verifier looks XT_CLASSIFY_STEPS each way up in a sorted
 * table made once per step, so that refusing an old token costs about what
 * refusing a bad signature does; a one-shot check searches outwards,
 * XT_CLASSIFY_STEPS_ONESHOT each way. (0.2.0 searched 120 steps each way
 * for every seed in both: ~1,400 bad signatures' worth with 8 seeds.) */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xtoken.h"

/* Does otp equal the OTP of `step` under any seed? 1 yes, 0 no, -1 error. */
static int otp_matches(const struct xt_scope *s, const char *otp, long long step)
{
    char expected[XT_DIGITS_MAX + 1];
    int match = 0;

    if (step < 0)
        return 0;
    for (unsigned i = 0; i < s->n_seeds && match == 0; i++) {
        if (xt_totp(&s->seeds[i], s->digits, s->interval, step, expected) != XT_OK)
            match = -1;
        else if (CRYPTO_memcmp(expected, otp, s->digits) == 0)
            match = 1;
    }
    OPENSSL_cleanse(expected, sizeof(expected));
    return match;
}

/* Fill c with the OTPs of every seed for the steps now_step +- window.
 * XT_OK; XT_INTERNAL (c is left empty). */
static int otp_cache_fill(const struct xt_scope *s, struct xt_otp_cache *c, long long now_step)
{
    char otp[XT_DIGITS_MAX + 1];
    int rc = XT_OK;

    OPENSSL_cleanse(c->otp, sizeof(c->otp));
    c->step = -1;
    for (unsigned i = 0; i < s->n_seeds && rc == XT_OK; i++)
        for (unsigned k = 0; k <= 2 * s->window && rc == XT_OK; k++) {
            long long step = now_step - s->window + k;

            if (step < 0)
                continue;
            rc = xt_totp(&s->seeds[i], s->digits, s->interval, step, otp);
            if (rc == XT_OK)
                memcpy(c->otp[i][k], otp, s->digits);
        }
    OPENSSL_cleanse(otp, sizeof(otp));
    if (rc != XT_OK) {
        OPENSSL_cleanse(c->otp, sizeof(c->otp));
        return rc;
    }
    c->step = now_step;
    c->window = s->window;
    return XT_OK;
}

/* otp_matches for a step within the window, from the cache: the OTP of a
 * step is the same for every token of it, so a busy verifier computes it
 * once per step, not once per token. */
static int otp_matches_cached(const struct xt_scope *s, const struct xt_otp_cache *c,
                              const char *otp, long long step)
{
    unsigned k = (unsigned)(step - c->step + c->window);
    int match = 0;

    for (unsigned i = 0; i < s->n_seeds; i++)
        match |= CRYPTO_memcmp(c->otp[i][k], otp, s->digits) == 0;
    return match;
}

/* Find the OTP's step within the window: now first, then outwards (from
 * the cache, if any: it must hold now_step), the later step first.
 * XT_OK with *step; XT_BAD_OTP if it is none of them; XT_INTERNAL. */
static int check_window(const struct xt_scope *s, const struct xt_otp_cache *cache,
                        const char *otp, long long now_step, long long *step)
{
    for (unsigned d = 0; d <= s->window; d++) {
        int later, earlier;

        if (cache != NULL) {
            later = otp_matches_cached(s, cache, otp, now_step + d);
            earlier = d == 0 ? 0 : otp_matches_cached(s, cache, otp, now_step - d);
        } else {
            later = otp_matches(s, otp, now_step + d);
            earlier = d == 0 ? 0 : otp_matches(s, otp, now_step - d);
        }
        if (later < 0 || earlier < 0)
            return XT_INTERNAL;
        if (later || earlier) {
            *step = later ? now_step + d : now_step - d;
            return XT_OK;
        }
    }
    return XT_BAD_OTP;
}

static unsigned long otp_value(const char *otp, unsigned digits)
{
    unsigned long value = 0;

    for (unsigned i = 0; i < digits; i++)
        value = value * 10 + (unsigned long)(otp[i] - '0');
    return value;
}

/* By value, then the nearest step, then the later one: the first entry of
 * a value is the step an outward search (far_search's order) finds. */
static int far_order(const void *pa, const void *pb)
{
    const struct xt_far_otp *a = pa, *b = pb;
    long da = labs(a->offset), db = labs(b->offset);

    if (a->otp != b->otp)
        return a->otp < b->otp ? -1 : 1;
    if (da != db)
        return da < db ? -1 : 1;
    return (a->offset < b->offset) - (a->offset > b->offset);
}

/* Fill t for now_step: 2 x XT_CLASSIFY_STEPS OTPs per seed, sorted.
 * XT_OK; XT_INTERNAL (t is left empty). */
static int far_fill(const struct xt_scope *s, struct xt_far_table *t, long long now_step)
{
    char otp[XT_DIGITS_MAX + 1];
    int rc = XT_OK;

    t->n = 0;
    t->step = -1;
    for (unsigned i = 0; i < s->n_seeds && rc == XT_OK; i++)
        for (long d = (long)s->window + 1; d <= (long)s->window + XT_CLASSIFY_STEPS && rc == XT_OK;
             d++)
            for (long sign = 1; sign >= -1 && rc == XT_OK; sign -= 2) {
                long long step = now_step + sign * d;

                if (step < 0)
                    continue;
                rc = xt_totp(&s->seeds[i], s->digits, s->interval, step, otp);
                if (rc == XT_OK)
                    t->e[t->n++] = (struct xt_far_otp){otp_value(otp, s->digits), sign * d};
            }
    OPENSSL_cleanse(otp, sizeof(otp));
    if (rc != XT_OK) {
        OPENSSL_cleanse(t->e, sizeof(t->e));
        t->n = 0;
        return rc;
    }
    qsort(t->e, t->n, sizeof(t->e[0]), far_order);
    t->step = now_step;
    t->window = s->window;
    return XT_OK;
}

/* The offset of otp's step in t (binary search), or 0 if it has none.
 * Its timing depends on the OTP, but only a token whose signature matched
 * gets here: its holder learns nothing that lets them sign another. */
static long far_lookup(const struct xt_far_table *t, const char *otp, unsigned digits)
{
    unsigned long value = otp_value(otp, digits);
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->e[mid].otp < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->e[lo].otp == value ? t->e[lo].offset : 0;
}

/* The offset of otp's step by searching outwards past the window, one
 * step each way at a time, the later first; 0 if none (*rc set to
 * XT_INTERNAL on an error). For one-shot callers, which keep no table:
 * up to 2 x XT_CLASSIFY_STEPS_ONESHOT OTPs per seed. */
static long far_search(const struct xt_scope *s, const char *otp, long long now_step, int *rc)
{
    for (long d = (long)s->window + 1; d <= (long)s->window + XT_CLASSIFY_STEPS_ONESHOT; d++) {
        int later = otp_matches(s, otp, now_step + d);
        int earlier = otp_matches(s, otp, now_step - d);

        if (later < 0 || earlier < 0) {
            *rc = XT_INTERNAL;
            return 0;
        }
        if (later || earlier)
            return later ? d : -d;
    }
    return 0;
}

/* A correctly signed token whose OTP is of no step within the window: how
 * far off is it? Only for the log, so it must cost no more than a few
 * verifications: from the table (made once per step per scope) when the
 * caller keeps one, by a short search otherwise (see internal.h).
 * XT_EXPIRED / XT_NOT_YET_VALID with *step; XT_BAD_OTP; XT_INTERNAL. */
static int classify(const struct xt_scope *s, const struct xt_far_table *far, const char *otp,
                    long long now_step, long long *step)
{
    int rc = XT_OK;
    long offset = far != NULL ? far_lookup(far, otp, s->digits)
                              : far_search(s, otp, now_step, &rc);

    if (rc != XT_OK)
        return rc;
    if (offset == 0)
        return XT_BAD_OTP;
    *step = now_step + offset;
    return offset > 0 ? XT_NOT_YET_VALID : XT_EXPIRED;
}

/* The scope's caches in state, or NULL if the state keeps none. */
static struct xt_otp_cache *cache_of(const xt_config *cfg, const struct xt_scope *s,
                                     struct xt_verify_state *state)
{
    if (state->otps == NULL)
        return NULL;
    return &state->otps[s == &cfg->global ? cfg->n_sections : (size_t)(s - cfg->sections)];
}

/* The scope's OTP cache, brought to now_step; NULL if the state has none
 * or it cannot be filled (the OTPs are then computed per token). */
static const struct xt_otp_cache *otp_cache_for(struct xt_otp_cache *c, const struct xt_scope *s,
                                                long long now_step)
{
    if (c != NULL && (c->step != now_step || c->window != s->window) &&
        otp_cache_fill(s, c, now_step) != XT_OK)
        return NULL;
    return c;
}

/* The scope's far table, made or brought to now_step; NULL if the state
 * keeps none or it cannot be made (the refusal then searches). */
static const struct xt_far_table *far_table_for(struct xt_otp_cache *c, const struct xt_scope *s,
                                                long long now_step)
{
    if (c == NULL)
        return NULL;
    if (c->far == NULL) {
        c->far = calloc(1, sizeof(*c->far));
        if (c->far == NULL)
            return NULL;
        c->far->step = -1;
    }
    if ((c->far->step != now_step || c->far->window != s->window) &&
        far_fill(s, c->far, now_step) != XT_OK)
        return NULL;
    return c->far;
}

int xt_otp_step(const xt_config *cfg, const struct xt_scope *s, struct xt_verify_state *state,
                const char *otp, long long now_step, long long *step)
{
    struct xt_otp_cache *c = cache_of(cfg, s, state);
    int rc = check_window(s, otp_cache_for(c, s, now_step), otp, now_step, step);

    if (rc == XT_BAD_OTP)
        rc = classify(s, far_table_for(c, s, now_step), otp, now_step, step);
    return rc;
}

int xt_verify_state_init(struct xt_verify_state *state, const xt_config *cfg)
{
    state->otps = calloc(cfg->n_sections + 1, sizeof(*state->otps));
    if (state->otps == NULL)
        return XT_NOMEM;
    for (size_t i = 0; i <= cfg->n_sections; i++)
        state->otps[i].step = -1;
    return XT_OK;
}

void xt_verify_state_clear(struct xt_verify_state *state, const xt_config *cfg)
{
    if (state->otps == NULL || cfg == NULL) {
        free(state->otps);
        state->otps = NULL;
        return;
    }
    for (size_t i = 0; i <= cfg->n_sections; i++)
        if (state->otps[i].far != NULL) {
            OPENSSL_cleanse(state->otps[i].far, sizeof(*state->otps[i].far));
            free(state->otps[i].far);
        }
    OPENSSL_cleanse(state->otps, (cfg->n_sections + 1) * sizeof(*state->otps));
    free(state->otps);
    state->otps = NULL;
}

