/* Unit tests of the verifier handle (shared/verifier.c): the same answers
 * as xt_verify_detail across step boundaries, windows and seeds; reloads;
 * fail-closed reload failures; fork. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "unit.h"

#define SEED   "K5UOYGC3OJ2WG4LX"
#define SEED2  "MFRGGZDFMZTWQ2LKNNWG23TPOA"
#define SECRET "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define JID    "alice@example.org"
#define T0     1700000000 /* step 56666666 starts at 1699999980 */
#define TOKEN_BUF 256

static void write_config(const char *path, const char *text)
{
    char tmp[600];
    FILE *f;

    /* replaced by rename, as editors and config managers do */
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(tmp, 0600), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static void mint(const char *conf_text, const char *jid, time_t at, char *out)
{
    xt_config *cfg = unit_config(conf_text);

    ck_assert_int_eq(xt_issue(cfg, jid, at, out, TOKEN_BUF), XT_OK);
    xt_config_free(cfg);
}

static xt_verifier *verifier_of(const char *text)
{
    xt_verifier *v = NULL;

    ck_assert_int_eq(xt_verifier_new_from(unit_config(text), XT_VERIFIER_NO_REPLAY, &v), XT_OK);
    ck_assert_int_eq(xt_verifier_status(v), XT_OK);
    return v;
}

/* The handle's answer (rc, got) agrees with xt_verify_detail's (expect,
 * want): the same verdict always; the same status and detail wherever the
 * one-shot check classifies; where it finds no step (it looks
 * XT_CLASSIFY_STEPS_ONESHOT past the window), the handle may still name
 * one further off (it looks XT_CLASSIFY_STEPS). */
static void assert_agrees(int rc, const struct xt_detail *got, int expect,
                          const struct xt_detail *want, unsigned window, unsigned interval,
                          time_t now, const char *what)
{
    /* steps between the token's and now's */
    long long off = llabs(((long long)now - got->age) / interval - (long long)now / interval);

    if (expect == XT_BAD_OTP && (rc == XT_EXPIRED || rc == XT_NOT_YET_VALID)) {
        ck_assert_msg(off > window + XT_CLASSIFY_STEPS_ONESHOT && off <= window + XT_CLASSIFY_STEPS,
                      "%s: %s %lld s off, the one-shot check found no step", what,
                      xt_strerror(rc), got->age);
        return;
    }
    ck_assert_msg(rc == expect && got->age == want->age && got->lifetime == want->lifetime,
                  "%s: %s (age %lld), want %s (age %lld)", what, xt_strerror(rc), got->age,
                  xt_strerror(expect), want->age);
}

/* For every window and two intervals: tokens of steps around T0, checked
 * at every second across several step boundaries by one handle (its cache
 * moving with the clock) and by xt_verify_detail: the same answers. */
START_TEST(test_same_answers_as_verify)
{
    static const unsigned intervals[] = {30, 17};
    unsigned window = (unsigned)_i;

    for (size_t n = 0; n < sizeof(intervals) / sizeof(intervals[0]); n++) {
        char conf[256], tokens[5][TOKEN_BUF];
        unsigned interval = intervals[n];
        if (interval * (window + 1) > XT_LIFETIME_MAX)
            continue;
        snprintf(conf, sizeof(conf), "otp_seed = %s\notp_seed = %s\ntoken_secret = %s\n"
                 "window = %u\ninterval = %u\n", SEED2, SEED, SECRET, window, interval);
        xt_config *cfg = unit_config(conf);
        xt_verifier *v = verifier_of(conf);
        for (int k = 0; k < 5; k++) /* minted with SEED2 (the first seed) */
            mint(conf, JID, T0 + (k - 2) * (time_t)interval * (window + 1), tokens[k]);
        for (time_t now = T0 - 3 * interval; now < T0 + 3 * (time_t)interval; now++)
            for (int k = 0; k < 5; k++) {
                struct xt_detail want, got;
                char what[96];
                int expect = xt_verify_detail(cfg, NULL, JID, tokens[k], strlen(tokens[k]), now, &want);
                int rc = xt_verifier_verify(v, JID, tokens[k], strlen(tokens[k]), now, &got);
                snprintf(what, sizeof(what), "window %u interval %u now %ld token %d", window,
                         interval, (long)now, k);
                assert_agrees(rc, &got, expect, &want, window, interval, now, what);
            }
        xt_verifier_free(v);
        xt_config_free(cfg);
    }
}
END_TEST

/* The reference the classification is held to: for every seed the OTPs
 * of steps now-step +- reach, and the nearest step whose OTP is otp (the
 * later one on a tie), found by looking at all of them. XT_OK (within the
 * window) / XT_EXPIRED / XT_NOT_YET_VALID with *age; XT_BAD_OTP. */
#define FAR_REACH (1 + XT_CLASSIFY_STEPS)
struct otp_table {
    char otp[4][2 * FAR_REACH + 1][7];
};

static void reference_fill(struct otp_table *t, const struct xt_seed *seeds, long long now_step)
{
    for (int i = 0; i < 4; i++)
        for (int d = -FAR_REACH; d <= FAR_REACH; d++)
            ck_assert_int_eq(xt_totp(&seeds[i], 6, 30, now_step + d, t->otp[i][d + FAR_REACH]),
                             XT_OK);
}

static int reference_step(const struct otp_table *t, const char *otp, int reach, time_t now,
                          long long *age)
{
    for (int d = 0; d <= reach; d++)
        for (int sign = 1; sign >= -1; sign -= 2)
            for (int i = 0; i < 4; i++)
                if (memcmp(t->otp[i][sign * d + FAR_REACH], otp, 6) == 0) {
                    *age = now - (now / 30 + sign * d) * 30;
                    return d <= 1 ? XT_OK : sign > 0 ? XT_NOT_YET_VALID : XT_EXPIRED;
                }
    return XT_BAD_OTP;
}

/* Far from the window, where refusals are classified: four seeds and
 * 6-digit OTPs, so that OTPs of different steps and seeds collide (~2,000
 * OTPs of 10^6 values). Tokens of every seed minted from 125 steps before
 * to 125 after the checking time, at two times (the handle's table is
 * remade for the second): the handle (its table) must find what looking at
 * every OTP finds out to XT_CLASSIFY_STEPS past the window, and the
 * one-shot check (its outward search) out to XT_CLASSIFY_STEPS_ONESHOT. */
START_TEST(test_classify_far_out)
{
    static const char *names[] = {"MFRGGZDFMZTWQ2LKNNWG23TPOA", "K5UOYGC3OJ2WG4LX",
                                  "JBSWY3DPEHPK3PXP", "GEZDGNBVGY3TQOJQGEZDGNBVGY"};
    unsigned char keys[4][32];
    struct xt_seed seeds[4];
    static struct otp_table table;
    char conf[512], minter[256], tok[TOKEN_BUF];
    size_t off = (size_t)snprintf(conf, sizeof(conf), "digits = 6\ntoken_secret = %s\n", SECRET);
    int classified = 0, moved = 0;

    for (size_t i = 0; i < 4; i++) {
        off += (size_t)snprintf(conf + off, sizeof(conf) - off, "otp_seed = %s\n", names[i]);
        seeds[i] = (struct xt_seed){keys[i], xt_base32_decode(names[i], strlen(names[i]), keys[i],
                                                              sizeof(keys[i]))};
    }
    xt_config *cfg = unit_config(conf);
    xt_verifier *v = verifier_of(conf);
    for (time_t now = T0; now < T0 + 211; now += 210) {
        reference_fill(&table, seeds, now / 30);
        for (size_t i = 0; i < 4; i++)
            for (int d = -125; d <= 125; d++) {
                struct xt_detail got, oneshot;
                long long age = 0, age_near = 0;
                snprintf(minter, sizeof(minter), "digits = 6\notp_seed = %s\ntoken_secret = %s\n",
                         names[i], SECRET);
                mint(minter, JID, now + d * 30, tok);
                int want = reference_step(&table, tok, FAR_REACH, now, &age);
                int want_near = reference_step(&table, tok, 1 + XT_CLASSIFY_STEPS_ONESHOT, now,
                                               &age_near);
                int rc = xt_verifier_verify(v, JID, tok, strlen(tok), now, &got);
                int rc1 = xt_verify_detail(cfg, NULL, JID, tok, strlen(tok), now, &oneshot);
                ck_assert_msg(rc == want && (want == XT_BAD_OTP || got.age == age),
                              "handle, seed %zu, %d steps: %s (age %lld), want %s (age %lld)", i,
                              d, xt_strerror(rc), got.age, xt_strerror(want), age);
                ck_assert_msg(rc1 == want_near && (want_near == XT_BAD_OTP || oneshot.age == age_near),
                              "one-shot, seed %zu, %d steps: %s (age %lld), want %s (age %lld)", i,
                              d, xt_strerror(rc1), oneshot.age, xt_strerror(want_near), age_near);
                classified += want == XT_EXPIRED || want == XT_NOT_YET_VALID;
                moved += want != XT_BAD_OTP && age != now - ((now + d * 30) / 30) * 30;
            }
    }
    ck_assert_int_ge(classified, 2 * 4 * 238);
    /* found at another step than its own: the tie rule was exercised */
    ck_assert_msg(moved > 0, "no colliding OTP among the tokens");
    xt_verifier_free(v);
    xt_config_free(cfg);
}
END_TEST

/* CPU seconds per call of verifying tok n times at now. */
static double cost_of(xt_verifier *v, const char *tok, time_t now, int n, int want)
{
    struct timespec a, b;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), now, NULL), want);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    return ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9) / n;
}

