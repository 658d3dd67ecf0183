/* Replay store tests (shared/replay.c): single use, expiry, bounds, store
 * full, corrupt and unsafe files, and several processes sharing one store.
 * Some tests need root (chown, setuid): they are skipped otherwise. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testkeys.h"
#include "xtoken.h"

#define STORE_BYTES (4096 + 65536 * 16 * 16) /* header + buckets x slots x 16 bytes */
#define LOCK_OFFSET 64                      /* the store's pthread mutex in the header page */
#define FUTEX_OWNER_DIED_BIT 0x40000000     /* set by the kernel in a dead holder's lock word */
#define NOBODY      65534
#define T0          ((time_t)1700000000)

static char base_dir[64];     /* per-run temp dir, removed at the end */
static unsigned test_counter; /* fresh directory names within a test process */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void base_setup(void)
{
    strcpy(base_dir, "/tmp/xt-replay-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base_dir));
    /* traversable, so a test process running as nobody can reach its store */
    ck_assert_int_eq(chmod(base_dir, 0711), 0);
}

static void base_teardown(void)
{
    nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new, not yet existing store directory path under the base dir. */
static void fresh_dir(char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/s%d-%u", base_dir, (int)getpid(), test_counter++);
}

static void store_path(const char *dir, uid_t uid, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%u.store", dir, (unsigned)uid);
}

/* A key that lands in buckets b0 and b1 (the store takes them from the
 * first two 64-bit words); n makes it distinct. */
static void bucket_key(unsigned char key[XT_REPLAY_KEY_LEN], uint64_t b0, uint64_t b1, uint64_t n)
{
    memset(key, 0, XT_REPLAY_KEY_LEN);
    memcpy(key, &b0, 8);
    memcpy(key + 8, &b1, 8);
    memcpy(key + 16, &n, 8);
}

static time_t fixed_clock(void *arg)
{
    return *(const time_t *)arg;
}

/* One use of handle r with the store's clock reading `now`. */
static int use_at(xt_replay *r, const unsigned char *key, time_t expires, time_t now)
{
    int rc;

    xt_replay_set_clock(r, fixed_clock, &now);
    rc = xt_replay_use(r, key, expires);
    xt_replay_set_clock(r, NULL, NULL);
    return rc;
}

/* One use through a fresh handle, as the PAM module does per login. */
static int use_once(const char *dir, const unsigned char *key, time_t expires, time_t now)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = use_at(r, key, expires, now);
    xt_replay_free(r);
    return rc;
}

static int use_once_err(const char *dir, const unsigned char *key, char *err, size_t errlen)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = use_at(r, key, T0 + 90, T0);
    snprintf(err, errlen, "%s", xt_replay_error(r));
    xt_replay_free(r);
    return rc;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* ---- single process --------------------------------------------------- */

START_TEST(test_first_use_then_replayed)
{
    char dir[128];
    unsigned char a[XT_REPLAY_KEY_LEN], b[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    make_key(a, 1, 1);
    make_key(b, 1, 2);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    ck_assert_str_eq(xt_replay_error(r), "");
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0), XT_REPLAYED);
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0 + 89), XT_REPLAYED);
    ck_assert_int_eq(use_at(r, b, T0 + 90, T0), XT_OK);
    /* another handle (another process's view) sees the same entries */
    ck_assert_int_eq(use_once(dir, a, T0 + 90, T0 + 1), XT_REPLAYED);
    ck_assert_int_eq(use_once(dir, b, T0 + 90, T0 + 1), XT_REPLAYED);
    /* once expired the entry is reclaimed (a real token is refused as
     * expired by then; here the store alone is tested) */
    ck_assert_int_eq(use_at(r, a, T0 + 200, T0 + 90), XT_OK);
    ck_assert_int_eq(use_at(r, a, T0 + 200, T0 + 91), XT_REPLAYED);
    /* an already expired entry is never recorded */
    ck_assert_int_eq(use_at(r, b, T0 + 300, T0 + 300), XT_EXPIRED);
    xt_replay_free(r);
    xt_replay_free(NULL);
}
END_TEST

/* Made 0700, or 0755 by root (the other service users pass through root's
 * DIR to their own directories in it), less the umask. */
START_TEST(test_missing_dir_created)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;
    mode_t mask = umask(0);

    umask(mask);
    fresh_dir(dir, sizeof(dir));
    make_key(k, 2, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, (geteuid() == 0 ? 0755 : 0700) & ~mask);
    ck_assert_int_eq(st.st_uid, geteuid());
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
}
END_TEST

START_TEST(test_bounded_100000_keys)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;
    xt_replay *r = NULL;
    const int n = 100000;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    /* 100,000 tokens all valid at once: 76% of the capacity */
    for (int i = 0; i < n; i++) {
        make_key(k, 3, (uint64_t)i);
        ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    }
    for (int i = 0; i < n; i += 7) {
        make_key(k, 3, (uint64_t)i);
        ck_assert_int_eq(use_at(r, k, T0 + 90, T0 + 1), XT_REPLAYED);
    }
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
    /* a later wave of 100,000 with 1,000 logins a second: older entries
     * are reclaimed, the file keeps its size */
    for (int i = 0; i < n; i++) {
        time_t now = T0 + 100 + i / 1000;

        make_key(k, 4, (uint64_t)i);
        ck_assert_int_eq(use_at(r, k, now + 90, now), XT_OK);
    }
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
    ck_assert_int_le(st.st_blocks * 512, STORE_BYTES + 65536);
    /* the first wave expired and was reclaimed, the second is still live */
    make_key(k, 4, (uint64_t)n - 1);
    ck_assert_int_eq(use_at(r, k, T0 + 300, T0 + 199), XT_REPLAYED);
    xt_replay_free(r);
}
END_TEST

