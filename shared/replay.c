/* Replay store: every token is accepted once, by every process of a service
 * user, for as long as any verifier could still accept it.
 *
 * The store is one fixed-size file, <euid>.store, shared by every process
 * that verifies tokens as that user. It lives in DIR if the user owns DIR
 * (root in the packaged /run/pam_xtoken, or a directory of the service's
 * own), else in DIR/<user name>, a directory that root made for the user
 * (the package's tmpfiles.d lines, or install -d): no directory on the way
 * may be writable by anyone else, so no local user can take a store's name
 * first, replace it, or fill the file system under it. A user without its
 * directory fails closed, with the command that makes it in the reason.
 * The file:
 *
 *   offset 0     struct store_header (magic, version, geometry, checksum,
 *                state)
 *   64           the lock: a pthread_mutex_t (not covered by the checksum)
 *   128          the store's clock: the latest time any user has seen
 *   4096         n_buckets buckets of STORE_SLOTS slots of struct slot
 *
 * A key (the token's 32-byte HMAC) may live in one of two buckets chosen by
 * two independent 64-bit words of the key ("two choices": the emptier one gets
 * the new entry; with 16-slot buckets the first full bucket comes at ~85%
 * total load). A slot is in use while its `expires` is after the store's
 * clock; anything else is free and is reused in place. So check and insert
 * scan at most 2 * STORE_SLOTS slots: O(1), and the file never grows.
 *
 * Lifetime: callers record a token until the start of its TOTP step plus
 * XT_LIFETIME_MAX, whatever their own window, and the config refuses any
 * window that accepts a token longer: so an entry outlives every verifier
 * sharing the store (a PAM service with window=3 next to extauth with
 * window 1, two config files, a reload). Capacity: 1,048,576 slots; at
 * 2,700 logins/s every one kept 330 s the store is ~85% full, where the
 * first XT_STORE_FULL can come.
 *
 * Time: liveness and expiry are decided under the lock with a clock read
 * under the lock, and never with a time earlier than the store's clock (the
 * latest time any user has seen, kept in the header page): a clock read
 * before the lock, a process preempted between check and lock, or a system
 * clock stepped back can never make a slot look free while its token could
 * still be accepted. A clock stepped back by more than a token's life makes
 * the store refuse fresh tokens (XT_STORE, saying so) until the clock has
 * caught up or the file is removed.
 *
 * Concurrency and crashes: every check+insert holds a process-shared,
 * robust pthread mutex that lives in the header page (STORE_LOCK_OFFSET).
 * Taking it free costs a few atomic operations and no system call; a waiter
 * sleeps on a futex. If its holder dies, the kernel marks it (robust list)
 * and the next locker gets EOWNERDEAD and makes it consistent: the dead
 * holder can only have been inside record_locked, whose write order is
 * harmless at every point: an insert publishes the key together with or
 * before its `expires`, and only then may the caller hear XT_OK. A process
 * killed at any point therefore leaves either no entry (the token was not
 * accepted) or a complete one (the token is refused from then on): never a
 * state that accepts a token twice. A valid entry is never overwritten;
 * when both buckets are full of valid entries the answer is XT_STORE_FULL.
 * The lock is owned by a thread (its TID), not by a file description, so
 * threads and processes with their own handles exclude each other alike.
 * A lock word that is garbage must not hang us: its type word is compared
 * with what pthread_mutex_init writes, and a lock not obtained within
 * STORE_LOCK_TIMEOUT_S seconds (corrupt, or held by a stopped process)
 * fails closed with XT_STORE.
 *
 * Creation: a store is built complete (space allocated, mutex initialised,
 * header READY) under a temporary name, then renamed to its name with
 * RENAME_NOREPLACE: the name only ever holds a complete store. So any file
 * there that is not a READY store of exactly the size its header declares
 * (empty, short, INITIALIZING: truncated or corrupt) is refused (XT_STORE),
 * never taken for a new store: re-creating it would forget every used token.
 * The store version is part of the header: a store of another version is
 * refused, never shared with code that lays it out or locks it differently.
 *
 * Cost: system calls and page faults are what cost here (on a VM: a system
 * call ~1-2 us, a page fault ~20 us, mmap + fault + munmap of one page
 * ~30 us; a whole token check ~0.5 us). A handle opens the store on first
 * use, maps only the header page (for the lock) and answers that use with
 * pread/pwrite (the PAM module: one use per handle). A second use on the
 * same handle maps the whole file MAP_SHARED and prefaults it writable
 * (MADV_POPULATE_WRITE, a few ms once, instead of up to two faults per page
 * later), so a long-lived process (xtoken extauth, the Lua binding) then
 * pays memory accesses only: no system call at all while the lock is free
 * and the clock stays in the same second.
 *
 * A file shrinking under a mapping raises SIGBUS on the next access: every
 * access to a mapped store runs inside the SIGBUS guard (busguard.c), so a
 * store truncated under a verifier fails closed (XT_STORE) instead of
 * killing it.
 *
 * A long-lived handle reopens the store after a fork, so each process has
 * its own descriptor and mappings and re-checks the path (keeping what it
 * inherited would be safe with this lock: a child does so with a handle
 * used only once before the fork). A private page marked MADV_WIPEONFORK
 * holds a flag that reads as zero in a child, so noticing a fork needs no
 * getpid per use. Checked once per second with one lstat, it also reopens
 * when the path names another file or a file of another size (removed,
 * replaced or truncated), so it never keeps using a store the others have
 * left. The mapped header is compared with the one checked at open on every
 * use, so a store overwritten in place fails closed at once. The euid at
 * the first use picks the file. A handle must not be used by two threads
 * at once (use one per thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "replay_redis.h"
#include "xtoken.h"

#define STORE_MAGIC              "XTREPLAY"
#define STORE_MAGIC_LEN          8
/* 3: 16-byte slots, 16 MiB, the store's clock in the header page, created
 * whole under a temporary name */