/* Refusing a correctly signed old token costs about what refusing a bad
 * signature costs, whatever the number of seeds: 0.2.0 searched window +
 * 120 steps each way for every seed (with 8 seeds ~1,400 times a bad
 * signature), so replaying one's own old tokens kept a single-threaded
 * server busy. make bench measures it as refusal_cost_ratio; here a loose
 * bound that only a search per refusal breaks. */
START_TEST(test_refusal_cost)
{
    static const char *more[] = {"JBSWY3DPEHPK3PXP", "GEZDGNBVGY3TQOJQGEZDGNBVGY",
                                 "ONSWG4TFOQQGC3TEEBXW4ZJA", "NBSWY3DPFQQHO33SNRSCC",
                                 "MZXW6YTBOIXGO2LUNBVWK", "KRUGKIDROVUWG2ZAMJZG653O",
                                 "MFRGGZDFMZTWQ2LKNNWG23TPOA"};
    const char *minter = "otp_seed = " SEED "\ntoken_secret = " SECRET "\n";
    char conf[1024], old[TOKEN_BUF], older[TOKEN_BUF], bad[TOKEN_BUF];
    size_t off = (size_t)snprintf(conf, sizeof(conf), "%s", minter);
    double bad_cost, old_cost, older_cost;

    for (size_t i = 0; i < 7; i++)
        off += (size_t)snprintf(conf + off, sizeof(conf) - off, "otp_seed = %s\n", more[i]);
    xt_verifier *v = verifier_of(conf);
    mint(minter, JID, T0 - 1800, old);    /* expired: its step is found */
    mint(minter, JID, T0 - 7200, older);  /* beyond the classified hour: no step */
    mint(minter, JID, T0, bad);
    bad[60] = bad[60] == 'A' ? 'B' : 'A'; /* a signature that does not match */
    cost_of(v, old, T0, 1, XT_EXPIRED);   /* the first refusal of a step may pay */
    bad_cost = cost_of(v, bad, T0, 20000, XT_BAD_SIGNATURE);
    old_cost = cost_of(v, old, T0, 500, XT_EXPIRED);
    older_cost = cost_of(v, older, T0, 500, XT_BAD_OTP);
    ck_assert_msg(old_cost < 20 * bad_cost && older_cost < 20 * bad_cost,
                  "refusals: bad signature %.2f us, expired %.2f us, older %.2f us", bad_cost * 1e6,
                  old_cost * 1e6, older_cost * 1e6);
    xt_verifier_free(v);
}
END_TEST