START_TEST(test_store_full)
{
    char dir[128];
    unsigned char k[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    /* 32 keys that can only live in buckets 7 and 9 fill both */
    for (uint64_t i = 0; i < 32; i++) {
        bucket_key(k, 7, 9, i);
        ck_assert_int_eq(use_at(r, k, T0 + 60 + (time_t)i, T0), XT_OK);
    }
    bucket_key(k, 7, 9, 32);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE_FULL);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "full"));
    /* the same key in the other order of buckets is just as stuck */
    bucket_key(k, 9, 7, 32);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE_FULL);
    /* no valid entry was evicted */
    for (uint64_t i = 0; i < 32; i++) {
        bucket_key(k, 7, 9, i);
        ck_assert_int_eq(use_at(r, k, T0 + 90, T0 + 1), XT_REPLAYED);
    }
    /* other buckets are unaffected */
    bucket_key(k, 8, 10, 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    /* the first entry expires at T0 + 60: its slot is reused */
    bucket_key(k, 7, 9, 32);
    ck_assert_int_eq(use_at(r, k, T0 + 150, T0 + 60), XT_OK);
    ck_assert_str_eq(xt_replay_error(r), "");
    bucket_key(k, 7, 9, 33);
    ck_assert_int_eq(use_at(r, k, T0 + 150, T0 + 60), XT_STORE_FULL);
    xt_replay_free(r);
}
END_TEST

/* Make a store, damage it with `damage`, check a fresh handle refuses it
 * with XT_STORE and a message containing `why`. */
static void check_corrupt(void (*damage)(const char *path), const char *why)
{
    char dir[128], path[160], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 5, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    damage(path);
    make_key(k, 5, 2);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, why) != NULL, "error '%s' lacks '%s'", err, why);
    ck_assert_msg(strstr(err, path) != NULL, "error '%s' lacks the path", err);
    /* still refused the second time: nothing "repaired" it */
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    /* removing the file is the documented way out */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
}

static void truncate_half(const char *path)
{
    ck_assert_int_eq(truncate(path, STORE_BYTES / 2), 0);
}

static void truncate_small(const char *path)
{
    ck_assert_int_eq(truncate(path, 100), 0);
}

static void zero_all(const char *path)
{
    char *zeros = calloc(1, STORE_BYTES);

    ck_assert_ptr_nonnull(zeros);
    write_file(path, zeros, STORE_BYTES);
    free(zeros);
}

static void garbage_all(const char *path)
{
    unsigned char *junk = malloc(STORE_BYTES);

    ck_assert_ptr_nonnull(junk);
    for (size_t i = 0; i < STORE_BYTES; i += XT_REPLAY_KEY_LEN)
        make_key(junk + i, 6, i);
    write_file(path, junk, STORE_BYTES);
    free(junk);
}

static void garbage_small(const char *path)
{
    write_file(path, "hello, I am not a store\n", 24);
}

static void flip_geometry(const char *path)
{
    int fd = open(path, O_RDWR);
    unsigned char b;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, 24), 1); /* n_buckets */
    b ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &b, 1, 24), 1);
    close(fd);
}

START_TEST(test_corrupt_truncated)
{
    check_corrupt(truncate_half, "truncated");
    check_corrupt(truncate_small, "truncated");
}
END_TEST

START_TEST(test_corrupt_zeroed)
{
    check_corrupt(zero_all, "all zeros");
}
END_TEST

START_TEST(test_corrupt_garbage)
{
    check_corrupt(garbage_all, "bad magic");
    check_corrupt(garbage_small, "truncated");
    check_corrupt(flip_geometry, "corrupt header");
}
END_TEST

/* A store damaged while a long-lived handle has it open is refused too. */
START_TEST(test_corrupt_while_open)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    char zeros[64] = {0};
    xt_replay *r = NULL;
    int fd;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    make_key(k, 7, 1);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 7, 2);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK); /* second use: mapped */
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, zeros, sizeof(zeros), 0), (ssize_t)sizeof(zeros));
    close(fd);
    /* overwritten in place: noticed on the very next use */
    make_key(k, 7, 3);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "all zeros"));
    /* truncated under an open handle: refused (the next second), no SIGBUS */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 7, 4);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(truncate(path, 8192), 0);
    make_key(k, 7, 5);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0 + 1), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "truncated"));
    xt_replay_free(r);
}
END_TEST

/* Only a complete store ever has the store's name (it is built under a
 * temporary name), so an empty or half-made file there was truncated or
 * damaged: refused, never taken for a new store, which would forget every
 * used token (`: > /run/pam_xtoken/<uid>.store`). */
START_TEST(test_truncated_store_refused)
{
    char dir[128], path[160], page[4096], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct dirent *entry;
    DIR *listing;
    int fd, entries = 0;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 8, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    /* creation leaves nothing but the store behind */
    listing = opendir(dir);
    ck_assert_ptr_nonnull(listing);
    while ((entry = readdir(listing)) != NULL)
        entries += entry->d_name[0] != '.';
    closedir(listing);
    ck_assert_int_eq(entries, 1);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
    close(fd);

    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, "file is 0 bytes (truncated") != NULL, "%s", err);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_STORE); /* still: never re-created */
    /* a header page alone, marked INITIALIZING as stores of version 2 were */
    memcpy(page + 48, "TINI", 4);
    write_file(path, page, sizeof(page));
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, "corrupt header") != NULL, "%s", err);
    /* removing the file is the documented way out */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
}
END_TEST

/* A long-lived handle whose mapped store is truncated in the same second
 * (before its once-a-second look at the path) fails closed instead of
 * dying of SIGBUS; so does one truncated while it holds the lock. */
struct truncating_clock {
    const char *path;
    time_t now;
    int calls, truncate_at;
};

static time_t truncating_clock(void *arg)
{
    struct truncating_clock *c = arg;

    if (++c->calls == c->truncate_at)
        ck_assert_int_eq(truncate(c->path, 0), 0);
    return c->now;
}

START_TEST(test_truncated_under_mapping)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct truncating_clock clock = {0};
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    make_key(k, 9, 1);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 9, 2);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK); /* second use: mapped */
    ck_assert_int_eq(truncate(path, 8192), 0);
    make_key(k, 9, 3);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE); /* same second: no lstat */
    ck_assert_msg(strstr(xt_replay_error(r), "shrank") != NULL, "%s", xt_replay_error(r));
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE); /* reopened: 8192 bytes */
    /* truncated to nothing: the fault comes before the lock is taken */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 9, 6);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK); /* mapped */
    ck_assert_int_eq(truncate(path, 0), 0);
    make_key(k, 9, 7);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE);
    ck_assert_msg(strstr(xt_replay_error(r), "shrank") != NULL, "%s", xt_replay_error(r));

    /* again, truncated while the handle holds the lock: the clock the store
     * reads under its lock (its 2nd call in a use) truncates the file */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 9, 4);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK); /* mapped again */
    clock.path = path;
    clock.now = T0;
    clock.truncate_at = 2;
    xt_replay_set_clock(r, truncating_clock, &clock);
    make_key(k, 9, 5);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90), XT_STORE);
    ck_assert_int_eq(clock.calls, 2);
    /* the handle recovers once the store is usable again */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90), XT_OK);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90), XT_REPLAYED);
    xt_replay_free(r);
}
END_TEST

