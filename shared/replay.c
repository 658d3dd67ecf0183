/* Replay store: every token is accepted once, by every process of a service
 * user, for as long as it could still be valid.
 *
 * The store is one fixed-size file, DIR/<euid>.store, shared by every
 * process that verifies tokens as that user:
 *
 *   offset 0     struct store_header (magic, version, geometry, checksum,
 *                state)
 *   64           the lock: a pthread_mutex_t (not covered by the checksum)
 *   4096         n_buckets buckets of STORE_SLOTS slots of struct slot
 *
 * A key (the token's 32-byte HMAC) may live in one of two buckets chosen by
 * two independent 64-bit words of the key ("two choices": the emptier one gets
 * the new entry, which keeps buckets balanced up to ~94% total load). A slot
 * is in use while its `expires` is after `now`; anything else is free and is
 * reused in place. So check and insert scan at most 2 * STORE_SLOTS slots:
 * O(1), and the file never grows.
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
 * Creation (rare) still uses flock: O_CREAT|O_EXCL|O_NOFOLLOW 0600, then
 * under flock(LOCK_EX): header with state INITIALIZING, space allocated,
 * the mutex initialised, state READY stored last (release). Nobody touches
 * the mutex before reading READY (acquire), so creators and users never
 * race on it. Every state a kill can leave behind is recognised: size 0 or
 * INITIALIZING (no entry was ever written, nobody used the mutex) is
 * finished by the next opener; anything else that is not a READY store of
 * exactly the size its header declares is refused (XT_STORE). The store
 * version is part of the header: a store of another version (e.g. 1, which
 * locked with flock) is refused, never shared with differently-locking code.
 *
 * Cost: system calls and page faults are what cost here (on a VM: a system
 * call ~1-2 us, a page fault ~20 us, mmap + fault + munmap of one page
 * ~30 us; a whole token check ~1 us). A handle opens the store on first
 * use, maps only the header page (for the lock) and answers that use with
 * pread/pwrite (the PAM module: one use per handle, ~50 us). A second use
 * on the same handle maps the whole file MAP_SHARED and prefaults it
 * writable (MADV_POPULATE_WRITE, ~1 ms once, instead of up to two faults
 * per page later), so a long-lived process (xtoken extauth) then pays
 * memory accesses only: no system call at all while the lock is free and
 * `now` stays in the same second.
 *
 * A long-lived handle reopens the store after a fork, so each process has
 * its own descriptor and mappings and re-checks the path (keeping what it
 * inherited would be safe with this lock: a child does so with a handle
 * used only once before the fork). A private page marked MADV_WIPEONFORK
 * holds a flag that reads as zero in a child, so noticing a fork needs no
 * getpid per use. Checked once per second of `now` with one lstat, it also
 * reopens when the path names another file or a file of another size
 * (removed, replaced or truncated), so it never keeps using a store the
 * others have left. The mapped header is compared with the one checked at
 * open on every use, so a store overwritten in place fails closed at once.
 * The euid at the first use picks the file. A handle must not be used by
 * two threads at once (use one per thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "replay_redis.h"
#include "xtoken.h"

#define STORE_MAGIC              "XTREPLAY"
#define STORE_MAGIC_LEN          8
#define STORE_VERSION            2u /* 2: pthread mutex in the header page */
#define STORE_HEADER_SIZE        4096u
#define STORE_SLOTS              32u        /* slots per bucket: 1 KiB per bucket */
#define STORE_BUCKETS            4096u      /* 131,072 entries, 4 MiB + 4 KiB */
#define STORE_BUCKETS_MAX        (1u << 20) /* what an opener accepts from a header */
#define STORE_STATE_INITIALIZING 0x494e4954u
#define STORE_STATE_READY        0x52454459u
#define SLOT_KEY_LEN             24 /* 192 bits of the HMAC identify a token */
#define STORE_LOCK_OFFSET        64u /* pthread_mutex_t in the header page */
#define STORE_LOCK_TIMEOUT_S     2   /* a lock held longer is broken: fail closed */

struct slot {
    unsigned char key[SLOT_KEY_LEN];
    int64_t expires; /* unix seconds; the slot is free once expires <= now */
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
    uint32_t state;    /* written last at creation */
    uint32_t reserved2;
};