/* A token of the second seed is found in the cache as well. */
START_TEST(test_second_seed_and_domains)
{
    const char *conf = "otp_seed = " SEED "\notp_seed = " SEED2 "\ntoken_secret = " SECRET "\n"
                       "[example.net]\notp_seed = " SEED2 "\ntoken_secret = " SECRET "\n";
    const char *minter = "otp_seed = " SEED2 "\ntoken_secret = " SECRET "\n";
    char tok[TOKEN_BUF], tok_net[TOKEN_BUF], tok_seed1[TOKEN_BUF];
    xt_verifier *v = verifier_of(conf);

    mint(minter, JID, T0, tok);
    mint(minter, "bob@example.net", T0, tok_net);
    mint("otp_seed = " SEED "\ntoken_secret = " SECRET "\n", "bob@example.net", T0, tok_seed1);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, "bob@example.net", tok_net, strlen(tok_net), T0, NULL),
                     XT_OK);
    /* example.net has only SEED2: the global scope's cache must not leak in */
    ck_assert_int_eq(
        xt_verifier_verify(v, "bob@example.net", tok_seed1, strlen(tok_seed1), T0, NULL),
        XT_BAD_OTP);
    ck_assert_int_eq(xt_verifier_verify(v, "bob@example.org", tok, strlen(tok), T0, NULL),
                     XT_BAD_SIGNATURE);
    xt_verifier_free(v);
}
END_TEST