/* A clock that reads the next of its values on each call (the store
 * reads its clock once before its lock and once under it). */
struct clock_seq {
    const time_t *values;
    int n, calls;
};

static time_t seq_clock(void *arg)
{
    struct clock_seq *c = arg;
    time_t t = c->values[c->calls < c->n ? c->calls : c->n - 1];

    c->calls++;
    return t;
}

/* A clock read before the lock must not decide: X expires at E; at E a
 * colliding key Y reuses X's slot; a replay of X whose first clock read
 * was E - 1 (preempted, or waiting for the lock, past E) is refused as
 * expired, not recorded again. */
START_TEST(test_clock_read_under_lock)
{
    const time_t e = T0 + 100, late[] = {e - 1, e};
    struct clock_seq clock = {late, 2, 0};
    unsigned char x[XT_REPLAY_KEY_LEN], y[XT_REPLAY_KEY_LEN];
    char dir[128];
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    bucket_key(x, 7, 9, 1);
    bucket_key(y, 7, 9, 2);
    ck_assert_int_eq(use_at(r, x, e, T0), XT_OK);
    ck_assert_int_eq(use_at(r, x, e, e - 1), XT_REPLAYED);
    ck_assert_int_eq(use_at(r, y, e + 300, e), XT_OK); /* takes X's freed slot */
    xt_replay_set_clock(r, seq_clock, &clock);
    ck_assert_int_eq(xt_replay_use(r, x, e), XT_EXPIRED);
    ck_assert_int_ge(clock.calls, 2); /* read again under the lock */
    xt_replay_free(r);
}
END_TEST

/* The store's clock never goes back: after the system clock jumped ahead
 * (freeing X's slot for Y) and back, X is not accepted again while it is
 * within its life by the stepped-back clock; the store says why. */
START_TEST(test_clock_stepped_back)
{
    unsigned char x[XT_REPLAY_KEY_LEN], y[XT_REPLAY_KEY_LEN], z[XT_REPLAY_KEY_LEN];
    char dir[128];
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    bucket_key(x, 7, 9, 1);
    bucket_key(y, 7, 9, 2);
    bucket_key(z, 8, 10, 3);
    ck_assert_int_eq(use_at(r, x, T0 + 330, T0), XT_OK);
    ck_assert_int_eq(use_at(r, y, T0 + 1330, T0 + 1000), XT_OK); /* clock ahead: X's slot reused */
    ck_assert_int_eq(use_at(r, x, T0 + 330, T0 + 10), XT_STORE);  /* and back */
    ck_assert_msg(strstr(xt_replay_error(r), "1000") == NULL &&
                      strstr(xt_replay_error(r), "990 s ahead of the system clock") != NULL,
                  "%s", xt_replay_error(r));
    ck_assert_int_eq(use_once(dir, x, T0 + 330, T0 + 10), XT_STORE); /* any handle */
    /* tokens that outlive the store's clock are still checked as usual */
    ck_assert_int_eq(use_at(r, z, T0 + 1100, T0 + 10), XT_OK);
    ck_assert_int_eq(use_at(r, z, T0 + 1100, T0 + 20), XT_REPLAYED);
    /* once the clock has caught up, X is simply expired */
    ck_assert_int_eq(use_at(r, x, T0 + 330, T0 + 1001), XT_EXPIRED);
    xt_replay_free(r);
}
END_TEST

static int mkdir_mode(const char *dir, mode_t mode)
{
    if (mkdir(dir, 0700) != 0)
        return -1;
    return chmod(dir, mode);
}

START_TEST(test_unsafe_dir_world_writable)
{
    char dir[128], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];

    make_key(k, 9, 1);
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0777), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "writable by group or other (mode 0777)"));
    ck_assert_ptr_nonnull(strstr(err, "fix: chmod 0755"));
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0770), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    /* nor with the sticky bit (0.2.0's packaged 1733 layout): any local
     * user could take a store's name first, or fill the file system */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 01733), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "writable by group or other (mode 1733)"));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
    /* relative paths depend on the cwd: refused */
    ck_assert_int_eq(use_once_err("relative/dir", k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "absolute"));
}
END_TEST

START_TEST(test_unsafe_dir_other_owner)
{
    char dir[128], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];

    if (geteuid() != 0)
        return; /* needs chown: runs as root in CI */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0700), 0);
    ck_assert_int_eq(chown(dir, NOBODY, NOBODY), 0);
    make_key(k, 10, 1);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "owned by uid 65534"));
}
END_TEST

START_TEST(test_unsafe_dir_symlink)
{
    char dir[128], link[160], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0700), 0);
    snprintf(link, sizeof(link), "%s-link", dir);
    ck_assert_int_eq(symlink(dir, link), 0);
    make_key(k, 11, 1);
    ck_assert_int_eq(use_once_err(link, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "symlink"));
}
END_TEST

START_TEST(test_unsafe_store_file)
{
    char dir[128], path[160], target[160], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;

    make_key(k, 12, 1);
    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);

    /* a symlink in place of the store (to a valid store, even) */
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    ck_assert_int_eq(rename(path, target), 0);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "symlink"));
    ck_assert_int_eq(lstat(target, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES); /* target untouched */
    ck_assert_int_eq(unlink(path), 0);

    /* a hard link: another name for the file makes it untrustworthy */
    ck_assert_int_eq(link(target, path), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "hard link"));
    ck_assert_int_eq(unlink(target), 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);

    /* readable by others */
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "mode 0644"));
    ck_assert_int_eq(chmod(path, 0600), 0);

    /* owned by another user */
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(path, NOBODY, NOBODY), 0);
        ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
        ck_assert_ptr_nonnull(strstr(err, "owned by uid 65534"));
        ck_assert_int_eq(chown(path, 0, 0), 0);
    }
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);

    /* not a regular file: a directory, a FIFO (must not hang) */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

