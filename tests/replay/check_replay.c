/* Replay store tests (shared/replay.c): single use, expiry, bounds, store
 * full, corrupt and unsafe files, and several processes sharing one store.
 * Some tests need root (chown, setuid): they are skipped otherwise. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testkeys.h"
#include "xtoken.h"

#define STORE_BYTES (4096 + 4096 * 32 * 32) /* header + buckets x slots x 32 bytes */
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

/* One use through a fresh handle, as the PAM module does per login. */
static int use_once(const char *dir, const unsigned char *key, time_t expires, time_t now)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = xt_replay_use(r, key, expires, now);
    xt_replay_free(r);
    return rc;
}

static int use_once_err(const char *dir, const unsigned char *key, char *err, size_t errlen)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = xt_replay_use(r, key, T0 + 90, T0);
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
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0), XT_REPLAYED);
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0 + 89), XT_REPLAYED);
    ck_assert_int_eq(xt_replay_use(r, b, T0 + 90, T0), XT_OK);
    /* another handle (another process's view) sees the same entries */
    ck_assert_int_eq(use_once(dir, a, T0 + 90, T0 + 1), XT_REPLAYED);
    ck_assert_int_eq(use_once(dir, b, T0 + 90, T0 + 1), XT_REPLAYED);
    /* once expired the entry is reclaimed (a real token is refused as
     * expired by then; here the store alone is tested) */
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 200, T0 + 90), XT_OK);
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 200, T0 + 91), XT_REPLAYED);
    /* an already expired entry is never recorded */
    ck_assert_int_eq(xt_replay_use(r, b, T0 + 300, T0 + 300), XT_EXPIRED);
    xt_replay_free(r);
    xt_replay_free(NULL);
}
END_TEST

START_TEST(test_missing_dir_created_0700)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;

    fresh_dir(dir, sizeof(dir));
    make_key(k, 2, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0700);
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
        ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK);
    }
    for (int i = 0; i < n; i += 7) {
        make_key(k, 3, (uint64_t)i);
        ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0 + 1), XT_REPLAYED);
    }
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
    /* a later wave of 100,000 with 1,000 logins a second: older entries
     * are reclaimed, the file keeps its size */
    for (int i = 0; i < n; i++) {
        time_t now = T0 + 100 + i / 1000;

        make_key(k, 4, (uint64_t)i);
        ck_assert_int_eq(xt_replay_use(r, k, now + 90, now), XT_OK);
    }
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
    ck_assert_int_le(st.st_blocks * 512, STORE_BYTES + 65536);
    /* the first wave expired and was reclaimed, the second is still live */
    make_key(k, 4, (uint64_t)n - 1);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 300, T0 + 199), XT_REPLAYED);
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
    /* 64 keys that can only live in buckets 7 and 9 fill both */
    for (uint64_t i = 0; i < 64; i++) {
        bucket_key(k, 7, 9, i);
        ck_assert_int_eq(xt_replay_use(r, k, T0 + 60 + (time_t)i, T0), XT_OK);
    }
    bucket_key(k, 7, 9, 64);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_STORE_FULL);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "full"));
    /* the same key in the other order of buckets is just as stuck */
    bucket_key(k, 9, 7, 64);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_STORE_FULL);
    /* no valid entry was evicted */
    for (uint64_t i = 0; i < 64; i++) {
        bucket_key(k, 7, 9, i);
        ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0 + 1), XT_REPLAYED);
    }
    /* other buckets are unaffected */
    bucket_key(k, 8, 10, 0);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK);
    /* the first entry expires at T0 + 60: its slot is reused */
    bucket_key(k, 7, 9, 64);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 150, T0 + 60), XT_OK);
    ck_assert_str_eq(xt_replay_error(r), "");
    bucket_key(k, 7, 9, 65);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 150, T0 + 60), XT_STORE_FULL);
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
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 7, 2);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK); /* second use: mapped */
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, zeros, sizeof(zeros), 0), (ssize_t)sizeof(zeros));
    close(fd);
    /* overwritten in place: noticed on the very next use */
    make_key(k, 7, 3);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "all zeros"));
    /* truncated under an open handle: refused (the next second), no SIGBUS */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK);
    make_key(k, 7, 4);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(truncate(path, 8192), 0);
    make_key(k, 7, 5);
    ck_assert_int_eq(xt_replay_use(r, k, T0 + 90, T0 + 1), XT_STORE);
    ck_assert_ptr_nonnull(strstr(xt_replay_error(r), "truncated"));
    xt_replay_free(r);
}
END_TEST