#define STORE_VERSION            3u
#define STORE_HEADER_SIZE        4096u
#define STORE_SLOTS              16u        /* slots per bucket: 256 bytes per bucket */
#define STORE_BUCKETS            65536u     /* 1,048,576 entries, 16 MiB + 4 KiB */
#define STORE_BUCKETS_MAX        (1u << 20) /* what an opener accepts from a header */
#define STORE_STATE_READY        0x52454459u
/* 96 bits of the HMAC identify a token within its buckets; the bucket
 * numbers come from other bits of it (bytes 0-15) */
#define SLOT_KEY_LEN             12
#define SLOT_KEY_OFFSET          16
#define STORE_LOCK_OFFSET        64u  /* pthread_mutex_t in the header page */
#define STORE_CLOCK_OFFSET       128u /* int64_t: the latest time any user saw */
#define STORE_LOCK_TIMEOUT_S     2    /* a lock held longer is broken: fail closed */
#define USER_NAME_MAX            65   /* a user directory name and its NUL */

struct slot {
    unsigned char key[SLOT_KEY_LEN];
    uint32_t expires; /* unix seconds; the slot is free once expires <= the store's clock */
};

struct store_header {
    char magic[STORE_MAGIC_LEN];
    uint32_t version;
    uint32_t header_size;
    uint32_t slot_size;
    uint32_t slots_per_bucket;
    uint32_t n_buckets;
    uint32_t reserved;
    uint64_t file_size;
    uint64_t checksum; /* FNV-1a of every field above */
    uint32_t state;    /* READY */
    uint32_t reserved2;
};

_Static_assert(sizeof(struct slot) == 16, "slot layout");
_Static_assert(sizeof(struct store_header) == 56, "header layout");
_Static_assert(sizeof(struct store_header) <= STORE_LOCK_OFFSET &&
                   STORE_LOCK_OFFSET % _Alignof(pthread_mutex_t) == 0 &&
                   STORE_LOCK_OFFSET + sizeof(pthread_mutex_t) <= STORE_CLOCK_OFFSET &&
                   STORE_CLOCK_OFFSET + sizeof(int64_t) <= STORE_HEADER_SIZE,
               "lock and clock layout");

/* The lock's links in its thread's robust-mutex list (glibc: __data.__list),
 * saved after locking to mend the list if the lock's page vanishes. */
struct lock_links {
#ifdef __GLIBC__
    __pthread_list_t list;
#else
    int unused;
#endif
};

struct xt_replay {
    struct xt_redis *redis; /* set: the store is on Redis (replay_redis.c), nothing below is used */
    char *dir;
    char *path;    /* the store's path (see the top), built when it is opened */
    int fd;        /* -1: not open */
    int ready;     /* header checked and mapped since open */
    uint64_t size; /* file size as last seen */
    uint32_t n_buckets;
    unsigned char *map; /* NULL: not mapped; the header page, or all of it */
    size_t map_len;     /* STORE_HEADER_SIZE (first use) or size (later) */
    struct store_header header; /* as checked at open; the map must match */
    int lock_kind;              /* the mutex type word pthread_mutex_init writes */
    unsigned char *fork_flag;   /* MADV_WIPEONFORK page: reads 0 in a child */
    int map_tried;              /* store_map_all ran since open */
    dev_t dev;                  /* identity of the opened file, to notice replacement */
    ino_t ino;
    time_t checked_at;            /* clock of the last lstat of the path */
    time_t (*clock)(void *arg);   /* NULL: time(NULL) */
    void *clock_arg;
    struct xt_bus_guard guard;    /* armed around every access to the mapping */
    int lock_held;                /* read after a SIGBUS: this thread holds the lock */
    struct lock_links links;      /* the lock's list links, saved after locking */
    char err[XT_ERR_MAX];
};

static void set_error(xt_replay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(xt_replay *r, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(r->err, sizeof(r->err), "replay store %s: ", r->path ? r->path : r->dir);

    if (n < 0 || (size_t)n >= sizeof(r->err))
        return;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
    va_end(ap);
}

static uint64_t header_checksum(const struct store_header *h)
{
    const unsigned char *p = (const unsigned char *)h;
    uint64_t sum = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < offsetof(struct store_header, checksum); i++) {
        sum ^= p[i];
        sum *= 0x100000001b3ull;
    }
    return sum;
}

static uint64_t store_size(uint32_t n_buckets)
{
    return STORE_HEADER_SIZE + (uint64_t)n_buckets * STORE_SLOTS * sizeof(struct slot);
}

static void header_init(struct store_header *h, uint32_t n_buckets)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, STORE_MAGIC, STORE_MAGIC_LEN);
    h->version = STORE_VERSION;
    h->header_size = STORE_HEADER_SIZE;
    h->slot_size = sizeof(struct slot);
    h->slots_per_bucket = STORE_SLOTS;
    h->n_buckets = n_buckets;
    h->file_size = store_size(n_buckets);
    h->checksum = header_checksum(h);
    h->state = STORE_STATE_READY;
}