/* A long-lived handle follows the store when it is removed or replaced. */
START_TEST(test_replaced_store_followed)
{
    char dir[128], path[160], dir2[128], path2[160];
    unsigned char a[XT_REPLAY_KEY_LEN], b[XT_REPLAY_KEY_LEN], c[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(a, 13, 1);
    make_key(b, 13, 2);
    make_key(c, 13, 3);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0), XT_REPLAYED); /* now mapped */
    ck_assert_int_eq(unlink(path), 0);
    /* the path is looked at once per second of `now`: the next second the
     * long-lived handle records b in the new file, where others look */
    ck_assert_int_eq(use_at(r, b, T0 + 90, T0 + 1), XT_OK);
    ck_assert_int_eq(use_once(dir, b, T0 + 90, T0 + 1), XT_REPLAYED);
    ck_assert_int_eq(use_once(dir, a, T0 + 90, T0 + 1), XT_OK); /* lost with the file */
    ck_assert_int_eq(use_at(r, a, T0 + 90, T0 + 1), XT_REPLAYED);
    /* replaced by another store renamed over it: c is only in that one */
    fresh_dir(dir2, sizeof(dir2));
    store_path(dir2, geteuid(), path2, sizeof(path2));
    ck_assert_int_eq(use_once(dir2, c, T0 + 90, T0 + 2), XT_OK);
    ck_assert_int_eq(rename(path2, path), 0);
    ck_assert_int_eq(use_at(r, c, T0 + 90, T0 + 3), XT_REPLAYED);
    ck_assert_int_eq(use_at(r, b, T0 + 90, T0 + 3), XT_OK);
    xt_replay_free(r);
}
END_TEST

/* ---- several processes ------------------------------------------------- */

/* Children wait on start[0] until the parent closes start[1]. */
static void wait_start(int start[2])
{
    char c;

    close(start[1]);
    while (read(start[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(start[0]);
}

/* Wait for n children; fill counts[exit status] (statuses 0..7), fail on
 * any crash. */
static void reap(pid_t *pids, int n, int counts[8])
{
    memset(counts, 0, 8 * sizeof(int));
    for (int i = 0; i < n; i++) {
        int status;

        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status), "child %d died with signal %d", i,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        ck_assert_int_lt(WEXITSTATUS(status), 8);
        counts[WEXITSTATUS(status)]++;
    }
}

static int status_code(int rc)
{
    return rc == XT_OK ? 0 : rc == XT_REPLAYED ? 1 : 2;
}

START_TEST(test_race_32_same_key)
{
    char dir[128];
    unsigned char k[XT_REPLAY_KEY_LEN];
    pid_t pids[32];
    int counts[8], start[2];
    xt_replay *inherited = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_replay_new(dir, &inherited), XT_OK);
    make_key(k, 14, 0);
    ck_assert_int_eq(use_at(inherited, k, T0 + 90, T0), XT_OK);
    for (int round = 1; round <= 20; round++) {
        make_key(k, 14, (uint64_t)round);
        ck_assert_int_eq(pipe(start), 0);
        for (int i = 0; i < 32; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0) {
                /* half use the handle opened before fork, half their own */
                int rc;

                wait_start(start);
                if (i % 2 == 0)
                    rc = use_at(inherited, k, T0 + 90, T0);
                else
                    rc = use_once(dir, k, T0 + 90, T0);
                _exit(status_code(rc));
            }
        }
        close(start[0]);
        close(start[1]);
        reap(pids, 32, counts);
        ck_assert_int_eq(counts[0], 1);
        ck_assert_int_eq(counts[1], 31);
        ck_assert_int_eq(use_at(inherited, k, T0 + 90, T0), XT_REPLAYED);
    }
    xt_replay_free(inherited);
}
END_TEST

/* Child: use keys (stream s, 0..n-1); exit with the number of answers
 * other than `want` (capped). */
static void use_keys_child(const char *dir, uint64_t s, int n, int want, int start[2])
{
    unsigned char k[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;
    int wrong = 0;

    wait_start(start);
    if (xt_replay_new(dir, &r) != XT_OK)
        _exit(7);
    for (int i = 0; i < n; i++) {
        make_key(k, s, (uint64_t)i);
        if (use_at(r, k, T0 + 90, T0) != want)
            wrong++;
    }
    xt_replay_free(r);
    _exit(wrong > 6 ? 6 : wrong);
}

START_TEST(test_8_procs_2000_keys)
{
    char dir[128];
    pid_t pids[8];
    int counts[8], start[2];

    fresh_dir(dir, sizeof(dir));
    for (int phase = 0; phase < 2; phase++) {
        int want = phase == 0 ? XT_OK : XT_REPLAYED;

        ck_assert_int_eq(pipe(start), 0);
        for (int i = 0; i < 8; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0)
                use_keys_child(dir, 100 + (uint64_t)i, 2000, want, start);
        }
        close(start[0]);
        close(start[1]);
        reap(pids, 8, counts);
        ck_assert_msg(counts[0] == 8, "phase %d: %d of 8 children got every answer right", phase,
                      counts[0]);
    }
}
END_TEST

/* Writers killed at random moments, over and over, all trying the same
 * keys: afterwards the store is usable and no key was accepted twice. */
START_TEST(test_kill_9_writers)
{
    enum { NKEYS = 30000, ROUNDS = 100 };
    char dir[128];
    unsigned char k[XT_REPLAY_KEY_LEN];
    unsigned *accepted;
    unsigned total = 0;

    fresh_dir(dir, sizeof(dir));
    accepted = mmap(NULL, NKEYS * sizeof(unsigned), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(accepted, MAP_FAILED);
    srand(12345);
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid[2];
        struct timespec delay = {0, 500000 + (rand() % 9500) * 1000L}; /* 0.5-10 ms */

        for (int w = 0; w < 2; w++) {
            pid[w] = fork();
            ck_assert_int_ge(pid[w], 0);
            if (pid[w] == 0) {
                xt_replay *r = NULL;

                if (xt_replay_new(dir, &r) != XT_OK)
                    _exit(7);
                /* each round starts further on, so rounds both replay
                 * earlier keys and reach new ones; a writer that reaches
                 * the end starts over (replays only) until it is killed,
                 * so every kill lands mid-run however fast the machine */
                for (;;) {
                    for (int i = (round * 200 + w) % NKEYS; i < NKEYS; i++) {
                        make_key(k, 200, (uint64_t)i);
                        if (use_at(r, k, T0 + 90, T0) == XT_OK)
                            __atomic_add_fetch(&accepted[i], 1, __ATOMIC_SEQ_CST);
                    }
                }
            }
        }
        nanosleep(&delay, NULL);
        for (int w = 0; w < 2; w++) {
            int status;

            kill(pid[w], SIGKILL);
            ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
            /* none may crash or stop on its own */
            ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                          "writer %d of round %d: status 0x%x", w, round, status);
        }
    }
    /* the store still works, and every key is accepted at most once */
    for (int i = 0; i < NKEYS; i++) {
        int rc;

        make_key(k, 200, (uint64_t)i);
        rc = use_once(dir, k, T0 + 90, T0);
        ck_assert_msg(rc == XT_OK || rc == XT_REPLAYED, "key %d: %s", i, xt_strerror(rc));
        if (rc == XT_OK)
            accepted[i]++;
        ck_assert_msg(accepted[i] <= 1, "key %d accepted %u times", i, accepted[i]);
        total += accepted[i];
    }
    /* the writers got work done between the kills */
    fprintf(stderr, "TOTAL %u\n", total);
    ck_assert_int_gt(total, 500);
    munmap(accepted, NKEYS * sizeof(unsigned));
}
END_TEST