/* A config file that appears, changes (rotated seed: the cached OTPs of
 * the old seed must go at once, within the same step), breaks and is fixed. */
START_TEST(test_reload_on_change)
{
    const char *conf1 = "otp_seed = " SEED "\ntoken_secret = " SECRET "\n";
    const char *conf2 = "otp_seed = " SEED2 "\ntoken_secret = " SECRET "\n";
    const char *path = unit_write_file("x.conf", "", 0600);
    char tok1[TOKEN_BUF], tok2[TOKEN_BUF];
    xt_verifier *v = NULL;

    ck_assert_int_eq(unlink(path), 0);
    mint(conf1, JID, T0, tok1);
    mint(conf2, JID, T0, tok2);
    ck_assert_int_eq(xt_verifier_new(path, XT_VERIFIER_NO_REPLAY, &v), XT_OK);
    ck_assert_int_eq(xt_verifier_status(v), XT_CONFIG);
    ck_assert_ptr_nonnull(strstr(xt_verifier_error(v), path));
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok1, strlen(tok1), T0, NULL), XT_CONFIG);
    ck_assert_int_eq(xt_verifier_user_exists(v, "any", JID, NULL, 0), XT_CONFIG);

    write_config(path, conf1);
    ck_assert_int_eq(xt_verifier_refresh(v, T0, 0), 1);
    ck_assert_int_eq(xt_verifier_status(v), XT_OK);
    ck_assert_str_eq(xt_verifier_error(v), "");
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok1, strlen(tok1), T0, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 1, 0), 0); /* unchanged */

    write_config(path, conf2);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 1, 0), 0); /* looked at this second already */
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 2, 0), 1);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok1, strlen(tok1), T0 + 2, NULL), XT_BAD_OTP);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), T0 + 2, NULL), XT_OK);

    /* a bad file: the old keys go too, and the reason names no secret */
    write_config(path, "otp_seed = " SEED2 "\ntoken_secret = short\n");
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 3, 0), 1);
    ck_assert_int_eq(xt_verifier_status(v), XT_CONFIG);
    ck_assert_ptr_null(strstr(xt_verifier_error(v), "short"));
    ck_assert_ptr_null(strstr(xt_verifier_error(v), SEED2));
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), T0 + 3, NULL), XT_CONFIG);
    ck_assert_ptr_null(xt_verifier_config(v));

    ck_assert_int_eq(chmod(path, 0644), 0); /* still bad, now also unsafe: stays refused */
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 4, 0), 1);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), T0 + 4, NULL), XT_CONFIG);

    write_config(path, conf2);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 5, 1), 1);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), T0 + 5, NULL), XT_OK);
    xt_verifier_free(v);
}
END_TEST