_Static_assert(sizeof(struct slot) == 32, "slot layout");
_Static_assert(sizeof(struct store_header) == 56, "header layout");
_Static_assert(sizeof(struct store_header) <= STORE_LOCK_OFFSET &&
                   STORE_LOCK_OFFSET % _Alignof(pthread_mutex_t) == 0 &&
                   STORE_LOCK_OFFSET + sizeof(pthread_mutex_t) <= STORE_HEADER_SIZE,
               "lock layout");

struct xt_replay {
    struct xt_redis *redis; /* set: the store is on Redis (replay_redis.c), nothing below is used */
    char *dir;
    char *path;    /* dir/<euid>.store, built when the store is opened */
    int fd;        /* -1: not open */
    int ready;     /* header checked (and creation finished) since open */
    uint64_t size; /* file size as last seen */
    uint32_t n_buckets;
    unsigned char *map; /* NULL: not mapped; the header page, or all of it */
    size_t map_len;     /* STORE_HEADER_SIZE (first use) or size (later) */
    struct store_header header; /* as checked at open; the map must match */
    int lock_kind;              /* the mutex type word pthread_mutex_init writes */
    unsigned char *fork_flag; /* MADV_WIPEONFORK page: reads 0 in a child */
    int map_tried;                     /* store_map_all ran since open */
    dev_t dev; /* identity of the opened file, to notice replacement */
    ino_t ino;
    time_t checked_at; /* `now` of the last lstat of the path */
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
    h->state = STORE_STATE_INITIALIZING;
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

/* XT_OK if h describes a store this code can use (READY or INITIALIZING)
 * in a file of `size` bytes; XT_STORE with the reason otherwise. */
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
        n > STORE_BUCKETS_MAX || (n & (n - 1)) != 0 || h->file_size != store_size(n)) {
        set_error(r, "corrupt header (geometry or checksum); remove the file");
        return XT_STORE;
    }
    if (h->state == STORE_STATE_READY && size != h->file_size) {
        set_error(r, "file is %llu bytes, header says %llu (truncated or corrupt)",
                  (unsigned long long)size, (unsigned long long)h->file_size);
        return XT_STORE;
    }
    if (h->state != STORE_STATE_READY &&
        (h->state != STORE_STATE_INITIALIZING || size > h->file_size)) {
        set_error(r, "corrupt header (state); remove the file");
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

/* Open (creating 0700 if missing) and check the directory.
 * The fd on success, -1 with the reason set. */
static int dir_open(xt_replay *r, uid_t euid)
{
    /* O_PATH: the packaged directory (1733) is not readable by its users */
    const int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    struct stat st;
    int dfd = open(r->dir, flags);

    if (dfd < 0 && errno == ENOENT) {
        if (mkdir(r->dir, 0700) != 0 && errno != EEXIST) {
            set_error(r, "cannot create directory: %s", strerror(errno));
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
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        set_error(r, "directory is group/other-writable without the sticky bit (mode %04o)",
                  (unsigned)(st.st_mode & 07777));
    } else {
        return dfd;
    }
    close(dfd);
    return -1;
}

/* Open DIR/<euid>.store (created 0600 if missing) and check it: a regular
 * file with one link, owned by the euid, no group/other access.
 * XT_OK with r->fd set; XT_STORE; XT_NOMEM. */
static int store_open(xt_replay *r, time_t now)
{
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
    if (asprintf(&r->path, "%s/%s", r->dir, name) < 0) {
        r->path = NULL;
        rc = XT_NOMEM;
        goto done;
    }
    dfd = dir_open(r, euid);
    if (dfd < 0)
        goto done;
    /* two tries: a racing creator may win the O_EXCL. O_NONBLOCK: a FIFO
     * planted under our name must not hang us before fstat refuses it */
    for (int attempt = 0; fd < 0 && attempt < 2; attempt++) {
        const int flags = O_RDWR | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

        fd = openat(dfd, name, flags);
        if (fd < 0 && errno == ENOENT)
            fd = openat(dfd, name, flags | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
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

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

/* With flock held: write the header of a new (empty) store.
 * XT_OK with *h and r->size set; XT_STORE. */
static int store_create_locked(xt_replay *r, struct store_header *h)
{
    unsigned char page[STORE_HEADER_SIZE] = {0};

    header_init(h, STORE_BUCKETS);
    memcpy(page, h, sizeof(*h));
    if (write_all(r->fd, page, sizeof(page), 0) != 0) {
        set_error(r, "cannot write header: %s", strerror(errno));
        return XT_STORE;
    }
    r->size = sizeof(page);
    return XT_OK;
}

static void lock_attr_init(pthread_mutexattr_t *attr)
{
    pthread_mutexattr_init(attr);
    pthread_mutexattr_setpshared(attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(attr, PTHREAD_MUTEX_ROBUST);
}

static pthread_mutex_t *store_lock(const xt_replay *r)
{
    return (pthread_mutex_t *)(void *)(r->map + STORE_LOCK_OFFSET);
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

/* With flock held: allocate the space of a store in state INITIALIZING
 * (so a full file system fails here, never with SIGBUS later), initialise
 * the mutex, then publish READY. Nobody uses the mutex of a store that is
 * not READY, so (re)initialising it here races with no one. XT_OK; XT_STORE. */
static int store_finish_locked(xt_replay *r, struct store_header *h)
{
    struct store_header *mapped;
    pthread_mutexattr_t attr;
    int err = posix_fallocate(r->fd, 0, (off_t)h->file_size);

    if (err != 0) {
        set_error(r, "cannot allocate %llu bytes: %s", (unsigned long long)h->file_size,
                  strerror(err));
        return XT_STORE;
    }
    r->size = h->file_size;
    if (store_map_header(r) != XT_OK)
        return XT_STORE;
    lock_attr_init(&attr);
    err = pthread_mutex_init(store_lock(r), &attr);
    pthread_mutexattr_destroy(&attr);
    if (err != 0) {
        set_error(r, "cannot initialise the lock: %s", strerror(err));
        return XT_STORE;
    }
    /* release: whoever reads READY (acquire) sees the initialised mutex */
    mapped = (struct store_header *)(void *)r->map;
    __atomic_store_n(&mapped->state, STORE_STATE_READY, __ATOMIC_RELEASE);
    h->state = STORE_STATE_READY;
    return XT_OK;
}

/* With flock held: read and check the header, creating or finishing a new or
 * half-created store. XT_OK with *h READY; XT_STORE. */
static int store_setup_locked(xt_replay *r, struct store_header *h)
{
    struct stat st;
    ssize_t got = pread(r->fd, h, sizeof(*h), 0);

    if (got == 0) {
        /* new file (ours, or a creator that died before writing anything) */
        if (store_create_locked(r, h) != XT_OK)
            return XT_STORE;
    } else if (got != (ssize_t)sizeof(*h)) {
        set_error(r, "file is %lld bytes (truncated or corrupt)", (long long)got);
        return XT_STORE;
    } else if (h->state != STORE_STATE_READY || h->file_size != r->size) {
        /* the size seen before locking may predate a creator's work */
        if (fstat(r->fd, &st) != 0) {
            set_error(r, "fstat: %s", strerror(errno));
            return XT_STORE;
        }
        r->size = (uint64_t)st.st_size;
    }
    if (header_check(r, h, r->size) != XT_OK)
        return XT_STORE;
    if (h->state == STORE_STATE_INITIALIZING && store_finish_locked(r, h) != XT_OK)
        return XT_STORE;
    return XT_OK;
}

/* Run store_setup_locked under flock (creation only; rare). */
static int store_setup(xt_replay *r, struct store_header *h)
{
    int rc;

    while (flock(r->fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            set_error(r, "flock: %s", strerror(errno));
            return XT_STORE;
        }
    }
    rc = store_setup_locked(r, h);
    flock(r->fd, LOCK_UN);
    return rc;
}

/* Once per open: check the header (creating or finishing the store under
 * flock unless it is already READY), map the header page, check the lock's
 * type word. XT_OK with r->ready set; XT_STORE. */
static int store_prepare(xt_replay *r)
{
    struct store_header h;
    const struct store_header *mapped;

    if (pread(r->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.state != STORE_STATE_READY) {
        if (store_setup(r, &h) != XT_OK)
            return XT_STORE;
    }
    if (header_check(r, &h, r->size) != XT_OK || store_map_header(r) != XT_OK)
        return XT_STORE;
    /* acquire: READY was stored after the mutex was initialised */
    mapped = (const struct store_header *)(const void *)r->map;
    if (__atomic_load_n(&mapped->state, __ATOMIC_ACQUIRE) != STORE_STATE_READY ||
        memcmp(mapped, &h, sizeof(h)) != 0) {
        set_error(r, "header changed while opening (corrupt?); remove the file");
        return XT_STORE;
    }
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
            if (memcmp(slots[b][i].key, key, SLOT_KEY_LEN) == 0)
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

/* With the mutex held: check and record key (the key, then `expires`). A
 * wholly mapped store is used in place; otherwise (a handle's first use)
 * the two buckets are read with pread and the new entry is written with one
 * pwrite of the whole 32-byte slot: a slot never crosses a page, so the
 * kernel copies it into the page cache in one step and a kill lands before
 * or after it, never half-way (and the copy runs from key to expires, so
 * even a torn one would leave the slot free).
 * XT_OK (recorded); XT_REPLAYED; XT_STORE_FULL; XT_STORE. */
static int record_locked(xt_replay *r, const unsigned char *key, time_t expires, time_t now)
{
    struct slot buf[2][STORE_SLOTS], *slots[2] = {buf[0], buf[1]};
    uint64_t bucket[2];
    off_t off[2];
    unsigned pick_slot = 0;
    ssize_t got;
    int pick = 0, rc;

    key_buckets(key, r->n_buckets, bucket);
    for (int b = 0; b < 2; b++) {
        off[b] = (off_t)(STORE_HEADER_SIZE + bucket[b] * sizeof(buf[b]));
        if (r->map_len == r->size)
            slots[b] = (struct slot *)(void *)(r->map + off[b]);
        else if ((got = pread(r->fd, buf[b], sizeof(buf[b]), off[b])) != (ssize_t)sizeof(buf[b])) {
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

        memcpy(s->key, key, SLOT_KEY_LEN);
        __atomic_store_n(&s->expires, (int64_t)expires, __ATOMIC_RELEASE);
    } else {
        struct slot s;

        memcpy(s.key, key, SLOT_KEY_LEN);
        s.expires = (int64_t)expires;
        if (write_all(r->fd, &s, sizeof(s), off[pick] + (off_t)(pick_slot * sizeof(s))) != 0) {
            set_error(r, "cannot write: %s", strerror(errno));
            return XT_STORE;
        }
    }
    return XT_OK;
}

/* Before every later use: map the whole store on the second use, and check
 * the mapped header is still the one checked at open (a store rewritten in
 * place must fail closed, not read as empty). XT_OK; XT_STORE. */
static int store_recheck(xt_replay *r)
{
    const struct store_header *mapped;

    if (!r->map_tried) {
        r->map_tried = 1;
        store_map_all(r);
    }
    mapped = (const struct store_header *)(const void *)r->map;
    if (memcmp(mapped, &r->header, sizeof(*mapped)) != 0) {
        if (header_check(r, mapped, r->size) == XT_OK)
            set_error(r, "header changed (corrupt); remove the file");
        return XT_STORE;
    }
    return XT_OK;
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

int xt_replay_use(xt_replay *replay, const unsigned char key[XT_REPLAY_KEY_LEN], time_t expires,
                  time_t now)
{
    int rc;

    if (replay->redis != NULL)
        return xt_redis_use(replay->redis, key, expires); /* reads the clock itself */
    replay->err[0] = '\0';
    if (expires <= now)
        return XT_EXPIRED; /* nothing left to protect; never recorded */
    if (replay->fd >= 0 && store_stale(replay, now))
        store_close(replay);
    if (replay->fd < 0) {
        rc = store_open(replay, now);
        if (rc != XT_OK)
            goto done;
    }
    rc = replay->ready ? store_recheck(replay) : store_prepare(replay);
    if (rc == XT_OK)
        rc = lock_store(replay);
    if (rc != XT_OK)
        goto done;
    rc = record_locked(replay, key, expires, now);
    /* cannot fail for a mutex we hold; if the word was overwritten meanwhile,
     * the others time out and fail closed */
    pthread_mutex_unlock(store_lock(replay));
done:
    /* a store that failed its checks is reopened (and re-checked) next time */
    if (rc == XT_STORE)
        store_close(replay);
    return rc;
}