/* Threads of one process, each with its own handle (a threaded PAM host
 * calling the module concurrently): one token, exactly one success. */
struct thread_arg {
    const char *dir;
    const unsigned char *key;
    pthread_barrier_t *barrier;
    int rc;
};

static void *thread_use(void *p)
{
    struct thread_arg *a = p;
    xt_replay *r = NULL;

    if (xt_replay_new(a->dir, &r) != XT_OK) {
        a->rc = XT_NOMEM;
        return NULL;
    }
    pthread_barrier_wait(a->barrier);
    a->rc = use_at(r, a->key, T0 + 90, T0);
    xt_replay_free(r);
    return NULL;
}

START_TEST(test_threads_own_handles)
{
    enum { NTHREADS = 8 };
    char dir[128];
    unsigned char k[XT_REPLAY_KEY_LEN];
    pthread_t th[NTHREADS];
    struct thread_arg args[NTHREADS];
    pthread_barrier_t barrier;

    fresh_dir(dir, sizeof(dir));
    for (int round = 0; round < 20; round++) {
        int ok = 0, replayed = 0;

        make_key(k, 16, (uint64_t)round);
        ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
        for (int i = 0; i < NTHREADS; i++) {
            args[i] = (struct thread_arg){dir, k, &barrier, -1};
            ck_assert_int_eq(pthread_create(&th[i], NULL, thread_use, &args[i]), 0);
        }
        for (int i = 0; i < NTHREADS; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            ok += args[i].rc == XT_OK;
            replayed += args[i].rc == XT_REPLAYED;
        }
        pthread_barrier_destroy(&barrier);
        ck_assert_int_eq(ok, 1);
        ck_assert_int_eq(replayed, NTHREADS - 1);
    }
}
END_TEST

/* In a child running as nobody: two uses of key k in dir through fresh
 * handles. Returns the first result * 16 + the second; the first use's
 * error goes to err. */
static int nobody_uses(const char *dir, const unsigned char *k, char *err, size_t errlen)
{
    int fds[2], status;
    ssize_t got;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char e[XT_ERR_MAX];
        int a, b;

        close(fds[0]);
        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(255);
        a = use_once_err(dir, k, e, sizeof(e));
        b = use_once(dir, k, T0 + 90, T0);
        if (write(fds[1], e, strlen(e)) < 0)
            _exit(255);
        _exit(a * 16 + b);
    }
    close(fds[1]);
    got = read(fds[0], err, errlen - 1);
    err[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_ne(WEXITSTATUS(status), 255);
    return WEXITSTATUS(status);
}

/* A non-root service user in the packaged layout (DIR root's, 0755): its
 * store lives in DIR/<its name>, which root makes; without it the user is
 * refused with the command that makes it; a directory of the wrong owner,
 * mode or type is refused. Root's store is DIR itself: separate stores. */
START_TEST(test_non_root_user_in_shared_dir)
{
    char dir[128], udir[160], path[192], err[XT_ERR_MAX], want[640];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;

    if (geteuid() != 0)
        return; /* needs setuid: runs as root in CI */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0755), 0);
    snprintf(udir, sizeof(udir), "%s/nobody", dir);
    make_key(k, 15, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK); /* root's DIR/0.store */

    /* no directory yet: refused, naming the fix */
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_STORE * 16 + XT_STORE);
    snprintf(want, sizeof(want), "replay store %s/65534.store: its directory is missing; as "
             "root: install -d -o nobody -m 0700 %s", udir, udir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got: %s", err);
    snprintf(want, sizeof(want), ", and at boot: tmpfiles.d line 'd %s 0700 nobody - -'", udir);
    ck_assert_msg(strstr(err, want) != NULL, "got: %s", err);

    /* made by root but not the user's: refused */
    ck_assert_int_eq(mkdir_mode(udir, 0700), 0);
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_STORE * 16 + XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "is owned by uid 0, not nobody"));
    /* the user's, but writable by others: refused */
    ck_assert_int_eq(chown(udir, NOBODY, NOBODY), 0);
    ck_assert_int_eq(chmod(udir, 01777), 0);
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_STORE * 16 + XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "writable by group or other (mode 1777)"));
    /* a symlink to a directory of the user's: refused */
    ck_assert_int_eq(chmod(udir, 0700), 0);
    snprintf(path, sizeof(path), "%s/elsewhere", dir);
    ck_assert_int_eq(rename(udir, path), 0);
    ck_assert_int_eq(symlink(path, udir), 0);
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_STORE * 16 + XT_STORE);
    ck_assert_ptr_nonnull(strstr(err, "symlink or not a directory"));
    ck_assert_int_eq(unlink(udir), 0);
    ck_assert_int_eq(rename(path, udir), 0);

    /* as packaged: the same token once for nobody, in its own store */
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_OK * 16 + XT_REPLAYED);
    store_path(udir, NOBODY, path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_int_eq(st.st_uid, NOBODY);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    store_path(dir, NOBODY, path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), -1); /* nothing of nobody's in DIR itself */
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED); /* root's store kept it */
}
END_TEST

/* A directory the service user owns (replay = a directory of its own):
 * the store is directly in it, as in 0.2.0. */
