/* xtoken doctor: server configs are evaluated in a child process, never in
 * the doctor itself. The doctor runs as root; ejabberd.yml and Prosody's
 * Lua config are writable by the service users and may be hostile. The
 * child:
 *   - is chrooted into --root (or /) when the doctor runs as root, then
 *     drops to the service's user and groups (nobody if the user is missing
 *     or is root), with no_new_privs;
 *   - opens every file with openat2(RESOLVE_IN_ROOT) below that root, so
 *     neither a symlink nor ".." leads out of it (also when not root);
 *   - runs under RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE 0, RLIMIT_NOFILE and
 *     RLIMIT_NPROC 0, with stdin/stdout/stderr on /dev/null;
 *   - sends back records (below) over a pipe; the parent reads at most
 *     DOC_RESULT_MAX bytes and kills the child by its pid once
 *     DOC_SANDBOX_SECONDS of wall-clock time have passed.
 * A record is one byte (its number of fields, 1..DOC_FIELDS_MAX) and as
 * many NUL-terminated fields; a NUL inside a value travels as the text
 * "\x00". The first field says what the record is: "ok", "warn" or "FAIL"
 * (a finding, its text in the second field) or a kind of its caller's. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/prctl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"

#define NOBODY        65534

/* AddressSanitizer reserves terabytes of address space for its shadow: a
 * limit on it would break the sanitizer build (make check-asan), where the
 * Lua allocator's cap and the file size caps still bound the child. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifndef ASAN_BUILD
#define ASAN_BUILD 0
#endif
#define CHILD_NOFILE  32
#define CHILD_SETUP   3 /* exit status: could not set up (sent a finding) */
#define CHILD_FULL    4 /* exit status: results over DOC_RESULT_MAX */

struct doc_out {
    int fd;
    size_t sent;
    int full;
    char buf[4096];
    size_t used;
};

/* ---- files below the root, for parent and child alike -------------------- */