/* A reload that fails for a passing reason (here: no file descriptor left,
 * EMFILE) drops the keys, and is tried again at most once a second until
 * it works, though the file never changed. */
START_TEST(test_retry_after_passing_failure)
{
    const char *conf = "otp_seed = " SEED "\ntoken_secret = " SECRET "\n";
    const char *path = unit_write_file("retry.conf", conf, 0600);
    struct rlimit saved, none;
    xt_verifier *v = NULL;
    char tok[TOKEN_BUF];
    int lowest;

    mint(conf, JID, T0, tok);
    ck_assert_int_eq(xt_verifier_new(path, XT_VERIFIER_NO_REPLAY, &v), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0, NULL), XT_OK);

    /* no new descriptor: the soft limit at the lowest free one */
    lowest = dup(0);
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    none = saved;
    none.rlim_cur = (rlim_t)lowest;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 1, 1), 1);
    ck_assert_int_eq(xt_verifier_status(v), XT_CONFIG);
    ck_assert_ptr_nonnull(strstr(xt_verifier_error(v), "pen files")); /* "Too many open files" */
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0 + 1, NULL), XT_CONFIG);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 2, 0), 1); /* retried, fails again */
    ck_assert_int_eq(xt_verifier_status(v), XT_CONFIG);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);

    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 2, 0), 0); /* at most once a second */
    ck_assert_int_eq(xt_verifier_status(v), XT_CONFIG);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 3, 0), 1); /* the next second: loaded */
    ck_assert_int_eq(xt_verifier_status(v), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0 + 3, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 4, 0), 0); /* loaded and unchanged */
    xt_verifier_free(v);
}
END_TEST

/* Replace the content of a mapped file through the mapping (the page is
 * already dirty and writable, so the kernel notes nothing: device, inode,
 * size, mtime and ctime stay as they were, as for a same-size rewrite
 * within one timestamp tick) and stat it before and after. */
static int rewrite_unnoticed(unsigned char *map, const char *text, size_t len, const char *path)
{
    struct stat before, after;

    ck_assert_int_eq(stat(path, &before), 0);
    memcpy(map, text, len);
    ck_assert_int_eq(stat(path, &after), 0);
    return before.st_dev == after.st_dev && before.st_ino == after.st_ino &&
           before.st_size == after.st_size && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
           before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
           before.st_ctim.tv_sec == after.st_ctim.tv_sec &&
           before.st_ctim.tv_nsec == after.st_ctim.tv_nsec;
}

/* A change that leaves the file's metadata as it was is still reloaded at
 * the once-a-second check: what decides is the content. */
START_TEST(test_same_size_rewrite_reloads)
{
    const char *conf1 = "otp_seed = " SEED "\ntoken_secret = " SECRET "\n";
    const char *conf2 = "otp_seed = JBSWY3DPEHPK3PXP\ntoken_secret = " SECRET "\n";
    const char *path = unit_write_file("rewrite.conf", conf1, 0600);
    size_t len = strlen(conf1);
    char tok1[TOKEN_BUF], tok2[TOKEN_BUF];
    xt_verifier *v = NULL;
    unsigned char *map;
    int fd, unnoticed = 0;

    ck_assert_uint_eq(strlen(conf2), len);
    mint(conf1, JID, T0, tok1);
    mint(conf2, JID, T0, tok2);
    fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    memcpy(map, conf1, len); /* the write fault: the kernel updates the times now */
    ck_assert_int_eq(xt_verifier_new(path, XT_VERIFIER_NO_REPLAY, &v), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok1, strlen(tok1), T0, NULL), XT_OK);
    /* a writeback in between (someone's sync) would make the kernel note
     * the write: try again then, a few times */
    for (int attempt = 0; attempt < 5 && !unnoticed; attempt++) {
        unnoticed = rewrite_unnoticed(map, conf2, len, path);
        if (!unnoticed) {
            memcpy(map, conf1, len);
            ck_assert_int_eq(xt_verifier_refresh(v, T0, 1), 1);
        }
    }
    ck_assert_msg(unnoticed, "every rewrite through the mapping changed the file's metadata");
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 1, 0), 1);
    ck_assert_int_eq(xt_verifier_status(v), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), T0 + 1, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok1, strlen(tok1), T0 + 1, NULL), XT_BAD_OTP);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 2, 0), 0); /* unchanged: no reload */
    munmap(map, len);
    close(fd);
    xt_verifier_free(v);
}
END_TEST