START_TEST(test_non_root_user_own_dir)
{
    char dir[128], path[160], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;

    if (geteuid() != 0)
        return; /* needs setuid: runs as root in CI */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0700), 0);
    ck_assert_int_eq(chown(dir, NOBODY, NOBODY), 0);
    make_key(k, 17, 1);
    ck_assert_int_eq(nobody_uses(dir, k, err, sizeof(err)), XT_OK * 16 + XT_REPLAYED);
    store_path(dir, NOBODY, path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_int_eq(st.st_uid, NOBODY);
}
END_TEST

/* ---- the lock ---------------------------------------------------------- */

/* The header page of the store at path, mapped shared (as the store does). */
static unsigned char *map_header(const char *path)
{
    int fd = open(path, O_RDWR);
    void *map;

    ck_assert_int_ge(fd, 0);
    map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    ck_assert_ptr_ne(map, MAP_FAILED);
    return map;
}

static pthread_mutex_t *header_lock(unsigned char *header)
{
    return (pthread_mutex_t *)(void *)(header + LOCK_OFFSET);
}

static double elapsed_s(const struct timespec *since)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - since->tv_sec) + (ts.tv_nsec - since->tv_nsec) / 1e9;
}

/* A process holding the store's lock: while it lives (here: stopped in
 * pause) others fail closed after the timeout instead of hanging; once it
 * is killed, the next user recovers the lock at once, and the insert it
 * left half-done (key written, `expires` not) reads as no entry. */
START_TEST(test_lock_holder_killed)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN], *header;
    struct timespec t0;
    xt_replay *r = NULL;
    int ready[2], status;
    pid_t pid;
    char c;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 17, 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK); /* a long-lived handle too */
    make_key(k, 17, 1);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_REPLAYED);
    for (int round = 0; round < 2; round++) {
        /* a key of its own buckets (7 and 9, then 11 and 13): slot 0 is free */
        const uint64_t bucket = 7 + 4 * (uint64_t)round;

        bucket_key(k, bucket, bucket + 2, 1);
        ck_assert_int_eq(pipe(ready), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            unsigned char *h = map_header(path);
            int fd = open(path, O_RDWR);

            if (pthread_mutex_lock(header_lock(h)) != 0 && errno != EOWNERDEAD)
                _exit(7);
            /* the first half of an insert into the bucket's free slot 0 */
            if (fd < 0 || pwrite(fd, k, 24, (off_t)(4096 + bucket * 1024)) != 24)
                _exit(7);
            if (write(ready[1], "x", 1) != 1)
                _exit(7);
            for (;;)
                pause();
        }
        close(ready[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        /* held by a live process: refused after the timeout, not hanging
         * (a new handle, then the long-lived one) */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (round == 0) {
            char err[XT_ERR_MAX];

            ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
            ck_assert_ptr_nonnull(strstr(err, "lock held"));
        } else {
            ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE);
            ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "lock held"));
        }
        ck_assert_double_ge(elapsed_s(&t0), 1.5);
        ck_assert_double_le(elapsed_s(&t0), 10);
        /* killed holding it: the kernel marks the lock, the next user takes it */
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        header = map_header(path);
        ck_assert_int_ne(header_lock(header)->__data.__lock & FUTEX_OWNER_DIED_BIT, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(round == 0 ? use_once(dir, k, T0 + 90, T0)
                                    : use_at(r, k, T0 + 90, T0),
                         XT_OK);
        ck_assert_double_lt(elapsed_s(&t0), 1);
        ck_assert_int_eq(header_lock(header)->__data.__lock, 0); /* consistent, free */
        munmap(header, 4096);
        ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
        ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_REPLAYED);
    }
    make_key(k, 17, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
    xt_replay_free(r);
}
END_TEST

/* Writers with long-lived handles killed over and over, mostly while they
 * hold the lock: every kill that left it held is recovered, nothing hangs,
 * and no key is accepted twice. */
START_TEST(test_kill_9_lock_holders)
{
    enum { NKEYS = 2000, ROUNDS = 150 };
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN], *header;
    unsigned *accepted;
    unsigned died_holding = 0, total = 0;
    struct timespec t0;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 18, 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    header = map_header(path);
    accepted = mmap(NULL, NKEYS * sizeof(unsigned), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(accepted, MAP_FAILED);
    srand(4242);
    for (int round = 0; round < ROUNDS; round++) {
        struct timespec delay = {0, 200000 + (rand() % 2800) * 1000L}; /* 0.2-3 ms */
        pid_t pid[2];

        for (int w = 0; w < 2; w++) {
            pid[w] = fork();
            ck_assert_int_ge(pid[w], 0);
            if (pid[w] == 0) {
                xt_replay *r = NULL;

                if (xt_replay_new(dir, &r) != XT_OK)
                    _exit(7);
                for (unsigned i = (unsigned)w;; i = (i + 1) % NKEYS) {
                    int rc;

                    make_key(k, 18, 1 + i);
                    rc = use_at(r, k, T0 + 90, T0);
                    if (rc == XT_OK)
                        __atomic_add_fetch(&accepted[i], 1, __ATOMIC_SEQ_CST);
                    else if (rc != XT_REPLAYED)
                        _exit(6);
                }
            }
        }
        nanosleep(&delay, NULL);
        for (int w = 0; w < 2; w++) {
            int status;

            kill(pid[w], SIGKILL);
            ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
            ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                          "writer exited with %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        if (__atomic_load_n(&header_lock(header)->__data.__lock, __ATOMIC_SEQ_CST) &
            FUTEX_OWNER_DIED_BIT)
            died_holding++;
    }
    /* the kills did hit writers inside the lock */
    ck_assert_uint_gt(died_holding, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NKEYS; i++) {
        int rc;

        make_key(k, 18, 1 + (uint64_t)i);
        rc = use_once(dir, k, T0 + 90, T0);
        ck_assert_msg(rc == XT_OK || rc == XT_REPLAYED, "key %d: %s", i, xt_strerror(rc));
        if (rc == XT_OK)
            accepted[i]++;
        ck_assert_msg(accepted[i] <= 1, "key %d accepted %u times", i, accepted[i]);
        total += accepted[i];
    }
    /* only a writer killed between recording a key and hearing XT_OK loses
     * it (refused from then on): at most one key per kill */
    ck_assert_uint_ge(total, NKEYS - 2 * ROUNDS);
    ck_assert_double_lt(elapsed_s(&t0), 10);
    fprintf(stderr, "kill -9 lock holders: %u of %d kills left the lock held, %u keys lost\n",
            died_holding, 2 * ROUNDS, NKEYS - total);
    munmap(accepted, NKEYS * sizeof(unsigned));
    munmap(header, 4096);
}
END_TEST

