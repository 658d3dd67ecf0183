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
#include <unistd.h>

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

/* For every window and two intervals: tokens of steps around T0, checked
 * at every second across several step boundaries by one handle (its cache
 * moving with the clock) and by xt_verify_detail: same status, same detail. */
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
                int expect = xt_verify_detail(cfg, NULL, JID, tokens[k], strlen(tokens[k]), now, &want);
                int rc = xt_verifier_verify(v, JID, tokens[k], strlen(tokens[k]), now, &got);
                ck_assert_msg(rc == expect, "window %u interval %u now %ld token %d: %s, want %s",
                              window, interval, (long)now, k, xt_strerror(rc), xt_strerror(expect));
                ck_assert(got.age == want.age && got.lifetime == want.lifetime);
            }
        xt_verifier_free(v);
        xt_config_free(cfg);
    }
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
    tcase_add_test(tc, test_second_seed_and_domains);
    tcase_add_test(tc, test_reload_on_change);
    tcase_add_test(tc, test_retry_after_passing_failure);
    tcase_add_test(tc, test_same_size_rewrite_reloads);
    tcase_add_test(tc, test_replay_shared_and_fork);
    tcase_add_test(tc, test_no_replay_flag);
    suite_add_tcase(s, tc);
    return s;
}