/* The handle's store is the config's: a token used by the handle is used
 * for xt_verify on the same store, and across a fork both processes share
 * it (the child reopens on its own). */
START_TEST(test_replay_shared_and_fork)
{
    char dir[300], conf[600], tok[TOKEN_BUF], tok2[TOKEN_BUF];
    const char *path = unit_write_file("r.conf", "", 0600);
    time_t now = time(NULL);
    xt_verifier *v = NULL;
    xt_config *cfg;
    xt_replay *replay = NULL;
    int status;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s.d", path);
    snprintf(conf, sizeof(conf), "otp_seed = %s\ntoken_secret = %s\nreplay = %s\n", SEED, SECRET,
             dir);
    write_config(path, conf);
    mint(conf, JID, now, tok);
    mint(conf, JID, now, tok2);
    ck_assert_int_eq(xt_verifier_new(path, 0, &v), XT_OK);
    ck_assert_ptr_nonnull(xt_verifier_replay(v));
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), now, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), now, NULL), XT_REPLAYED);

    cfg = unit_config(conf);
    ck_assert_int_eq(xt_replay_open(cfg, &replay), XT_OK);
    ck_assert_int_eq(xt_verify(cfg, replay, JID, tok, strlen(tok), now), XT_REPLAYED);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* the child uses tok2 through its copy of the handle */
        int used = xt_verifier_verify(v, JID, tok2, strlen(tok2), now, NULL) == XT_OK;
        /* freed here too: under valgrind the child's leak check decides
         * its exit status */
        xt_verifier_free(v);
        xt_replay_free(replay);
        xt_config_free(cfg);
        _exit(used ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok2, strlen(tok2), now, NULL), XT_REPLAYED);
    ck_assert_int_eq(xt_verify(cfg, replay, JID, tok2, strlen(tok2), now), XT_REPLAYED);

    xt_replay_free(replay);
    xt_config_free(cfg);
    xt_verifier_free(v);
}
END_TEST

START_TEST(test_no_replay_flag)
{
    char tok[TOKEN_BUF];
    xt_verifier *v = verifier_of("otp_seed = " SEED "\ntoken_secret = " SECRET "\n");

    mint("otp_seed = " SEED "\ntoken_secret = " SECRET "\n", JID, T0, tok);
    ck_assert_ptr_null(xt_verifier_replay(v));
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_verify(v, JID, tok, strlen(tok), T0, NULL), XT_OK);
    ck_assert_int_eq(xt_verifier_refresh(v, T0 + 9, 1), 0); /* handed a config: never reloads */
    xt_verifier_free(v);
    xt_verifier_free(NULL);
}
END_TEST

Suite *verifier_suite(void)
{
    Suite *s = suite_create("verifier");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_same_answers_as_verify, 0, XT_WINDOW_MAX + 1);
    tcase_add_test(tc, test_classify_far_out);
    tcase_add_test(tc, test_refusal_cost);
    tcase_add_test(tc, test_second_seed_and_domains);
    tcase_add_test(tc, test_reload_on_change);
    tcase_add_test(tc, test_retry_after_passing_failure);
    tcase_add_test(tc, test_same_size_rewrite_reloads);
    tcase_add_test(tc, test_replay_shared_and_fork);
    tcase_add_test(tc, test_no_replay_flag);
    suite_add_tcase(s, tc);
    return s;
}