/* A garbage lock word fails closed (XT_STORE) within the timeout, whether
 * its type word is wrong (refused at once) or it only looks held by a
 * thread that does not exist (refused after the timeout), for new and
 * long-lived handles; removing the file is the way out. */
START_TEST(test_garbage_lock_word)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN], *header, saved[sizeof(pthread_mutex_t)];
    struct timespec t0;
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    make_key(k, 19, 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_REPLAYED); /* mapped */
    header = map_header(path);
    memcpy(saved, header + LOCK_OFFSET, sizeof(saved));

    /* random bytes over the whole mutex */
    for (size_t i = 0; i < sizeof(saved); i++)
        header[LOCK_OFFSET + i] = (unsigned char)(0x5a + 37 * i);
    make_key(k, 19, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "corrupt lock"));
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_STORE);
    ck_assert_double_lt(elapsed_s(&t0), 1);

    /* a well-formed mutex "held" by a thread id nobody has */
    memcpy(header + LOCK_OFFSET, saved, sizeof(saved));
    header_lock(header)->__data.__lock = 0x3ffffff0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "lock held"));
    ck_assert_double_ge(elapsed_s(&t0), 1.5);
    ck_assert_double_le(elapsed_s(&t0), 10);
    munmap(header, 4096);

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0 + 1), XT_OK);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0 + 1), XT_REPLAYED);
    xt_replay_free(r);
}
END_TEST

/* A store of the previous version (1: flock, no mutex) is refused. */
START_TEST(test_old_version_refused)
{
    char dir[128], path[160], err[XT_ERR_MAX];
    unsigned char k[XT_REPLAY_KEY_LEN], *header;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 20, 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    header = map_header(path);
    header[8] = 1; /* version, little-endian uint32 after the magic */
    munmap(header, 4096);
    make_key(k, 20, 1);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, "unsupported store version 1") != NULL, "error '%s'", err);
}
END_TEST

/* seccomp filter: kill the process on system call `deny`, or (deny < 0) on
 * any system call but exit/exit_group (and sigaltstack, which ASan's
 * instrumentation calls by itself). */
static int forbid_syscalls(long deny)
{
    struct sock_filter one[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)deny, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_filter all[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sigaltstack, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {deny < 0 ? 6 : 4, deny < 0 ? all : one};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Child of test_fork_and_no_syscalls: exit 0 if every answer is right. */
static void fork_child(xt_replay *r, const char *path)
{
    unsigned char k[XT_REPLAY_KEY_LEN];

    if (forbid_syscalls(SYS_getpid) != 0)
        _exit(5);
    /* the store is replaced but `now` stays in the same second (no lstat):
     * only a reopen after the fork finds the new file */
    if (unlink(path) != 0)
        _exit(7);
    make_key(k, 21, 0); /* recorded by the parent, in the old file */
    if (use_at(r, k, T0 + 90, T0) != XT_OK)
        _exit(1);
    make_key(k, 21, 1);
    if (use_at(r, k, T0 + 90, T0) != XT_OK) /* maps the whole store */
        _exit(2);
    /* from now on the common case makes no system call at all */
    if (forbid_syscalls(-1) != 0)
        _exit(5);
    for (uint64_t pass = 0; pass < 2; pass++) {
        for (uint64_t i = 2; i < 1000; i++) {
            make_key(k, 21, i);
            if (use_at(r, k, T0 + 90, T0) != (pass == 0 ? XT_OK : XT_REPLAYED))
                _exit(3);
        }
    }
    _exit(0);
}

/* A long-lived handle carried over fork: the child reopens the store
 * without calling getpid, and its checks make no system call afterwards. */
START_TEST(test_fork_and_no_syscalls)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;
    int status;
    pid_t pid;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    make_key(k, 21, 0);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_REPLAYED); /* long-lived now */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        fork_child(r, path);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
                  WIFSIGNALED(status) ? "killed by signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    /* the parent's handle is unaffected; in its new file too (next second) */
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0), XT_REPLAYED);
    make_key(k, 21, 500);
    ck_assert_int_eq(use_at(r, k, T0 + 90, T0 + 1), XT_REPLAYED);
    xt_replay_free(r);
}
END_TEST

/* ---- through xt_verify, with real tokens ------------------------------- */

#define JID "alice@example.org"
#define KEYS                                                                                       \
    "otp_seed = K5UOYGC3OJ2WG4LX\ntoken_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\nwindow = 1\n"

static xt_config *test_config(void)
{
    xt_config *cfg = NULL;
    char err[XT_ERR_MAX] = "";

    ck_assert_msg(xt_config_parse(KEYS, strlen(KEYS), "test.conf", &cfg, err, sizeof(err)) == XT_OK,
                  "config: %s", err);
    return cfg;
}

/* xt_verify at `now`, the store's clock reading the same. */
static int verify_at(const xt_config *cfg, xt_replay *r, const char *jid, const char *tok,
                     time_t now)
{
    int rc;

    xt_replay_set_clock(r, fixed_clock, &now);
    rc = xt_verify(cfg, r, jid, tok, strlen(tok), now);
    xt_replay_set_clock(r, NULL, NULL);
    return rc;
}

static int verify_once(const xt_config *cfg, const char *dir, const char *jid, const char *tok,
                       time_t now)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = verify_at(cfg, r, jid, tok, now);
    xt_replay_free(r);
    return rc;
}

/* Verifiers that share a store but not a window: a token used through a
 * window-1 verifier is refused by a window-3 one after the first one's
 * window has passed (the entry lives until the token's step + 330 s,
 * whoever recorded it). */
START_TEST(test_verify_windows_share_store)
{
    char dir[128], tok[XT_TOKEN_MAX + 1];
    xt_config *narrow = test_config(), *wide = test_config();
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_config_set_window(wide, 3, NULL, 0), XT_OK);
    ck_assert_int_eq(xt_issue(narrow, JID, T0, tok, sizeof(tok)), XT_OK);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    ck_assert_int_eq(verify_at(narrow, r, JID, tok, T0), XT_OK);
    ck_assert_int_eq(verify_at(narrow, r, JID, tok, T0 + 61), XT_EXPIRED);
    ck_assert_int_eq(verify_once(wide, dir, JID, tok, T0 + 61), XT_REPLAYED);
    ck_assert_int_eq(verify_once(wide, dir, JID, tok, T0 + 99), XT_REPLAYED); /* its last second */
    ck_assert_int_eq(verify_once(wide, dir, JID, tok, T0 + 100), XT_EXPIRED);
    xt_replay_free(r);
    xt_config_free(narrow);
    xt_config_free(wide);
}
END_TEST