int doc_open_in(const struct doctor *d, const char *path, int flags)
{
    /* openat2 refuses O_PATH with any flag but these few */
    int extra = (flags & O_PATH) ? O_CLOEXEC : O_CLOEXEC | O_NOCTTY;
    struct open_how how = {
        .flags = (unsigned long long)(flags | extra),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    if (path[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    fd = syscall(SYS_openat2, d->rootfd, path, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS && d->root[0] == '\0') /* kernel < 5.6: / is the root */
        fd = open(path, flags | extra);
    return (int)fd;
}

/* ---- the child's side ------------------------------------------------------ */

static void out_flush(struct doc_out *o)
{
    size_t done = 0;

    while (done < o->used) {
        ssize_t n = write(o->fd, o->buf + done, o->used - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(CHILD_SETUP); /* the parent went away */
        done += (size_t)n;
    }
    o->used = 0;
}

static void out_byte(struct doc_out *o, char c)
{
    if (o->used == sizeof o->buf)
        out_flush(o);
    o->buf[o->used++] = c;
}

void doc_out_record(struct doc_out *o, size_t n, const char *const *fields, const size_t *lens)
{
    size_t size = 1;

    if (n == 0 || n > DOC_FIELDS_MAX || o->full)
        return;
    for (size_t i = 0; i < n; i++)
        size += (lens ? lens[i] : strlen(fields[i])) * 4 + 1;
    if (o->sent + size > DOC_RESULT_MAX) {
        o->full = 1; /* the parent sees the truncation as a failed evaluation */
        return;
    }
    o->sent += size;
    out_byte(o, (char)n);
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(fields[i]);
        for (size_t j = 0; j < len; j++) {
            if (fields[i][j] == '\0') {
                for (const char *e = "\\x00"; *e; e++)
                    out_byte(o, *e);
            } else {
                out_byte(o, fields[i][j]);
            }
        }
        out_byte(o, '\0');
    }
}

void doc_out_finding(struct doc_out *o, enum doc_level level, const char *fmt, ...)
{
    static const char *const names[] = {"ok", "warn", "FAIL"};
    char text[DOC_LINE_MAX];
    const char *fields[2] = {names[level], text};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    doc_out_record(o, 2, fields, NULL);
}

/* Rlimits, the chroot and the user: 0, or -1 with *why set. */
static int confine(struct doctor *d, const struct doc_user *u, const char **why)
{
    const struct rlimit cpu = {DOC_SANDBOX_SECONDS, DOC_SANDBOX_SECONDS + 1};
    const struct rlimit mem = {DOC_SANDBOX_MEMORY, DOC_SANDBOX_MEMORY};
    const struct rlimit none = {0, 0}, files = {CHILD_NOFILE, CHILD_NOFILE};

    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || (!ASAN_BUILD && setrlimit(RLIMIT_AS, &mem) != 0) ||
        setrlimit(RLIMIT_FSIZE, &none) != 0 || setrlimit(RLIMIT_CORE, &none) != 0 ||
        setrlimit(RLIMIT_NOFILE, &files) != 0) {
        *why = "setrlimit";
        return -1;
    }
    if (geteuid() == 0) {
        if (chroot(d->root[0] ? d->root : "/") != 0 || chdir("/") != 0) {
            *why = "chroot";
            return -1;
        }
        if (d->rootfd >= 0)
            close(d->rootfd);
        d->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        d->root = "";
        if (d->rootfd < 0 || setgroups((size_t)u->n_groups, u->groups) != 0 ||
            setgid(u->groups[0]) != 0 || setuid(u->uid) != 0 || setuid(0) == 0 ||
            getegid() != u->groups[0]) {
            *why = "dropping privileges";
            return -1;
        }
    }
    if (setrlimit(RLIMIT_NPROC, &none) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        *why = "no_new_privs";
        return -1;
    }
    return 0;
}

/* stdin, stdout and stderr on /dev/null; every other descriptor closed but
 * the root's and the pipe. */
static void quiet_fds(const struct doctor *d, int keep)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    for (int fd = 0; fd <= 2; fd++)
        if (null < 0 || dup2(null, fd) < 0)
            close(fd);
    for (int fd = 3; fd < 1024; fd++)
        if (fd != keep && fd != d->rootfd)
            close(fd);
}

static void __attribute__((noreturn))
run_child(struct doctor *d, const struct doc_user *u, int fd, doc_child_fn fn, void *arg)
{
    static struct doc_out out;
    const char *why = NULL;

    signal(SIGPIPE, SIG_DFL);
    quiet_fds(d, fd);
    out.fd = fd;
    if (confine(d, u, &why) != 0) {
        doc_out_finding(&out, DOC_FAIL, "cannot set up the sandbox (%s: %s), not evaluated", why,
                        strerror(errno));
        out_flush(&out);
        _exit(CHILD_SETUP);
    }
    fn(d, &out, arg);
    out_flush(&out);
    _exit(out.full ? CHILD_FULL : 0);
}

/* ---- the parent's side ----------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the child's records until EOF, the cap or the deadline.
 * 0 at EOF; 1 on the deadline; 2 over DOC_RESULT_MAX; -1 on error. */
static int read_result(int fd, long long deadline, struct doc_result *res)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0)
            return 1;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -1;
        if (p.revents == 0)
            continue;
        if (res->len == DOC_RESULT_MAX + 1)
            return 2;
        n = read(fd, res->buf + res->len, DOC_RESULT_MAX + 1 - res->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        res->len += (size_t)n;
    }
}

/* Wait for the child until the deadline, then kill it (by its pid: it is
 * our unreaped child, the pid cannot have been reused). 1 if it had to be
 * killed. *status is its wait status. */
static int reap(pid_t pid, long long deadline, int kill_now, int *status)
{
    while (!kill_now) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            break;
        if (now_ms() >= deadline)
            break;
        poll(NULL, 0, 10);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 1;
}

/* The user the child runs as: the service's, else nobody. Never root. */
static void sandbox_user(const struct doctor *d, const char *name, struct doc_user *u)
{
    if (doc_user_lookup(d, name, u) == 0 && u->uid != 0 && u->n_groups > 0 &&
        u->groups[0] != 0)
        return;
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "nobody");
    u->uid = NOBODY;
    u->groups[0] = NOBODY;
    u->n_groups = 1;
}