/* 1 if every byte is zero. */
static int all_zero(const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* XT_OK if h describes a complete store this code can use in a file of
 * `size` bytes; XT_STORE with the reason otherwise. */
static int header_check(xt_replay *r, const struct store_header *h, uint64_t size)
{
    uint32_t n = h->n_buckets;

    if (all_zero(h, sizeof(*h))) {
        set_error(r, "header is all zeros (store wiped or corrupt); remove the file");
        return XT_STORE;
    }
    if (memcmp(h->magic, STORE_MAGIC, STORE_MAGIC_LEN) != 0) {
        set_error(r, "not a replay store (bad magic); remove the file");
        return XT_STORE;
    }
    if (h->version != STORE_VERSION) {
        set_error(r, "unsupported store version %u (want %u); remove the file",
                  (unsigned)h->version, STORE_VERSION);
        return XT_STORE;
    }
    if (h->checksum != header_checksum(h) || h->header_size != STORE_HEADER_SIZE ||
        h->slot_size != sizeof(struct slot) || h->slots_per_bucket != STORE_SLOTS || n < 2 ||
        n > STORE_BUCKETS_MAX || (n & (n - 1)) != 0 || h->file_size != store_size(n) ||
        h->state != STORE_STATE_READY) {
        set_error(r, "corrupt header (geometry, state or checksum); remove the file");
        return XT_STORE;
    }
    if (size != h->file_size) {
        set_error(r, "file is %llu bytes, header says %llu (truncated or corrupt); remove the file",
                  (unsigned long long)size, (unsigned long long)h->file_size);
        return XT_STORE;
    }
    return XT_OK;
}

static void store_close(xt_replay *r)
{
    if (r->map != NULL)
        munmap(r->map, r->map_len);
    if (r->fork_flag != NULL)
        munmap(r->fork_flag, STORE_HEADER_SIZE);
    if (r->fd >= 0)
        close(r->fd);
    r->map = NULL;
    r->map_len = 0;
    r->fork_flag = NULL;
    r->map_tried = 0;
    r->fd = -1;
    r->ready = 0;
}

static time_t replay_clock(const xt_replay *r)
{
    return r->clock != NULL ? r->clock(r->clock_arg) : time(NULL);
}

/* Open (creating it if missing) and check DIR: a real directory owned by
 * root or the running user and writable by no one else. The sticky bit is
 * no excuse: in a directory others may write, any local user could take a
 * service's store name before the service does, or fill the file system.
 * The fd on success with *owner set; -1 with the reason set. */
static int dir_open(xt_replay *r, uid_t euid, uid_t *owner)
{
    /* O_PATH: nothing is read from the directory itself */
    const int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    struct stat st;
    int dfd = open(r->dir, flags);

    if (dfd < 0 && errno == ENOENT) {
        /* root's DIR holds the other service users' directories: they
         * must be able to pass through it */
        if (mkdir(r->dir, euid == 0 ? 0755 : 0700) != 0 && errno != EEXIST) {
            set_error(r, "cannot create directory %s: %s", r->dir, strerror(errno));
            return -1;
        }
        dfd = open(r->dir, flags);
    }
    if (dfd < 0) {
        set_error(r, "cannot open directory: %s",
                  errno == ELOOP || errno == ENOTDIR ? "symlink or not a directory"
                                                     : strerror(errno));
        return -1;
    }
    if (fstat(dfd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_error(r, "directory unusable");
    } else if (st.st_uid != 0 && st.st_uid != euid) {
        set_error(r, "directory owned by uid %u, not root or uid %u", (unsigned)st.st_uid,
                  (unsigned)euid);
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        set_error(r, "directory %s is writable by group or other (mode %04o): any local user "
                  "could block or fill it; fix: chmod 0755 %s",
                  r->dir, (unsigned)(st.st_mode & 07777), r->dir);
    } else {
        *owner = st.st_uid;
        return dfd;
    }
    close(dfd);
    return -1;
}

/* 1 if a user name can be a directory name as it is: printable,
 * portable characters, no '/', not hidden. */
static int user_name_fits(const char *name)
{
    if (name[0] == '\0' || name[0] == '.' || name[0] == '-' || strlen(name) > 64)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@$-") ==
           strlen(name);
}

/* The running user's name (its directory's name in a shared DIR) into
 * name[USER_NAME_MAX]. 0; -1 with the reason set. */
static int user_name(xt_replay *r, uid_t euid, char *name)
{
    char buf[4096];
    struct passwd pw, *found = NULL;
    int err = getpwuid_r(euid, &pw, buf, sizeof(buf), &found);

    if (found == NULL) {
        set_error(r, "uid %u has no user name (%s), so no directory in %s; set replay = a "
                  "directory that uid %u owns",
                  (unsigned)euid, err != 0 ? strerror(err) : "not found", r->dir,
                  (unsigned)euid);
        return -1;
    }
    if (!user_name_fits(pw.pw_name)) {
        set_error(r, "the name of uid %u is unfit for a directory name in %s; set replay = a "
                  "directory that uid %u owns",
                  (unsigned)euid, r->dir, (unsigned)euid);
        return -1;
    }
    snprintf(name, USER_NAME_MAX, "%s", pw.pw_name);
    return 0;
}

/* Check the open directory DIR/<user> of user euid: owned by it and
 * writable by no one else. The fd; -1 (closed) with the reason set. */
static int user_dir_check(xt_replay *r, int fd, uid_t euid, const char *user)
{
    struct stat st;

    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_error(r, "directory %s/%s unusable", r->dir, user);
    } else if (st.st_uid != euid) {
        set_error(r, "directory %s/%s is owned by uid %u, not %s; fix: rm -r %s/%s, then "
                  "install -d -o %s -m 0700 %s/%s",
                  r->dir, user, (unsigned)st.st_uid, user, r->dir, user, user, r->dir, user);
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        set_error(r, "directory %s/%s is writable by group or other (mode %04o); fix: chmod "
                  "0700 %s/%s",
                  r->dir, user, (unsigned)(st.st_mode & 07777), r->dir, user);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* The store directory of a user in a DIR that root owns: DIR/<user name>,
 * made by root (the package's tmpfiles.d lines, or install -d) and owned
 * by the user, so that no one else can create, replace or fill anything
 * there. Sets r->path to DIR/<user>/<name>. The fd; -1 with the reason
 * set (*rc XT_STORE or XT_NOMEM). */
static int user_dir_open(xt_replay *r, int dfd, uid_t euid, const char *name, int *rc)
{
    const int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    char user[USER_NAME_MAX];
    int fd;

    *rc = XT_STORE;
    if (user_name(r, euid, user) != 0)
        return -1;
    free(r->path);
    if (asprintf(&r->path, "%s/%s/%s", r->dir, user, name) < 0) {
        r->path = NULL;
        *rc = XT_NOMEM;
        return -1;
    }
    fd = openat(dfd, user, flags);
    if (fd < 0 && errno == ENOENT) {
        set_error(r, "its directory is missing; as root: install -d -o %s -m 0700 %s/%s, and "
                  "at boot: tmpfiles.d line 'd %s/%s 0700 %s - -'",
                  user, r->dir, user, r->dir, user, user);
        return -1;
    }
    if (fd < 0) {
        set_error(r, "cannot open directory %s/%s: %s", r->dir, user,
                  errno == ELOOP || errno == ENOTDIR ? "symlink or not a directory"
                                                     : strerror(errno));
        return -1;
    }
    return user_dir_check(r, fd, euid, user);
}

/* The directory that holds the store of user euid, with r->path set to
 * the store's path: DIR itself if the user owns DIR (root's store in the
 * packaged DIR, or a directory of the service's own), else DIR/<user>.
 * The fd; -1 with the reason set (*rc XT_STORE or XT_NOMEM). */
static int store_dir_open(xt_replay *r, uid_t euid, const char *name, int *rc)
{
    uid_t owner = 0;
    int dfd, fd;

    *rc = XT_NOMEM;
    free(r->path);
    if (asprintf(&r->path, "%s/%s", r->dir, name) < 0) {
        r->path = NULL;
        return -1;
    }
    *rc = XT_STORE;
    dfd = dir_open(r, euid, &owner);
    if (dfd < 0 || owner == euid)
        return dfd;
    fd = user_dir_open(r, dfd, euid, name, rc);
    close(dfd);
    return fd;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static void lock_attr_init(pthread_mutexattr_t *attr)
{
    pthread_mutexattr_init(attr);
    pthread_mutexattr_setpshared(attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(attr, PTHREAD_MUTEX_ROBUST);
}

/* The mapped store at byte offset off, for the caller to read as the type
 * that lives there: the map is page-aligned and every offset used is a
 * multiple of its type's alignment (the _Static_asserts above, and slots of
 * 16 bytes after a page-sized header). */
static void *map_at(const xt_replay *r, size_t off)
{
    return r->map + off;
}

static pthread_mutex_t *store_lock(const xt_replay *r)
{
    return map_at(r, STORE_LOCK_OFFSET);
}

/* The type word of a mutex (glibc: __data.__kind; constant once
 * initialised). A lock word whose type differs is garbage: locking it could
 * take glibc down paths (PI, recursive) that a real store never uses. */
static int lock_kind(const pthread_mutex_t *m)
{
#ifdef __GLIBC__
    return m->__data.__kind;
#else
    (void)m;
    return 0;
#endif
}

static void lock_links_save(const pthread_mutex_t *m, struct lock_links *links)
{
#ifdef __GLIBC__
    links->list = m->__data.__list;
#else
    (void)m;
    links->unused = 0;
#endif
}

static void lock_links_restore(pthread_mutex_t *m, const struct lock_links *links)
{
#ifdef __GLIBC__
    m->__data.__list = links->list;
#else
    (void)m;
    (void)links;
#endif
}

/* What pthread_mutex_init writes for the store's attributes. */
static int lock_kind_expected(void)
{
    pthread_mutexattr_t attr;
    pthread_mutex_t probe;
    int kind = -1;

    lock_attr_init(&attr);
    if (pthread_mutex_init(&probe, &attr) == 0) {
        kind = lock_kind(&probe);
        pthread_mutex_destroy(&probe);
    }
    pthread_mutexattr_destroy(&attr);
    return kind;
}

/* After a SIGBUS while this thread held the store's lock: the lock is in
 * the vanished header page, but this thread's robust-mutex list still goes
 * through it, and glibc writes to a list neighbour's links whenever the
 * thread locks or unlocks another robust mutex (the next store's lock, for
 * one). So the header page is replaced by private memory at the same
 * address holding the lock's list links as saved after locking (zeros if
 * the fault came first: the kernel then stops its walk of the list there),
 * and is never unmapped: one page per such event. The rest is unmapped. */
static void store_abandon_locked(xt_replay *r, const struct lock_links *links)
{
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    /* fd -1 is what MAP_ANONYMOUS asks for */
    /* cppcheck-suppress invalidFunctionArg */
    void *page = mmap(r->map, STORE_HEADER_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0);

    if (page != MAP_FAILED) {
        r->map = page; /* the same address (MAP_FIXED), now the private page */
        lock_links_restore(store_lock(r), links);
        if (r->map_len > STORE_HEADER_SIZE)
            munmap(r->map + STORE_HEADER_SIZE, r->map_len - STORE_HEADER_SIZE);
        r->map = NULL;
    }
    store_close(r);
}

/* Lay out a complete store in the new, still unnamed file fd: space
 * allocated (so a full file system fails here, never with SIGBUS later),
 * the mutex initialised in place, the header written READY.
 * XT_OK; XT_STORE. */
static int store_init(xt_replay *r, int fd)
{
    unsigned char page[STORE_HEADER_SIZE] = {0};
    struct store_header h;
    pthread_mutexattr_t attr;
    void *map = MAP_FAILED, *lock;
    int err, rc = XT_STORE;

    header_init(&h, STORE_BUCKETS);
    memcpy(page, &h, sizeof(h));
    err = posix_fallocate(fd, 0, (off_t)h.file_size);
    if (err != 0) {
        set_error(r, "cannot allocate %llu bytes: %s", (unsigned long long)h.file_size,
                  strerror(err));
        goto done;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, page, sizeof(page), 0) != 0) {
        set_error(r, "cannot write the new store: %s", strerror(errno));
        goto done;
    }
    map = mmap(NULL, STORE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        set_error(r, "cannot map the new store: %s", strerror(errno));
        goto done;
    }
    lock_attr_init(&attr);
    /* cppcheck 2.17 takes mmap() for malloc() and warns of a NULL result
     * (nullPointer*OutOfMemory here and at the munmap below): mmap fails
     * with MAP_FAILED only, and without MAP_FIXED Linux never maps page 0. */
    /* cppcheck-suppress nullPointerArithmeticOutOfMemory */
    lock = (unsigned char *)map + STORE_LOCK_OFFSET; /* aligned: see map_at() */
    err = pthread_mutex_init(lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (err != 0)
        set_error(r, "cannot initialise the lock: %s", strerror(err));
    else
        rc = XT_OK;
done:
    if (map != MAP_FAILED)
        munmap(map, STORE_HEADER_SIZE); /* cppcheck-suppress nullPointerOutOfMemory */
    return rc;
}

/* Create a complete store under a temporary name in dfd and rename it to
 * `name` unless that exists (another creator won: fine, theirs is used).
 * XT_OK (a store now has the name); XT_STORE. */
static int store_create(xt_replay *r, int dfd, const char *name)
{
    unsigned char random[8];
    char tmp[64];
    int fd, published = 0, rc = XT_STORE;

    /* getrandom, not RAND_bytes: OpenSSL's fork check would call getpid */
    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
        set_error(r, "no random bytes for a temporary name: %s", strerror(errno));
        return XT_STORE;
    }
    snprintf(tmp, sizeof(tmp), ".%s.new.%02x%02x%02x%02x%02x%02x%02x%02x", name, random[0],
             random[1], random[2], random[3], random[4], random[5], random[6], random[7]);
    fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_error(r, "cannot create: %s", strerror(errno));
        return XT_STORE;
    }
    if (store_init(r, fd) == XT_OK) {
        published = renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0;
        if (published || errno == EEXIST) /* EEXIST: another creator won */
            rc = XT_OK;
        else
            set_error(r, "cannot rename the new store into place: %s", strerror(errno));
    }
    if (!published)
        unlinkat(dfd, tmp, 0);
    close(fd);
    return rc;
}

/* Open the store (created complete if missing) and check it: a regular
 * file with one link, owned by the euid, no group/other access.
 * XT_OK with r->fd set; XT_STORE; XT_NOMEM. */
static int store_open(xt_replay *r, time_t now)
{
    const int flags = O_RDWR | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
    uid_t euid = geteuid();
    char name[32];
    struct stat st;
    int dfd = -1, fd = -1, rc = XT_STORE;

    snprintf(name, sizeof(name), "%u.store", (unsigned)euid);
    free(r->path);
    r->path = NULL;
    if (r->dir[0] != '/') {
        set_error(r, "directory must be an absolute path");
        goto done;
    }
    dfd = store_dir_open(r, euid, name, &rc);
    if (dfd < 0)
        goto done;
    rc = XT_STORE;
    /* O_NONBLOCK: a FIFO planted under our name must not hang us before
     * fstat refuses it */
    fd = openat(dfd, name, flags);
    if (fd < 0 && errno == ENOENT) {
        if (store_create(r, dfd, name) != XT_OK)
            goto done;
        fd = openat(dfd, name, flags);
    }
    if (fd < 0) {
        set_error(r, "cannot open: %s", errno == ELOOP ? "it is a symlink" : strerror(errno));
        goto done;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_error(r, "not a regular file");
    } else if (st.st_uid != euid) {
        set_error(r, "owned by uid %u, not uid %u", (unsigned)st.st_uid, (unsigned)euid);
    } else if ((st.st_mode & 077) != 0) {
        set_error(r, "mode %04o, want 0600", (unsigned)(st.st_mode & 07777));
    } else if (st.st_nlink != 1) {
        set_error(r, "has %lu hard links, want 1", (unsigned long)st.st_nlink);
    } else {
        r->fd = fd;
        r->size = (uint64_t)st.st_size;
        r->dev = st.st_dev;
        r->ino = st.st_ino;
        r->checked_at = now;
        fd = -1;
        rc = XT_OK;
    }
done:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* Map the header page (where the lock lives). XT_OK; XT_STORE. */
static int store_map_header(xt_replay *r)
{
    void *map;

    if (r->map != NULL)
        return XT_OK;
    /* MAP_POPULATE: the header is read at once; a fault costs more than the mmap */
    map = mmap(NULL, STORE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
               0);
    if (map == MAP_FAILED) {
        set_error(r, "cannot map the header: %s", strerror(errno));
        return XT_STORE;
    }
    r->map = map;
    r->map_len = STORE_HEADER_SIZE;
    return XT_OK;
}

/* Once per open: check the header (a complete store of the right size,
 * or nothing: see "Creation" above), install the SIGBUS guard, map the
 * header page. The mapping is not read here: every read of it is guarded.
 * XT_OK with r->ready set; XT_STORE. */
static int store_prepare(xt_replay *r)
{
    struct store_header h;
    ssize_t got = pread(r->fd, &h, sizeof(h), 0);

    if (got != (ssize_t)sizeof(h)) {
        set_error(r, "file is %lld bytes (truncated or corrupt); remove the file",
                  (long long)(got < 0 ? 0 : got));
        return XT_STORE;
    }
    if (header_check(r, &h, r->size) != XT_OK)
        return XT_STORE;
    if (xt_bus_guard_install() != XT_OK) {
        set_error(r, "cannot install the SIGBUS guard: %s", strerror(errno));
        return XT_STORE;
    }
    if (store_map_header(r) != XT_OK)
        return XT_STORE;
    r->lock_kind = lock_kind_expected();
    r->header = h;
    r->n_buckets = h.n_buckets;
    r->ready = 1;
    return XT_OK;
}

/* On a handle's second use: map the whole store (replacing the header
 * page) and set up the fork flag. Not an error if either fails: the handle
 * then keeps using the header page and pread/pwrite, which a forked child
 * may keep using too (the lock belongs to a thread, not to the file). */
static void store_map_all(xt_replay *r)
{
    void *flag, *map;

    /* fd -1 is what MAP_ANONYMOUS asks for */
    /* cppcheck-suppress invalidFunctionArg */
    flag = mmap(NULL, STORE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (flag == MAP_FAILED)
        return;
    if (madvise(flag, STORE_HEADER_SIZE, MADV_WIPEONFORK) != 0) {
        munmap(flag, STORE_HEADER_SIZE);
        return;
    }
    map = mmap(NULL, (size_t)r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (map == MAP_FAILED) {
        munmap(flag, STORE_HEADER_SIZE);
        return;
    }
#ifdef MADV_POPULATE_WRITE
    /* page tables for the whole store, writable, at once (~1 ms) rather
     * than a read and a write fault (~20 us each on a VM) per page touched
     * later; best effort (Linux >= 5.14) */
    madvise(map, (size_t)r->size, MADV_POPULATE_WRITE);
#endif
    munmap(r->map, r->map_len);
    r->map = map;
    r->map_len = (size_t)r->size;
    r->fork_flag = flag;
    *r->fork_flag = 1;
}

/* 1 if a long-lived handle must reopen: we were forked (the flag page
 * reads as zero in a child), or, looked at once per second of `now`, the
 * path names another file or a file of another size (removed or replaced). */
static int store_stale(xt_replay *r, time_t now)
{
    struct stat st;

    if (r->fork_flag != NULL && __atomic_load_n(r->fork_flag, __ATOMIC_RELAXED) == 0)
        return 1;
    if (now == r->checked_at)
        return 0;
    r->checked_at = now;
    if (lstat(r->path, &st) != 0)
        return 1;
    return st.st_dev != r->dev || st.st_ino != r->ino || (uint64_t)st.st_size != r->size;
}

/* Take the store's mutex: without a system call when it is free; waiting
 * at most STORE_LOCK_TIMEOUT_S otherwise. XT_OK (held); XT_STORE. */
static int lock_store(xt_replay *r)
{
    pthread_mutex_t *lock = store_lock(r);
    struct timespec deadline;
    int err;

    if (lock_kind(lock) != r->lock_kind) {
        set_error(r, "corrupt lock word; remove the file");
        return XT_STORE;
    }
    err = pthread_mutex_trylock(lock);
    if (err == EBUSY) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += STORE_LOCK_TIMEOUT_S;
        err = pthread_mutex_clocklock(lock, CLOCK_MONOTONIC, &deadline);
    }
    if (err == EOWNERDEAD) {
        /* A holder died. It was at most inside record_locked, whose write
         * order (key first, then `expires`) makes an interrupted insert
         * either absent or complete: the store is consistent as it is. */
        err = pthread_mutex_consistent(lock);
        if (err != 0)
            pthread_mutex_unlock(lock);
    }
    if (err == ETIMEDOUT) {
        set_error(r, "lock held for over %d s (a stopped process, or a corrupt lock word); "
                  "remove the file if this persists", STORE_LOCK_TIMEOUT_S);
        return XT_STORE;
    }
    if (err != 0) {
        set_error(r, "lock unusable (%s); remove the file", strerror(err));
        return XT_STORE;
    }
    return XT_OK;
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* The two buckets a key may live in (distinct, so a key has two choices). */
static void key_buckets(const unsigned char *key, uint32_t n_buckets, uint64_t bucket[2])
{
    uint64_t mask = n_buckets - 1u;

    bucket[0] = load64(key) & mask;
    bucket[1] = load64(key + 8) & mask;
    if (bucket[1] == bucket[0])
        bucket[1] ^= 1u;
}

/* With the mutex held: the store's clock, which is the clock read now
 * (never one read before the lock) or the latest time any user of the store
 * has seen, whichever is later, so that a clock stepped back never makes a
 * freed slot's token acceptable again. Advances the store's clock. */
static time_t store_now_locked(const xt_replay *r)
{
    int64_t *seen = map_at(r, STORE_CLOCK_OFFSET);
    int64_t now = (int64_t)replay_clock(r), latest = __atomic_load_n(seen, __ATOMIC_RELAXED);

    if (now <= latest)
        return (time_t)latest;
    __atomic_store_n(seen, now, __ATOMIC_RELAXED);
    return (time_t)now;
}

/* Does slot s hold key? */
static int slot_holds(const struct slot *s, const unsigned char *key)
{
    return memcmp(s->key, key + SLOT_KEY_OFFSET, SLOT_KEY_LEN) == 0;
}

/* Look for key in its two buckets (slots[b] holds bucket b's slots).
 * XT_REPLAYED if a live entry has it; XT_OK with *pick_bucket, *pick_slot
 * the free slot to use, in the bucket with fewer live entries;
 * XT_STORE_FULL if both buckets hold only live entries. */
static int slots_scan(xt_replay *r, struct slot *const slots[2], const unsigned char *key,
                      time_t now, int *pick_bucket, unsigned *pick_slot)
{
    unsigned live[2] = {0, 0}, free_slot[2] = {STORE_SLOTS, STORE_SLOTS};
    int64_t soonest = INT64_MAX;
    int b;

    for (b = 0; b < 2; b++) {
        for (unsigned i = 0; i < STORE_SLOTS; i++) {
            int64_t e = __atomic_load_n(&slots[b][i].expires, __ATOMIC_ACQUIRE);

            if (e <= (int64_t)now) {
                if (free_slot[b] == STORE_SLOTS)
                    free_slot[b] = i;
                continue;
            }
            if (slot_holds(&slots[b][i], key))
                return XT_REPLAYED;
            live[b]++;
            if (e < soonest)
                soonest = e;
        }
    }
    b = free_slot[1] < STORE_SLOTS && (free_slot[0] == STORE_SLOTS || live[1] < live[0]);
    if (free_slot[b] == STORE_SLOTS) {
        set_error(r,
                  "full: all %u slots this token may use hold unexpired tokens (next one "
                  "frees in %lld s)",
                  2 * STORE_SLOTS, (long long)(soonest - (int64_t)now));
        return XT_STORE_FULL;
    }
    *pick_bucket = b;
    *pick_slot = free_slot[b];
    return XT_OK;
}

/* With the mutex held: XT_OK if key may be recorded until `expires` by the
 * store's clock (*now set to it); XT_EXPIRED if that time has passed by the
 * clock read now too; XT_STORE if only the store's clock says so (the
 * system clock stepped back). */
static int expiry_check_locked(xt_replay *r, time_t expires, time_t *now)
{
    *now = store_now_locked(r);
    if (expires > *now)
        return XT_OK;
    if (expires <= replay_clock(r))
        return XT_EXPIRED;
    set_error(r, "its clock is %lld s ahead of the system clock, which stepped back: fresh tokens "
                 "are refused until the clock catches up (or remove the file: tokens used in the "
                 "last %d s become usable again)",
              (long long)(*now - replay_clock(r)), XT_LIFETIME_MAX);
    return XT_STORE;
}

/* Ask for every cache line of both buckets at once: a new token's buckets
 * are almost never cached (random places in 16 MiB), and the scan reads
 * each line in turn, so without this their misses add up one after the
 * other (about 8 x 100 ns, most of a use of the store). */
static void prefetch_buckets(const xt_replay *r, const uint64_t bucket[2])
{
    const size_t bucket_size = STORE_SLOTS * sizeof(struct slot);

    for (int b = 0; b < 2; b++) {
        const unsigned char *start = r->map + STORE_HEADER_SIZE + bucket[b] * bucket_size;

        for (size_t at = 0; at < bucket_size; at += 64)
            __builtin_prefetch(start + at, 1, 3);
    }
}

/* With the mutex held: check and record key (the key, then `expires`). A
 * wholly mapped store is used in place; otherwise (a handle's first use)
 * the two buckets are read with pread and the new entry is written with one
 * pwrite of the whole 16-byte slot: a slot never crosses a page, so the
 * kernel copies it into the page cache in one step and a kill lands before
 * or after it, never half-way (and the copy runs from key to expires, so
 * even a torn one would leave the slot free).
 * XT_OK (recorded); XT_REPLAYED; XT_EXPIRED; XT_STORE_FULL; XT_STORE. */
static int record_locked(xt_replay *r, const unsigned char *key, time_t expires)
{
    struct slot buf[2][STORE_SLOTS], *slots[2] = {buf[0], buf[1]};
    uint64_t bucket[2];
    off_t off[2];
    unsigned pick_slot = 0;
    time_t now;
    ssize_t got;
    int pick = 0, rc;

    rc = expiry_check_locked(r, expires, &now);
    if (rc != XT_OK)
        return rc;
    key_buckets(key, r->n_buckets, bucket);
    if (r->map_len == r->size)
        prefetch_buckets(r, bucket);
    for (int b = 0; b < 2; b++) {
        off[b] = (off_t)(STORE_HEADER_SIZE + bucket[b] * sizeof(buf[b]));
        if (r->map_len == r->size) {
            slots[b] = map_at(r, (size_t)off[b]);
            continue;
        }
        got = pread(r->fd, buf[b], sizeof(buf[b]), off[b]);
        if (got != (ssize_t)sizeof(buf[b])) {
            set_error(r, "cannot read: %s", got < 0 ? strerror(errno) : "file shrank");
            return XT_STORE;
        }
    }
    rc = slots_scan(r, slots, key, now, &pick, &pick_slot);
    if (rc != XT_OK)
        return rc;
    if (r->map_len == r->size) {
        /* key first, then publish it with one aligned store of expires */
        struct slot *s = &slots[pick][pick_slot];

        memcpy(s->key, key + SLOT_KEY_OFFSET, SLOT_KEY_LEN);
        __atomic_store_n(&s->expires, (uint32_t)expires, __ATOMIC_RELEASE);
    } else {
        struct slot s;

        memcpy(s.key, key + SLOT_KEY_OFFSET, SLOT_KEY_LEN);
        s.expires = (uint32_t)expires;
        if (write_all(r->fd, &s, sizeof(s), off[pick] + (off_t)(pick_slot * sizeof(s))) != 0) {
            set_error(r, "cannot write: %s", strerror(errno));
            return XT_STORE;
        }
    }
    return XT_OK;
}

/* XT_OK if the mapped header is still the one checked at open (a store
 * rewritten in place must fail closed, not read as empty); XT_STORE. */
static int header_unchanged(xt_replay *r)
{
    const struct store_header *mapped = map_at(r, 0);

    if (memcmp(mapped, &r->header, sizeof(*mapped)) == 0)
        return XT_OK;
    if (header_check(r, mapped, r->size) == XT_OK)
        set_error(r, "header changed (corrupt); remove the file");
    return XT_STORE;
}

/* Check the header, lock, check and record, unlock: every access to the
 * mapping inside the SIGBUS guard. A fault (the file shrank under the
 * mapping) fails closed. XT_OK; XT_REPLAYED; XT_EXPIRED; XT_STORE_FULL;
 * XT_STORE. */
static int record_guarded(xt_replay *r, const unsigned char *key, time_t expires)
{
    int rc;

    r->lock_held = 0;
    if (sigsetjmp(r->guard.env, 0) != 0) {
        set_error(r, "the file shrank while in use (truncated?); remove the file if this persists");
        if (r->lock_held)
            store_abandon_locked(r, &r->links);
        return XT_STORE;
    }
    xt_bus_arm(&r->guard, r->map, r->map_len);
    rc = header_unchanged(r);
    if (rc == XT_OK)
        rc = lock_store(r);
    if (rc == XT_OK) {
        memset(&r->links, 0, sizeof(r->links));
        r->lock_held = 1;
        /* the handler's jump must see lock_held and links as written here */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        lock_links_save(store_lock(r), &r->links);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        rc = record_locked(r, key, expires);
        /* cannot fail for a mutex we hold; if the word was overwritten
         * meanwhile, the others time out and fail closed */
        pthread_mutex_unlock(store_lock(r));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        r->lock_held = 0;
    }
    xt_bus_disarm(&r->guard);
    return rc;
}

int xt_replay_new(const char *dir, xt_replay **replay)
{
    xt_replay *r;

    *replay = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return XT_NOMEM;
    r->fd = -1;
    r->dir = strdup(dir != NULL ? dir : XT_DEFAULT_REPLAY_DIR);
    if (r->dir == NULL) {
        free(r);
        return XT_NOMEM;
    }
    *replay = r;
    return XT_OK;
}

int xt_replay_wrap_redis(struct xt_redis *redis, xt_replay **replay)
{
    *replay = calloc(1, sizeof(**replay));
    if (*replay == NULL) {
        xt_redis_free(redis);
        return XT_NOMEM;
    }
    (*replay)->fd = -1;
    (*replay)->redis = redis;
    return XT_OK;
}

struct xt_redis *xt_replay_redis(const xt_replay *replay)
{
    return replay != NULL ? replay->redis : NULL;
}

void xt_replay_set_clock(xt_replay *replay, time_t (*clock)(void *arg), void *arg)
{
    replay->clock = clock;
    replay->clock_arg = arg;
}

void xt_replay_free(xt_replay *replay)
{
    if (replay == NULL)
        return;
    xt_redis_free(replay->redis);
    store_close(replay);
    free(replay->path);
    free(replay->dir);
    free(replay);
}

const char *xt_replay_error(const xt_replay *replay)
{
    if (replay != NULL && replay->redis != NULL)
        return xt_redis_error(replay->redis);
    return replay != NULL ? replay->err : "";
}

void xt_replay_prefetch(const xt_replay *replay, const unsigned char key[XT_REPLAY_KEY_LEN])
{
    uint64_t bucket[2];

    /* only a wholly mapped store; a prefetch never faults, so a file
     * truncated under the mapping is no concern here */
    if (replay == NULL || replay->map == NULL || replay->map_len != replay->size)
        return;
    key_buckets(key, replay->n_buckets, bucket);
    prefetch_buckets(replay, bucket);
}

int xt_replay_use(xt_replay *replay, const unsigned char key[XT_REPLAY_KEY_LEN], time_t expires)
{
    time_t now;
    int rc = XT_OK;

    if (replay->redis != NULL)
        return xt_redis_use(replay->redis, key, expires); /* reads the clock itself */
    now = replay_clock(replay);
    replay->err[0] = '\0';
    if (expires <= now)
        return XT_EXPIRED; /* nothing left to protect; never recorded */
    if ((uint64_t)expires > UINT32_MAX) {
        set_error(replay, "expiry %lld beyond the store's range (year 2106)", (long long)expires);
        return XT_STORE;
    }
    if (replay->fd >= 0 && store_stale(replay, now))
        store_close(replay);
    if (replay->fd < 0)
        rc = store_open(replay, now);
    if (rc == XT_OK && !replay->ready)
        rc = store_prepare(replay);
    else if (rc == XT_OK && !replay->map_tried) {
        replay->map_tried = 1;
        store_map_all(replay);
    }
    if (rc == XT_OK)
        rc = record_guarded(replay, key, expires);
    /* a store that failed its checks is reopened (and re-checked) next time */
    if (rc == XT_STORE)
        store_close(replay);
    return rc;
}