START_TEST(test_verify_real_tokens)
{
    char dir[128], tok[XT_TOKEN_MAX + 1], tok2[XT_TOKEN_MAX + 1];
    xt_config *cfg = test_config();
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_issue(cfg, JID, T0, tok, sizeof(tok)), XT_OK);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    ck_assert_int_eq(verify_at(cfg, r, JID, tok, T0), XT_OK);
    ck_assert_int_eq(verify_at(cfg, r, JID, tok, T0), XT_REPLAYED);
    /* another process's handle, and for as long as the token is valid */
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0 + 1), XT_REPLAYED);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0 + 30), XT_REPLAYED);
    /* without a store (replay = off) it is accepted again */
    ck_assert_int_eq(xt_verify(cfg, NULL, JID, tok, strlen(tok), T0), XT_OK);
    /* two tokens for the same JID in the same step (two browser tabs):
     * each works once */
    ck_assert_int_eq(xt_issue(cfg, JID, T0, tok, sizeof(tok)), XT_OK);
    ck_assert_int_eq(xt_issue(cfg, JID, T0, tok2, sizeof(tok2)), XT_OK);
    ck_assert_str_ne(tok, tok2);
    ck_assert_int_eq(verify_at(cfg, r, JID, tok, T0), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok2, T0), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0), XT_REPLAYED);
    ck_assert_int_eq(verify_at(cfg, r, JID, tok2, T0 + 1), XT_REPLAYED);
    xt_replay_free(r);
    xt_config_free(cfg);
}
END_TEST

/* Only a token that passed every other check reaches the store: refused
 * tokens neither create nor touch it. */
START_TEST(test_verify_refused_tokens_not_recorded)
{
    char dir[128], tok[XT_TOKEN_MAX + 1], bad[XT_TOKEN_MAX + 1];
    struct stat st;
    xt_config *cfg = test_config();

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_issue(cfg, JID, T0, tok, sizeof(tok)), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, "bob@example.org", tok, T0), XT_BAD_SIGNATURE);
    ck_assert_int_eq(verify_once(cfg, dir, JID, "12345678garbage", T0), XT_MALFORMED);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0 + 120), XT_EXPIRED);
    snprintf(bad, sizeof(bad), "%s", tok);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(verify_once(cfg, dir, JID, bad, T0), XT_OK);
    ck_assert_int_eq(lstat(dir, &st), -1); /* never even created */
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0), XT_REPLAYED);
    xt_config_free(cfg);
}
END_TEST

START_TEST(test_verify_race_16_same_token)
{
    char dir[128], tok[XT_TOKEN_MAX + 1];
    xt_config *cfg = test_config();
    pid_t pids[16];
    int counts[8], start[2];

    fresh_dir(dir, sizeof(dir));
    for (int round = 0; round < 5; round++) {
        ck_assert_int_eq(xt_issue(cfg, JID, T0, tok, sizeof(tok)), XT_OK);
        ck_assert_int_eq(pipe(start), 0);
        for (int i = 0; i < 16; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0) {
                wait_start(start);
                _exit(status_code(verify_once(cfg, dir, JID, tok, T0)));
            }
        }
        close(start[0]);
        close(start[1]);
        reap(pids, 16, counts);
        ck_assert_int_eq(counts[0], 1);
        ck_assert_int_eq(counts[1], 15);
    }
    xt_config_free(cfg);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *single = tcase_create("single");
    TCase *multi = tcase_create("multi");
    TCase *verify = tcase_create("verify");

    tcase_add_unchecked_fixture(single, base_setup, base_teardown);
    tcase_set_timeout(single, 60);
    tcase_add_test(single, test_first_use_then_replayed);
    tcase_add_test(single, test_missing_dir_created);
    tcase_add_test(single, test_bounded_100000_keys);
    tcase_add_test(single, test_store_full);
    tcase_add_test(single, test_corrupt_truncated);
    tcase_add_test(single, test_corrupt_zeroed);
    tcase_add_test(single, test_corrupt_garbage);
    tcase_add_test(single, test_corrupt_while_open);
    tcase_add_test(single, test_truncated_store_refused);
    tcase_add_test(single, test_truncated_under_mapping);
    tcase_add_test(single, test_clock_read_under_lock);
    tcase_add_test(single, test_clock_stepped_back);
    tcase_add_test(single, test_unsafe_dir_world_writable);
    tcase_add_test(single, test_unsafe_dir_other_owner);
    tcase_add_test(single, test_unsafe_dir_symlink);
    tcase_add_test(single, test_unsafe_store_file);
    tcase_add_test(single, test_replaced_store_followed);
    suite_add_tcase(s, single);

    tcase_add_unchecked_fixture(multi, base_setup, base_teardown);
    tcase_set_timeout(multi, 120);
    tcase_add_test(multi, test_race_32_same_key);
    tcase_add_test(multi, test_8_procs_2000_keys);
    tcase_add_test(multi, test_kill_9_writers);
    tcase_add_test(multi, test_threads_own_handles);
    tcase_add_test(multi, test_non_root_user_in_shared_dir);
    tcase_add_test(multi, test_non_root_user_own_dir);
    tcase_add_test(multi, test_lock_holder_killed);
    tcase_add_test(multi, test_kill_9_lock_holders);
    tcase_add_test(multi, test_garbage_lock_word);
    tcase_add_test(multi, test_old_version_refused);
    tcase_add_test(multi, test_fork_and_no_syscalls);
    suite_add_tcase(s, multi);

    tcase_add_unchecked_fixture(verify, base_setup, base_teardown);
    tcase_set_timeout(verify, 60);
    tcase_add_test(verify, test_verify_windows_share_store);
    tcase_add_test(verify, test_verify_real_tokens);
    tcase_add_test(verify, test_verify_refused_tokens_not_recorded);
    tcase_add_test(verify, test_verify_race_16_same_token);
    suite_add_tcase(s, verify);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(replay_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