/* States a creator killed half-way leaves behind are finished, not refused. */
START_TEST(test_half_created_store_recovers)
{
    char dir[128], path[160], page[4096];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;
    int fd;

    fresh_dir(dir, sizeof(dir));
    store_path(dir, geteuid(), path, sizeof(path));
    make_key(k, 8, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    /* keep the header as written at creation, state INITIALIZING */
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
    close(fd);
    memcpy(page + 48, "TINI", 4); /* 0x494e4954 little-endian: INITIALIZING */

    /* killed right after O_EXCL: empty file */
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
    /* killed after the header, before the space was allocated */
    ck_assert_int_eq(truncate(path, 0), 0);
    write_file(path, page, sizeof(page));
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, STORE_BYTES);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_REPLAYED);
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
    ck_assert_ptr_nonnull(strstr(err, "sticky"));
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 0770), 0);
    ck_assert_int_eq(use_once_err(dir, k, err, sizeof(err)), XT_STORE);
    /* with the sticky bit (the packaged 1733 layout) it is fine */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 01733), 0);
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
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0), XT_OK);
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0), XT_REPLAYED); /* now mapped */
    ck_assert_int_eq(unlink(path), 0);
    /* the path is looked at once per second of `now`: the next second the
     * long-lived handle records b in the new file, where others look */
    ck_assert_int_eq(xt_replay_use(r, b, T0 + 90, T0 + 1), XT_OK);
    ck_assert_int_eq(use_once(dir, b, T0 + 90, T0 + 1), XT_REPLAYED);
    ck_assert_int_eq(use_once(dir, a, T0 + 90, T0 + 1), XT_OK); /* lost with the file */
    ck_assert_int_eq(xt_replay_use(r, a, T0 + 90, T0 + 1), XT_REPLAYED);
    /* replaced by another store renamed over it: c is only in that one */
    fresh_dir(dir2, sizeof(dir2));
    store_path(dir2, geteuid(), path2, sizeof(path2));
    ck_assert_int_eq(use_once(dir2, c, T0 + 90, T0 + 2), XT_OK);
    ck_assert_int_eq(rename(path2, path), 0);
    ck_assert_int_eq(xt_replay_use(r, c, T0 + 90, T0 + 3), XT_REPLAYED);
    ck_assert_int_eq(xt_replay_use(r, b, T0 + 90, T0 + 3), XT_OK);
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
    ck_assert_int_eq(xt_replay_use(inherited, k, T0 + 90, T0), XT_OK);
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
                    rc = xt_replay_use(inherited, k, T0 + 90, T0);
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
        ck_assert_int_eq(xt_replay_use(inherited, k, T0 + 90, T0), XT_REPLAYED);
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
        if (xt_replay_use(r, k, T0 + 90, T0) != want)
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
    unsigned total = 0, killed = 0;

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
                 * earlier keys and reach new ones */
                for (int i = (round * 200 + w) % NKEYS; i < NKEYS; i++) {
                    make_key(k, 200, (uint64_t)i);
                    if (xt_replay_use(r, k, T0 + 90, T0) == XT_OK)
                        __atomic_add_fetch(&accepted[i], 1, __ATOMIC_SEQ_CST);
                }
                _exit(0);
            }
        }
        nanosleep(&delay, NULL);
        for (int w = 0; w < 2; w++) {
            int status;

            kill(pid[w], SIGKILL);
            ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
            /* a writer that finished is fine; none may crash on its own */
            ck_assert(WIFSIGNALED(status) ? WTERMSIG(status) == SIGKILL : WEXITSTATUS(status) == 0);
            killed += WIFSIGNALED(status) ? 1 : 0;
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
    ck_assert_uint_gt(killed, ROUNDS); /* most writers died mid-run */
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
    a->rc = xt_replay_use(r, a->key, T0 + 90, T0);
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

/* A non-root service user in the packaged 1733 root directory: gets its
 * own store, next to root's, and cannot use root's. */
START_TEST(test_non_root_user_in_sticky_dir)
{
    char dir[128], path[160];
    unsigned char k[XT_REPLAY_KEY_LEN];
    struct stat st;
    pid_t pid;
    int status;

    if (geteuid() != 0)
        return; /* needs setuid: runs as root in CI */
    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir_mode(dir, 01733), 0);
    make_key(k, 15, 1);
    ck_assert_int_eq(use_once(dir, k, T0 + 90, T0), XT_OK); /* root's 0.store */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int a, b;

        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(7);
        a = use_once(dir, k, T0 + 90, T0);
        b = use_once(dir, k, T0 + 90, T0);
        _exit(a == XT_OK && b == XT_REPLAYED ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    store_path(dir, NOBODY, path, sizeof(path));
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_int_eq(st.st_uid, NOBODY);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* ---- through xt_verify, with real tokens ------------------------------- */

#define JID "alice@example.org"
#define KEYS                                                                                       \
    "otp_seed = XVGR73KMZH2M4XMY\ntoken_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\nwindow = 1\n"

static xt_config *test_config(void)
{
    xt_config *cfg = NULL;
    char err[XT_ERR_MAX] = "";

    ck_assert_msg(xt_config_parse(KEYS, strlen(KEYS), "test.conf", &cfg, err, sizeof(err)) == XT_OK,
                  "config: %s", err);
    return cfg;
}

static int verify_once(const xt_config *cfg, const char *dir, const char *jid, const char *tok,
                       time_t now)
{
    xt_replay *r = NULL;
    int rc;

    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    rc = xt_verify(cfg, r, jid, tok, strlen(tok), now);
    xt_replay_free(r);
    return rc;
}

START_TEST(test_verify_real_tokens)
{
    char dir[128], tok[XT_TOKEN_MAX + 1], tok2[XT_TOKEN_MAX + 1];
    xt_config *cfg = test_config();
    xt_replay *r = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(xt_issue(cfg, JID, T0, tok, sizeof(tok)), XT_OK);
    ck_assert_int_eq(xt_replay_new(dir, &r), XT_OK);
    ck_assert_int_eq(xt_verify(cfg, r, JID, tok, strlen(tok), T0), XT_OK);
    ck_assert_int_eq(xt_verify(cfg, r, JID, tok, strlen(tok), T0), XT_REPLAYED);
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
    ck_assert_int_eq(xt_verify(cfg, r, JID, tok, strlen(tok), T0), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok2, T0), XT_OK);
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0), XT_REPLAYED);
    ck_assert_int_eq(xt_verify(cfg, r, JID, tok2, strlen(tok2), T0 + 1), XT_REPLAYED);
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
    ck_assert_int_eq(verify_once(cfg, dir, JID, tok, T0 + 3600), XT_EXPIRED);
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
    tcase_add_test(single, test_missing_dir_created_0700);
    tcase_add_test(single, test_bounded_100000_keys);
    tcase_add_test(single, test_store_full);
    tcase_add_test(single, test_corrupt_truncated);
    tcase_add_test(single, test_corrupt_zeroed);
    tcase_add_test(single, test_corrupt_garbage);
    tcase_add_test(single, test_corrupt_while_open);
    tcase_add_test(single, test_half_created_store_recovers);
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
    tcase_add_test(multi, test_non_root_user_in_sticky_dir);
    suite_add_tcase(s, multi);

    tcase_add_unchecked_fixture(verify, base_setup, base_teardown);
    tcase_set_timeout(verify, 60);
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