/* How the child ended, from read_result's rc, whether it was killed and
 * its wait status: 0 if it finished; else -1 after the FAIL saying so. */
static int report_stop(struct doctor *d, const char *area, const char *file, int rc, int killed,
                       int status)
{
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

    if (rc == 1 || (killed && rc == 0) || sig == SIGXCPU || sig == SIGKILL)
        doc_report(d, DOC_FAIL, area,
                   "evaluating %s did not finish within %d s (stopped): its hosts are not "
                   "checked; fix: simplify the file (a loop? a pattern that backtracks?)",
                   file, DOC_SANDBOX_SECONDS);
    else if (rc == 2 || (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_FULL))
        doc_report(d, DOC_FAIL, area,
                   "evaluating %s gave more than %u bytes of results (stopped): its hosts are "
                   "not checked",
                   file, DOC_RESULT_MAX);
    else if (rc < 0 || !WIFEXITED(status) ||
             (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != CHILD_SETUP))
        doc_report(d, DOC_FAIL, area,
                   "evaluating %s stopped (%s %d, out of memory?): its hosts are not checked",
                   file, sig ? "signal" : "status", sig ? sig : WEXITSTATUS(status));
    else
        return 0;
    return -1;
}

int doc_sandbox(struct doctor *d, const char *area, const char *file, const char *user,
                doc_child_fn fn, void *arg, struct doc_result *res)
{
    struct doc_user u;
    long long deadline;
    int pipefd[2], status = 0, rc, killed;
    pid_t pid;

    memset(res, 0, sizeof *res);
    sandbox_user(d, user, &u);
    res->buf = malloc(DOC_RESULT_MAX + 1);
    if (res->buf == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
        doc_report(d, DOC_FAIL, area, "cannot evaluate %s: %s", file, strerror(errno));
        doc_result_free(res);
        return -1;
    }
    fflush(stdout); /* the child must not write our buffered lines again */
    pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        run_child(d, &u, pipefd[1], fn, arg);
    }
    close(pipefd[1]);
    if (pid < 0) {
        doc_report(d, DOC_FAIL, area, "cannot evaluate %s: fork: %s", file, strerror(errno));
        close(pipefd[0]);
        doc_result_free(res);
        return -1;
    }
    deadline = now_ms() + DOC_SANDBOX_SECONDS * 1000LL;
    rc = read_result(pipefd[0], deadline, res);
    close(pipefd[0]);
    killed = reap(pid, deadline, rc != 0, &status);
    if (report_stop(d, area, file, rc, killed, status) == 0)
        return 0; /* a child that failed to set up sent its finding and no data */
    doc_result_free(res);
    return -1;
}

size_t doc_result_next(struct doc_result *res, const char *fields[DOC_FIELDS_MAX])
{
    size_t n, pos = res->pos;

    if (pos >= res->len)
        return 0;
    n = (unsigned char)res->buf[pos++];
    if (n == 0 || n > DOC_FIELDS_MAX)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        const char *end = memchr(res->buf + pos, '\0', res->len - pos);
        if (end == NULL)
            goto bad;
        fields[i] = res->buf + pos;
        pos = (size_t)(end - res->buf) + 1;
    }
    res->pos = pos;
    return n;
bad: /* only a truncated stream gets here: stop reading it */
    res->pos = res->len;
    return 0;
}

int doc_result_finding(struct doctor *d, const char *area, const char *const *fields, size_t n)
{
    static const char *const names[] = {"ok", "warn", "FAIL"};

    if (n != 2)
        return 0;
    for (int level = DOC_OK; level <= DOC_FAIL; level++)
        if (strcmp(fields[0], names[level]) == 0) {
            doc_report(d, (enum doc_level)level, area, "%s", fields[1]);
            return 1;
        }
    return 0;
}

void doc_result_free(struct doc_result *res)
{
    free(res->buf);
    res->buf = NULL;
    res->len = res->pos = 0;
}
