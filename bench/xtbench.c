/* xtbench: pam_xtoken's benchmarks, side by side with the alternatives.
 *
 *   xtbench [--build DIR] [--scripts DIR] [--python PATH] [--quick]
 *
 * Every figure is measured in this one run on this machine: the library
 * in-process (with and without the replay store), the same check in Python
 * (pyotp + hmac), full PAM round trips through pam_xtoken.so and through
 * pam_permit.so, and ejabberd extauth over a pipe pair through
 * `xtoken extauth`, through a responder that does no work (the IPC limit)
 * and through a reference Python helper. Then the replay store on Redis: a
 * redis-server from Debian started here on 127.0.0.1 (free port,
 * requirepass, its own directory, killed by pid at the end), verify/s
 * through one long-lived handle next to a plain PING round trip from
 * hiredis's own client, extauth requests/s and PAM round trips/s with the
 * store on Redis (wall clock: the server's time is part of the cost).
 * Prints a table, then one line per
 * figure: "bench NAME VALUE UNIT". Exit 0 when every measurement ran and
 * every answer was right (targets missed are reported, not fatal); 1 when a
 * token was refused or a helper misbehaved; 2 on a setup error. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "read_exact.h"
#include "xtoken.h"

/* Test keys for a throwaway config; never used anywhere real. */
#define BENCH_SEED "K5UOYGC3OJ2WG4LXK5UOYGC3OJ2WG4LX"
#define BENCH_SECRET "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define BENCH_USER "alice"
#define BENCH_DOMAIN "localhost"
#define BENCH_JID BENCH_USER "@" BENCH_DOMAIN
#define TOKEN_SLOT (XT_TOKEN_MAX + 1)
#define FRAME_MAX 512

struct options {
    char *build_dir;   /* absolute, malloc'ed */
    char *scripts_dir; /* absolute, malloc'ed */
    char *python;
    int quick;
    int in_process; /* only the in-process figures */
};

/* What each phase runs; --quick divides them for a smoke run. */
struct sizes {
    size_t verify_n, verify_pool, replay_n, python_verify_n, pam_n;
    size_t extauth_n, limit_n, python_extauth_n, warmup_n;
    int rounds;
    size_t redis_n, redis_pam_n;
    size_t replay_warm; /* uses of a new store before the handle's timed ones */
    size_t refusal_slow_n; /* one-shot refusals of old tokens (each a search) */
};

struct figure {
    const char *name;
    double value;
    const char *unit;
    const char *target; /* "" when the figure has no target of its own */
    int met;            /* 1 met, 0 missed, -1 no target */
};

#define MAX_FIGURES 64
static struct figure figures[MAX_FIGURES];
static size_t n_figures;
static char tmp_dir[] = "/tmp/xtbench.XXXXXX";
static pid_t redis_pid = -1; /* the redis-server we started, killed by pid */

static void add_figure(const char *name, double value, const char *unit, const char *target,
                       int met)
{
    if (n_figures < MAX_FIGURES)
        figures[n_figures++] = (struct figure){name, value, unit, target, met};
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void remove_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("xtbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (redis_pid > 0)
        kill(redis_pid, SIGKILL);
    if (strchr(tmp_dir, 'X') == NULL)
        remove_tree(tmp_dir);
    exit(code);
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall clock: for the IPC figures, where waiting is the cost. */
static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of this process: for work done in-process, so that other load on
 * the machine (time spent descheduled) does not count as our cost. */
static uint64_t cpu_ns(void)
{
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static char *path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path == NULL)
        die(2, "out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    return path;
}

static char *absolute(const char *path)
{
    char *abs = realpath(path, NULL);
    if (abs == NULL)
        die(2, "%s: %s", path, strerror(errno));
    return abs;
}

static void write_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
        die(2, "cannot write %s: %s", path, strerror(errno));
}

/* A config with the bench keys; replay_dir NULL writes `replay = off`. */
static char *write_config(const char *name, const char *replay_dir)
{
    char text[1024];
    char *path = path_join(tmp_dir, name);
    snprintf(text, sizeof(text),
             "# xtbench throwaway config\notp_seed = %s\ntoken_secret = %s\n"
             "window = 1\ndigits = 8\ninterval = 30\nreplay = %s\n",
             BENCH_SEED, BENCH_SECRET, replay_dir != NULL ? replay_dir : "off");
    write_file(path, 0600, text);
    return path;
}

static xt_config *load_config(const char *path)
{
    xt_config *cfg = NULL;
    char err[XT_ERR_MAX] = "";
    int rc = xt_config_load(path, &cfg, err, sizeof(err));
    if (rc != XT_OK)
        die(2, "config %s: %s (%s)", path, xt_strerror(rc), err);
    return cfg;
}

/* n fresh tokens for BENCH_JID, TOKEN_SLOT bytes apart. */
static char *mint_pool(const xt_config *cfg, size_t n)
{
    char *pool = malloc(n * TOKEN_SLOT);
    time_t now = time(NULL);
    if (pool == NULL)
        die(2, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = xt_issue(cfg, BENCH_JID, now, pool + i * TOKEN_SLOT, TOKEN_SLOT);
        if (rc != XT_OK)
            die(2, "xt_issue: %s", xt_strerror(rc));
    }
    return pool;
}

static char *write_token_file(const char *name, const char *pool, size_t n)
{
    char *path = path_join(tmp_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die(2, "%s: %s", path, strerror(errno));
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", pool + i * TOKEN_SLOT);
    if (fclose(f) != 0)
        die(2, "%s: %s", path, strerror(errno));
    return path;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(*values), cmp_double);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* ---- in-process verification ----------------------------------------- */

/* A token minted now matches at TOTP step 0 until the step ends; one step
 * later the verifier computes two more OTPs to find it. So that every run
 * measures the same (common) case, a timed run starts in a step with at
 * least `seconds` left, waiting for the next step if need be. */
static void wait_for_step_room(unsigned seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long left_ms = (30 - ts.tv_sec % 30) * 1000L - ts.tv_nsec / 1000000L;
    if (left_ms < (long)seconds * 1000L) {
        struct timespec pause = {(left_ms + 50) / 1000, ((left_ms + 50) % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Verifications per CPU second of n calls cycling through pool. */
static double time_verify(const xt_config *cfg, xt_replay *replay, const char *pool,
                          size_t pool_n, size_t n)
{
    uint64_t start = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        const char *token = pool + (i % pool_n) * TOKEN_SLOT;
        int rc = xt_verify(cfg, replay, BENCH_JID, token, strlen(token), time(NULL));
        if (rc != XT_OK)
            die(1, "xt_verify refused bench token %zu: %s", i, xt_strerror(rc));
    }
    return (double)n / ((double)(cpu_ns() - start) / 1e9);
}

static double bench_verify(const xt_config *cfg, const struct sizes *sz)
{
    double rates[9] = {0};
    for (int r = 0; r < sz->rounds; r++) {
        wait_for_step_room(4);
        char *pool = mint_pool(cfg, sz->verify_pool);
        time_verify(cfg, NULL, pool, sz->verify_pool, sz->verify_pool); /* warm up */
        rates[r] = time_verify(cfg, NULL, pool, sz->verify_pool, sz->verify_n);
        free(pool);
    }
    return median(rates, sz->rounds);
}

/* Each round gets its own fresh store, so every token is a first use;
 * warmed first like bench_handle's. */
static double bench_verify_replay(const xt_config *cfg, const struct sizes *sz)
{
    double rates[9] = {0};
    for (int r = 0; r < sz->rounds; r++) {
        char name[64];
        xt_replay *replay = NULL;
        snprintf(name, sizeof(name), "replay-round%d", r);
        char *dir = path_join(tmp_dir, name);
        wait_for_step_room(4);
        char *pool = mint_pool(cfg, sz->replay_n + sz->replay_warm);
        if (xt_replay_new(dir, &replay) != XT_OK)
            die(2, "xt_replay_new failed");
        /* a new store's first uses pay once per process (see bench_handle) */
        time_verify(cfg, replay, pool + sz->replay_n * TOKEN_SLOT, sz->replay_warm,
                    sz->replay_warm);
        rates[r] = time_verify(cfg, replay, pool, sz->replay_n, sz->replay_n);
        /* The same tokens again must all be refused as replays. */
        const char *first = pool;
        int again = xt_verify(cfg, replay, BENCH_JID, first, strlen(first), time(NULL));
        if (again != XT_REPLAYED)
            die(1, "replayed token not refused: %s", xt_strerror(again));
        xt_replay_free(replay);
        free(pool);
        free(dir);
    }
    return median(rates, sz->rounds);
}

/* ---- the verifier handle of long-lived processes ------------------------ */

/* Verifications per CPU second through a handle, as extauth and the Lua
 * binding run it: refresh (a clock compare, one stat a second) + verify. */
static double time_handle(xt_verifier *v, const char *pool, size_t pool_n, size_t n)
{
    uint64_t start = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        const char *token = pool + (i % pool_n) * TOKEN_SLOT;
        time_t now = time(NULL);
        xt_verifier_refresh(v, now, 0);
        int rc = xt_verifier_verify(v, BENCH_JID, token, strlen(token), now, NULL);
        if (rc != XT_OK)
            die(1, "handle refused bench token %zu: %s", i, xt_strerror(rc));
    }
    return (double)n / ((double)(cpu_ns() - start) / 1e9);
}

static xt_verifier *handle_of(const char *conf)
{
    xt_verifier *v = NULL;
    if (xt_verifier_new(conf, 0, &v) != XT_OK || xt_verifier_status(v) != XT_OK)
        die(2, "handle on %s: %s", conf, v ? xt_verifier_error(v) : "out of memory");
    return v;
}

/* handle->verify_per_s without a store, ->replay_per_s with a fresh file
 * store per round, after warm_per_s: the rate of the first replay_warm
 * uses of a new process's store. Those pay once per process what is not a
 * per-login cost: creating the store (16 MiB, once per boot and user),
 * mapping it, and the first touch of each of its 4,096 pages (on this VM's
 * shadow paging ~10 us a page, invisible as page faults); 30,000 uses
 * touch all but ~e^-15 of the pages. */
struct handle_rates {
    double verify_per_s, replay_per_s, warm_per_s;
};

static struct handle_rates bench_handle(const char *conf_off, const struct sizes *sz)
{
    double plain[9] = {0}, stored[9] = {0}, warm[9] = {0};
    xt_verifier *v = handle_of(conf_off);
    xt_config *cfg = load_config(conf_off);
    for (int r = 0; r < sz->rounds; r++) {
        char name[64];
        wait_for_step_room(4);
        char *pool = mint_pool(cfg, sz->verify_pool);
        time_handle(v, pool, sz->verify_pool, sz->verify_pool); /* warm up */
        plain[r] = time_handle(v, pool, sz->verify_pool, sz->verify_n);
        free(pool);

        snprintf(name, sizeof(name), "handle-store%d", r);
        char *dir = path_join(tmp_dir, name);
        snprintf(name, sizeof(name), "handle-store%d.conf", r);
        char *conf_on = write_config(name, dir);
        xt_verifier *vs = handle_of(conf_on);
        wait_for_step_room(4);
        pool = mint_pool(cfg, sz->replay_n + sz->replay_warm);
        /* the first use creates the store, the second maps it whole, the
         * rest touch (nearly) every page of it once: see handle_rates */
        warm[r] = time_handle(vs, pool + sz->replay_n * TOKEN_SLOT, sz->replay_warm,
                              sz->replay_warm);
        stored[r] = time_handle(vs, pool, sz->replay_n, sz->replay_n);
        int again = xt_verifier_verify(vs, BENCH_JID, pool, strlen(pool), time(NULL), NULL);
        if (again != XT_REPLAYED)
            die(1, "handle: replayed token not refused: %s", xt_strerror(again));
        xt_verifier_free(vs);
        free(pool);
        free(conf_on);
        free(dir);
    }
    xt_verifier_free(v);
    xt_config_free(cfg);
    return (struct handle_rates){median(plain, sz->rounds), median(stored, sz->rounds),
                                 median(warm, sz->rounds)};
}

/* ---- what a refusal costs ------------------------------------------------ */

/* Seven more seeds after the bench seed: with 8 (the most a scope takes) a
 * refusal has the most OTPs it could look at. Test values, never real. */
static const char *const extra_seeds[] = {
    "MFRGGZDFMZTWQ2LKNNWG23TPOA", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "ONSWG4TFOQQGC3TEEBXW4ZJAONSWG4TF",
    "NBSWY3DPFQQHO33SNRSCCNBSWY3DPFQQ", "MZXW6YTBOIXGO2LUNBVWKMZXW6YTBOIX",
    "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"};

static char *write_config_8_seeds(const char *name)
{
    char text[1024];
    size_t off = (size_t)snprintf(text, sizeof(text),
                                  "# xtbench throwaway config, 8 seeds\notp_seed = %s\n"
                                  "token_secret = %s\nwindow = 1\nreplay = off\n",
                                  BENCH_SEED, BENCH_SECRET);
    for (size_t i = 0; i < sizeof(extra_seeds) / sizeof(extra_seeds[0]); i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "otp_seed = %s\n", extra_seeds[i]);
    char *path = path_join(tmp_dir, name);
    write_file(path, 0600, text);
    return path;
}

/* CPU ns per call of n checks of token at now, through the handle v, or
 * with xt_verify_detail on cfg (what the PAM module and `xtoken verify` do)
 * when v is NULL; every answer must be `want`. */
static double ns_per_check(xt_verifier *v, const xt_config *cfg, const char *token, time_t now,
                           size_t n, int want)
{
    uint64_t start = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        int rc = v != NULL ? xt_verifier_verify(v, BENCH_JID, token, strlen(token), now, NULL)
                           : xt_verify_detail(cfg, NULL, BENCH_JID, token, strlen(token), now, NULL);
        if (rc != want)
            die(1, "refusal bench: %s, want %s", xt_strerror(rc), xt_strerror(want));
    }
    return (double)(cpu_ns() - start) / (double)n;
}

/* Costs of one check, in ns: a valid token, and the refusals of a token
 * with a bad signature, of a correctly signed one 2 min old (expired: its
 * step is found and named) and of one 2 h old (past every classified
 * range: the one-shot check's whole search, the worst case). */
struct refusal_costs {
    double ok, bad, expired, ancient;
};

static struct refusal_costs time_refusals(xt_verifier *v, const xt_config *cfg, time_t now,
                                          size_t n_fast, size_t n_slow)
{
    char ok[TOKEN_SLOT], bad[TOKEN_SLOT], expired[TOKEN_SLOT], ancient[TOKEN_SLOT];
    struct refusal_costs c;
    if (xt_issue(cfg, BENCH_JID, now, ok, sizeof(ok)) != XT_OK ||
        xt_issue(cfg, BENCH_JID, now, bad, sizeof(bad)) != XT_OK ||
        xt_issue(cfg, BENCH_JID, now - 120, expired, sizeof(expired)) != XT_OK ||
        xt_issue(cfg, BENCH_JID, now - 7200, ancient, sizeof(ancient)) != XT_OK)
        die(2, "xt_issue failed");
    bad[60] = bad[60] == 'A' ? 'B' : 'A';
    /* warm: a handle makes its tables at the first refusal of a step */
    ns_per_check(v, cfg, expired, now, 1, XT_EXPIRED);
    c.ok = ns_per_check(v, cfg, ok, now, n_fast, XT_OK);
    c.bad = ns_per_check(v, cfg, bad, now, n_fast, XT_BAD_SIGNATURE);
    c.expired = ns_per_check(v, cfg, expired, now, v ? n_fast : n_slow, XT_EXPIRED);
    c.ancient = ns_per_check(v, cfg, ancient, now, v ? n_fast : n_slow, XT_BAD_OTP);
    return c;
}

/* The handle's (extauth, the Lua binding) and the one-shot path's (PAM,
 * `xtoken verify`) costs side by side, median of the rounds, all checks of
 * a round at one `now` (no step change within it). */
static void bench_refusals(const char *conf, const struct sizes *sz, struct refusal_costs *handle,
                           struct refusal_costs *oneshot)
{
    double h[4][9] = {{0}}, o[4][9] = {{0}};
    xt_config *cfg = load_config(conf);
    xt_verifier *v = handle_of(conf);
    for (int r = 0; r < sz->rounds; r++) {
        wait_for_step_room(10);
        time_t now = time(NULL);
        struct refusal_costs a = time_refusals(v, cfg, now, sz->verify_n / 5, 0);
        struct refusal_costs b = time_refusals(NULL, cfg, now, sz->verify_n / 50, sz->refusal_slow_n);
        h[0][r] = a.ok, h[1][r] = a.bad, h[2][r] = a.expired, h[3][r] = a.ancient;
        o[0][r] = b.ok, o[1][r] = b.bad, o[2][r] = b.expired, o[3][r] = b.ancient;
    }
    *handle = (struct refusal_costs){median(h[0], sz->rounds), median(h[1], sz->rounds),
                                     median(h[2], sz->rounds), median(h[3], sz->rounds)};
    *oneshot = (struct refusal_costs){median(o[0], sz->rounds), median(o[1], sz->rounds),
                                      median(o[2], sz->rounds), median(o[3], sz->rounds)};
    xt_verifier_free(v);
    xt_config_free(cfg);
}

/* The reference: HMAC-SHA256 of a token-sized message through a keyed
 * EVP_MAC context re-initialised per call, nothing else. */
static double bench_hmac_limit(const struct sizes *sz)
{
    static const char msg[] = "1234567801234567890123456789012345678901" BENCH_JID;
    static char digest[] = "SHA256";
    double rates[9] = {0};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    unsigned char out[XT_MAC_LEN];
    size_t outlen = 0;
    if (ctx == NULL ||
        EVP_MAC_init(ctx, (const unsigned char *)BENCH_SECRET, strlen(BENCH_SECRET), params) != 1)
        die(2, "EVP_MAC HMAC-SHA256 unavailable");
    for (int r = 0; r < sz->rounds; r++) {
        uint64_t start = cpu_ns();
        for (size_t i = 0; i < sz->verify_n; i++)
            if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1 ||
                EVP_MAC_update(ctx, (const unsigned char *)msg, sizeof(msg) - 1) != 1 ||
                EVP_MAC_final(ctx, out, &outlen, sizeof(out)) != 1)
                die(2, "EVP_MAC failed");
        rates[r] = (double)sz->verify_n / ((double)(cpu_ns() - start) / 1e9);
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return median(rates, sz->rounds);
}

/* ---- child processes ---------------------------------------------------- */

/* Runs argv, captures its stdout (up to outlen-1 bytes); returns the exit
 * status (-1 if it did not exit normally). */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
    int fds[2];
    size_t got = 0;
    int status = 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        die(2, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die(2, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        execv(argv[0], argv);
        fprintf(stderr, "xtbench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], out + got, outlen - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == outlen - 1)
            break;
    }
    out[got] = '\0';
    close(fds[0]);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Rate from a child's "<count> <seconds>" line; dies if it failed. */
static double run_rate(char *const argv[])
{
    char out[256], *end = NULL;
    int rc = run_capture(argv, out, sizeof(out));
    double count = strtod(out, &end);
    double seconds = end != out ? strtod(end, NULL) : 0;
    if (rc != 0 || count <= 0 || seconds <= 0)
        die(1, "%s failed (exit %d)", argv[0], rc);
    return count / seconds;
}

static double bench_python_verify(const struct options *o, const xt_config *cfg,
                                  const struct sizes *sz)
{
    wait_for_step_room(4);
    char *pool = mint_pool(cfg, sz->python_verify_n);
    char *file = write_token_file("python-verify.tokens", pool, sz->python_verify_n);
    char *script = path_join(o->scripts_dir, "ref_verify.py");
    char count[32];
    snprintf(count, sizeof(count), "%zu", sz->python_verify_n);
    char seed[] = BENCH_SEED, secret[] = BENCH_SECRET, jid[] = BENCH_JID;
    char *argv[] = {o->python, script, seed, secret, jid, file, count, NULL};
    double rate = run_rate(argv);
    free(pool);
    free(file);
    free(script);
    return rate;
}

/* ---- PAM round trips ---------------------------------------------------- */

/* A new directory `name` in tmp_dir for PAM service files; its path. */
static char *new_confdir(const char *name)
{
    char *dir = path_join(tmp_dir, name);
    if (mkdir(dir, 0700) != 0)
        die(2, "%s: %s", dir, strerror(errno));
    return dir;
}

static void write_service(const char *confdir, const char *service, const char *text)
{
    char *path = path_join(confdir, service);
    write_file(path, 0644, text);
    free(path);
}

struct pam_rates {
    double xtoken, permit;
};

static struct pam_rates bench_pam(const struct options *o, const xt_config *cfg,
                                  const char *conf_path, const struct sizes *sz)
{
    double xt[9] = {0}, permit[9] = {0};
    char *confdir = new_confdir("pam.d");
    char *module = path_join(o->build_dir, "pam_xtoken.so");
    char *loop = path_join(o->build_dir, "bench/pam_loop");
    char service[1024], count[32], user[] = BENCH_JID;
    char svc_xt[] = "xtbench-xtoken", svc_permit[] = "xtbench-permit";
    snprintf(service, sizeof(service), "auth required %s conf=%s users=any\n", module,
             conf_path);
    write_service(confdir, svc_xt, service);
    write_service(confdir, svc_permit, "auth required pam_permit.so\n");
    snprintf(count, sizeof(count), "%zu", sz->pam_n);
    for (int r = 0; r < sz->rounds; r++) {
        /* Fresh tokens each round: the module's replay store is on. */
        char *pool = mint_pool(cfg, sz->pam_n);
        char *file = write_token_file("pam.tokens", pool, sz->pam_n);
        char *argv_permit[] = {loop, confdir, svc_permit, user, file, count, NULL};
        char *argv_xt[] = {loop, confdir, svc_xt, user, file, count, NULL};
        permit[r] = run_rate(argv_permit);
        xt[r] = run_rate(argv_xt);
        free(pool);
        free(file);
    }
    struct pam_rates rates = {median(xt, sz->rounds), median(permit, sz->rounds)};
    free(confdir);
    free(module);
    free(loop);
    return rates;
}

/* PAM round trips per CPU second refusing, with the 8-seed config at
 * conf, a token with a bad signature (bad) and a correctly signed one 2 h
 * old (ancient: the one-shot check's whole search), rounds interleaved. */
struct pam_refusals {
    double bad, ancient;
};

static struct pam_refusals bench_pam_refusals(const struct options *o, const char *conf,
                                              const struct sizes *sz)
{
    double bad[9] = {0}, ancient[9] = {0};
    char *confdir = new_confdir("pam-refuse.d");
    char *module = path_join(o->build_dir, "pam_xtoken.so");
    char *loop = path_join(o->build_dir, "bench/pam_loop");
    char service[1024], count[32], user[] = BENCH_JID, svc[] = "xtbench-refuse",
                                   refused[] = "refused";
    xt_config *cfg = load_config(conf);
    char tokens[2][TOKEN_SLOT];
    time_t now = time(NULL);
    snprintf(service, sizeof(service), "auth required %s conf=%s\n", module, conf);
    write_service(confdir, svc, service);
    if (xt_issue(cfg, BENCH_JID, now, tokens[0], TOKEN_SLOT) != XT_OK ||
        xt_issue(cfg, BENCH_JID, now - 7200, tokens[1], TOKEN_SLOT) != XT_OK)
        die(2, "xt_issue failed");
    tokens[0][60] = tokens[0][60] == 'A' ? 'B' : 'A';
    char *file_bad = write_token_file("pam-bad.tokens", tokens[0], 1);
    char *file_ancient = write_token_file("pam-ancient.tokens", tokens[1], 1);
    snprintf(count, sizeof(count), "%zu", sz->pam_n);
    for (int r = 0; r < sz->rounds; r++) {
        char *argv_bad[] = {loop, confdir, svc, user, file_bad, count, refused, NULL};
        char *argv_ancient[] = {loop, confdir, svc, user, file_ancient, count, refused, NULL};
        bad[r] = run_rate(argv_bad);
        ancient[r] = run_rate(argv_ancient);
    }
    struct pam_refusals rates = {median(bad, sz->rounds), median(ancient, sz->rounds)};
    xt_config_free(cfg);
    free(file_bad);
    free(file_ancient);
    free(confdir);
    free(module);
    free(loop);
    return rates;
}

/* ---- extauth over a pipe pair ------------------------------------------ */

struct helper {
    pid_t pid;
    int to_fd, from_fd;
};

static struct helper spawn_helper(char *const argv[])
{
    int in[2], out[2];
    struct helper h = {-1, -1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        die(2, "pipe: %s", strerror(errno));
    h.pid = fork();
    if (h.pid < 0)
        die(2, "fork: %s", strerror(errno));
    if (h.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(argv[0], argv);
        fprintf(stderr, "xtbench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    h.to_fd = in[1];
    h.from_fd = out[0];
    return h;
}

/* A field of /proc/PID/status in KiB ("VmHWM:", "RssAnon:"), 0 if unreadable. */
static long status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    long kib = 0;
    size_t len = strlen(field);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, len) == 0) {
            kib = strtol(line + len, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

struct extauth_result {
    double req_per_s, p50_us, p99_us;
    long rss_kib, anon_kib;
};

struct frame {
    unsigned char bytes[FRAME_MAX];
    size_t len;
};

/* ejabberd's request for each token: 2-byte length + "auth:U:S:TOKEN". */
static struct frame *build_frames(const char *pool, size_t n)
{
    struct frame *frames = calloc(n, sizeof(*frames));
    if (frames == NULL)
        die(2, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int len = snprintf((char *)frames[i].bytes + 2, FRAME_MAX - 2, "auth:%s:%s:%s",
                           BENCH_USER, BENCH_DOMAIN, pool + i * TOKEN_SLOT);
        frames[i].bytes[0] = (unsigned char)(len >> 8);
        frames[i].bytes[1] = (unsigned char)len;
        frames[i].len = (size_t)len + 2;
    }
    return frames;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* One request in flight, as ejabberd does: send a frame, wait for the
 * 4-byte answer, which must be yes. The first warmup requests are not
 * timed. The helper's peak RSS is read before its stdin is closed. */
static struct extauth_result run_extauth(char *const argv[], const struct frame *frames,
                                         size_t n, size_t warmup)
{
    static const unsigned char yes[4] = {0, 2, 0, 1};
    struct extauth_result res = {0, 0, 0, 0, 0};
    uint64_t *lat = calloc(n, sizeof(*lat));
    struct helper h = spawn_helper(argv);
    uint64_t start = 0;
    int status = 0;
    if (lat == NULL)
        die(2, "out of memory");
    for (size_t i = 0; i < warmup + n; i++) {
        const struct frame *f = &frames[i % n];
        unsigned char answer[4];
        if (i == warmup)
            start = now_ns();
        uint64_t t0 = now_ns();
        if (write(h.to_fd, f->bytes, f->len) != (ssize_t)f->len ||
            !read_exact(h.from_fd, answer, sizeof(answer)))
            die(1, "%s: helper died at request %zu", argv[0], i);
        if (memcmp(answer, yes, sizeof(yes)) != 0)
            die(1, "%s: request %zu not answered yes", argv[0], i);
        if (i >= warmup)
            lat[i - warmup] = now_ns() - t0;
    }
    uint64_t total = now_ns() - start;
    res.rss_kib = status_kib(h.pid, "VmHWM:");
    res.anon_kib = status_kib(h.pid, "RssAnon:");
    close(h.to_fd);
    close(h.from_fd);
    if (waitpid(h.pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(1, "%s did not exit cleanly at EOF (status %d)", argv[0], status);
    qsort(lat, n, sizeof(*lat), cmp_u64);
    res.req_per_s = (double)n / ((double)total / 1e9);
    size_t p50 = n / 2, p99 = n * 99 / 100;
    res.p50_us = (double)lat[p50] / 1e3;
    res.p99_us = (double)lat[p99] / 1e3;
    free(lat);
    return res;
}

struct extauth_all {
    struct extauth_result xtoken, limit, python;
    long floor_kib; /* peak RSS of a process that only fetches SHA-256 */
};

static struct extauth_all bench_extauth(const struct options *o, const xt_config *cfg,
                                        char *conf_path, const struct sizes *sz)
{
    struct extauth_all all;
    char *xtoken = path_join(o->build_dir, "xtoken");
    char *responder = path_join(o->build_dir, "bench/yes_responder");
    char *script = path_join(o->scripts_dir, "ref_extauth.py");
    char sub[] = "extauth", noreplay[] = "--no-replay", conf_opt[] = "--config";
    char seed[] = BENCH_SEED, secret[] = BENCH_SECRET;
    char *argv_xt[] = {xtoken, sub, conf_opt, conf_path, noreplay, NULL};
    char *argv_limit[] = {responder, NULL};
    char *argv_py[] = {o->python, script, seed, secret, NULL};
    /* Distinct tokens, as a server sees them (replay is off in the helper). */
    char *pool = mint_pool(cfg, sz->extauth_n);
    struct frame *frames = build_frames(pool, sz->extauth_n);
    all.xtoken = run_extauth(argv_xt, frames, sz->extauth_n, sz->warmup_n);
    all.limit = run_extauth(argv_limit, frames, sz->limit_n, sz->warmup_n);
    all.python = run_extauth(argv_py, frames, sz->python_extauth_n, sz->warmup_n);
    char *floor_prog = path_join(o->build_dir, "bench/rss_floor");
    char *argv_floor[] = {floor_prog, NULL};
    char out[64] = "";
    all.floor_kib = run_capture(argv_floor, out, sizeof(out)) == 0 ? strtol(out, NULL, 10) : 0;
    free(floor_prog);
    free(frames);
    free(pool);
    free(xtoken);
    free(responder);
    free(script);
    return all;
}

/* ---- the replay store on Redis ---------------------------------------- */

struct redis_server {
    int port;
    char password[33];
};

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        die(2, "cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

/* hiredis's own blocking client, authenticated: the reference. NULL if the
 * server does not answer (yet). */
static redisContext *redis_client(const struct redis_server *rs)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rs->port, tv);
    redisReply *reply;
    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    reply = redisCommand(c, "AUTH %s", rs->password);
    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        freeReplyObject(reply);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(reply);
    return c;
}

/* redis-server from Debian on 127.0.0.1:<free port> with a random
 * requirepass in its config file, in tmp_dir/redis. */
static void start_redis(struct redis_server *rs)
{
    char *dir = path_join(tmp_dir, "redis"), *conf = path_join(dir, "redis.conf");
    char text[1024];
    if (mkdir(dir, 0700) != 0)
        die(2, "%s: %s", dir, strerror(errno));
    rs->port = free_port();
    if (xt_random_base32(rs->password, sizeof(rs->password) - 1) != XT_OK)
        die(2, "no random password");
    rs->password[sizeof(rs->password) - 1] = '\0';
    snprintf(text, sizeof(text),
             "bind 127.0.0.1\nport %d\ndir %s\nrequirepass %s\nsave \"\"\nappendonly no\n"
             "logfile %s/redis.log\nmaxmemory-policy noeviction\n",
             rs->port, dir, rs->password, dir);
    write_file(conf, 0600, text);
    redis_pid = fork();
    if (redis_pid < 0)
        die(2, "fork: %s", strerror(errno));
    if (redis_pid == 0) {
        setsid();
        execlp("redis-server", "redis-server", conf, (char *)NULL);
        fprintf(stderr, "xtbench: cannot run redis-server (tests/install-deps.sh cluster): %s\n",
                strerror(errno));
        _exit(127);
    }
    for (int i = 0;; i++) {
        redisContext *c = redis_client(rs);
        struct timespec pause = {0, 50000000};
        if (c != NULL) {
            redisFree(c);
            break;
        }
        if (i == 200 || waitpid(redis_pid, NULL, WNOHANG) != 0)
            die(2, "redis-server did not start (log in %s)", dir);
        nanosleep(&pause, NULL);
    }
    free(conf);
    free(dir);
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = -1;
}

static char *write_redis_config(const char *name, const struct redis_server *rs)
{
    char text[1024];
    char *path = path_join(tmp_dir, name);
    snprintf(text, sizeof(text),
             "# xtbench throwaway config\notp_seed = %s\ntoken_secret = %s\nwindow = 1\n"
             "replay = redis://127.0.0.1:%d/0\nredis_password = %s\n",
             BENCH_SEED, BENCH_SECRET, rs->port, rs->password);
    write_file(path, 0600, text);
    return path;
}

/* Wall-clock ns of one PING round trip through hiredis's blocking API
 * and of one xt_verify through one long-lived Redis handle (every token a
 * first use), measured in alternating chunks so that both see the same
 * load on this shared machine. The first PING and the first verify (which
 * connects) are not timed. */
static void time_redis_pair(const struct redis_server *rs, const xt_config *cfg,
                            const xt_config *cfg_redis, size_t n, double *ping_ns,
                            double *verify_ns)
{
    const size_t chunks = 10, per = n / chunks;
    redisContext *c = redis_client(rs);
    xt_replay *replay = NULL;
    uint64_t ping_total = 0, verify_total = 0;
    size_t next = 1;
    char *pool;
    int rc;
    if (c == NULL || xt_replay_open(cfg_redis, &replay) != XT_OK)
        die(2, "cannot reach redis-server");
    wait_for_step_room(6);
    pool = mint_pool(cfg, per * chunks + 1);
    rc = xt_verify(cfg_redis, replay, BENCH_JID, pool, strlen(pool), time(NULL));
    if (rc != XT_OK)
        die(1, "Redis store: %s: %s", xt_strerror(rc), xt_replay_error(replay));
    freeReplyObject(redisCommand(c, "PING"));
    for (size_t k = 0; k < chunks; k++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < per; i++) {
            redisReply *reply = redisCommand(c, "PING");
            if (reply == NULL || reply->type != REDIS_REPLY_STATUS ||
                strcmp(reply->str, "PONG") != 0)
                die(1, "PING not answered PONG");
            freeReplyObject(reply);
        }
        uint64_t t1 = now_ns();
        for (size_t i = 0; i < per; i++, next++) {
            const char *token = pool + next * TOKEN_SLOT;
            rc = xt_verify(cfg_redis, replay, BENCH_JID, token, strlen(token), time(NULL));
            if (rc != XT_OK)
                die(1, "Redis store refused bench token %zu: %s: %s", next, xt_strerror(rc),
                    xt_replay_error(replay));
        }
        ping_total += t1 - t0;
        verify_total += now_ns() - t1;
    }
    rc = xt_verify(cfg_redis, replay, BENCH_JID, pool, strlen(pool), time(NULL));
    if (rc != XT_REPLAYED)
        die(1, "Redis store: a used token was not refused: %s", xt_strerror(rc));
    *ping_ns = (double)ping_total / (double)(per * chunks);
    *verify_ns = (double)verify_total / (double)(per * chunks);
    xt_replay_free(replay);
    redisFree(c);
    free(pool);
}

/* Rate from a pam_loop line's third field (wall seconds). */
static double run_wall_rate(char *const argv[])
{
    char out[256], *end = NULL;
    int rc = run_capture(argv, out, sizeof(out));
    double count = strtod(out, &end), wall;
    strtod(end, &end);
    wall = strtod(end, NULL);
    if (rc != 0 || count <= 0 || wall <= 0)
        die(1, "%s failed (exit %d)", argv[0], rc);
    return count / wall;
}

struct redis_rates {
    double ping_ns, verify_ns, bound_per_s;
    struct extauth_result extauth;
    double pam_per_s, permit_per_s;
};

static struct redis_rates bench_redis(const struct options *o, const xt_config *cfg,
                                      double verify_per_s, const struct sizes *sz)
{
    struct redis_rates res;
    struct redis_server rs;
    double ping[9] = {0}, verify[9] = {0}, pam[9] = {0}, permit[9] = {0};
    char *conf, *xtoken = path_join(o->build_dir, "xtoken"), *confdir;
    char *module = path_join(o->build_dir, "pam_xtoken.so"), *loop;
    char sub[] = "extauth", conf_opt[] = "--config", count[32], user[] = BENCH_JID;
    char svc_redis[] = "xtbench-redis", svc_permit[] = "xtbench-permit2", line[1024];
    xt_config *cfg_redis;
    start_redis(&rs);
    conf = write_redis_config("redis.conf", &rs);
    cfg_redis = load_config(conf);
    for (int r = 0; r < sz->rounds; r++)
        time_redis_pair(&rs, cfg, cfg_redis, sz->redis_n, &ping[r], &verify[r]);
    res.ping_ns = median(ping, sz->rounds);
    res.verify_ns = median(verify, sz->rounds);
    res.bound_per_s = 1e9 / (1e9 / verify_per_s + res.ping_ns);
    /* extauth: distinct fresh tokens, each accepted (first use) */
    {
        char *argv_xt[] = {xtoken, sub, conf_opt, conf, NULL};
        char *pool;
        struct frame *frames;
        wait_for_step_room(10);
        pool = mint_pool(cfg, sz->redis_n);
        frames = build_frames(pool, sz->redis_n);
        res.extauth = run_extauth(argv_xt, frames, sz->redis_n, 0);
        free(frames);
        free(pool);
    }
    /* PAM: a connection per authentication, against pam_permit.so */
    confdir = new_confdir("pam-redis.d");
    loop = path_join(o->build_dir, "bench/pam_loop");
    snprintf(line, sizeof(line), "auth required %s conf=%s users=any\n", module, conf);
    write_service(confdir, svc_redis, line);
    write_service(confdir, svc_permit, "auth required pam_permit.so\n");
    snprintf(count, sizeof(count), "%zu", sz->redis_pam_n);
    for (int r = 0; r < sz->rounds; r++) {
        char *pool = mint_pool(cfg, sz->redis_pam_n);
        char *file = write_token_file("pam-redis.tokens", pool, sz->redis_pam_n);
        char *argv_permit[] = {loop, confdir, svc_permit, user, file, count, NULL};
        char *argv_redis[] = {loop, confdir, svc_redis, user, file, count, NULL};
        permit[r] = run_wall_rate(argv_permit);
        pam[r] = run_wall_rate(argv_redis);
        free(pool);
        free(file);
    }
    res.pam_per_s = median(pam, sz->rounds);
    res.permit_per_s = median(permit, sz->rounds);
    xt_config_free(cfg_redis);
    stop_redis();
    free(conf);
    free(xtoken);
    free(confdir);
    free(module);
    free(loop);
    return res;
}

/* ---- report ------------------------------------------------------------- */

static void print_report(void)
{
    int missed = 0;
    printf("\nIn-process, Python-verify and PAM rates are per CPU second of the measuring\n"
           "process; extauth and pipe figures are wall clock (one request in flight).\n");
    printf("\n%-32s %14s %-8s %-14s %s\n", "figure", "value", "unit", "target", "");
    for (size_t i = 0; i < n_figures; i++) {
        const struct figure *f = &figures[i];
        const char *verdict = f->met < 0 ? "" : f->met ? "met" : "MISSED";
        missed += f->met == 0;
        printf("%-32s %14.*f %-8s %-14s %s\n", f->name, f->value < 100 ? 2 : 0, f->value, f->unit,
               f->target, verdict);
    }
    printf("\n");
    for (size_t i = 0; i < n_figures; i++)
        printf("bench %s %.*f %s\n", figures[i].name, figures[i].value < 100 ? 2 : 0,
               figures[i].value, figures[i].unit);
    printf("\n%d target(s) missed\n", missed);
}

static void parse_args(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            o->quick = 1;
        else if (strcmp(argv[i], "--in-process") == 0)
            o->in_process = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--build") == 0)
            o->build_dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--scripts") == 0)
            o->scripts_dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--python") == 0)
            o->python = argv[++i];
        else
            die(2, "usage: xtbench [--build DIR] [--scripts DIR] [--python PATH] [--quick]\n"
                   "               [--in-process]  (only the in-process figures)");
    }
}

int main(int argc, char **argv)
{
    static char default_build[] = "build", default_scripts[] = "bench",
                default_python[] = "/usr/bin/python3";
    struct options o = {default_build, default_scripts, default_python, 0, 0};
    struct sizes full = {1000000, 10000, 50000, 20000, 3000, 100000, 100000, 30000, 1000, 3,
                         20000, 2000, 30000, 300};
    struct sizes quick = {50000, 1000, 2000, 1000, 200, 2000, 2000, 1000, 100, 1, 2000, 200, 2000,
                          20};
    parse_args(argc, argv, &o);
    const struct sizes *sz = o.quick ? &quick : &full;
    o.build_dir = absolute(o.build_dir);
    o.scripts_dir = absolute(o.scripts_dir);
    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(tmp_dir) == NULL)
        die(2, "mkdtemp: %s", strerror(errno));

    char *store_dir = path_join(tmp_dir, "replay-pam");
    char *conf_off = write_config("noreplay.conf", NULL);
    char *conf_on = write_config("replay.conf", store_dir);
    xt_config *cfg = load_config(conf_off);

    fprintf(stderr, "xtbench: in-process verify...\n");
    double verify = bench_verify(cfg, sz);
    double verify_replay = bench_verify_replay(cfg, sz);
    fprintf(stderr, "xtbench: verifier handle...\n");
    struct handle_rates handle = bench_handle(conf_off, sz);
    double hmac_limit = bench_hmac_limit(sz);
    double overhead = (verify / verify_replay - 1) * 100;
    add_figure("verify_per_s", verify, "1/s", ">= 500000", verify >= 500000);
    add_figure("verify_replay_per_s", verify_replay, "1/s", "", -1);
    add_figure("replay_overhead_pct", overhead, "%", "<= 50", overhead <= 50);
    double handle_overhead = (handle.verify_per_s / handle.replay_per_s - 1) * 100;
    add_figure("handle_verify_per_s", handle.verify_per_s, "1/s", ">= 2000000",
               handle.verify_per_s >= 2000000);
    add_figure("hmac_sha256_limit_per_s", hmac_limit, "1/s", "", -1);
    add_figure("handle_vs_hmac_limit", handle.verify_per_s / hmac_limit, "x", "", -1);
    add_figure("handle_replay_per_s", handle.replay_per_s, "1/s", "", -1);
    add_figure("handle_new_store_per_s", handle.warm_per_s, "1/s", "", -1);
    add_figure("handle_replay_overhead_pct", handle_overhead, "%", "<= 20", handle_overhead <= 20);
    fprintf(stderr, "xtbench: refusals...\n");
    char *conf_8 = write_config_8_seeds("eight-seeds.conf");
    struct refusal_costs rh, ro;
    bench_refusals(conf_8, sz, &rh, &ro);
    double worst = rh.expired > rh.ancient ? rh.expired : rh.ancient;
    double worst_oneshot = ro.expired > ro.ancient ? ro.expired : ro.ancient;
    add_figure("refusal_bad_signature_ns", rh.bad, "ns", "", -1);
    add_figure("refusal_expired_ns", rh.expired, "ns", "", -1);
    add_figure("refusal_ancient_ns", rh.ancient, "ns", "", -1);
    add_figure("refusal_cost_ratio", worst / rh.bad, "x", "<= 3", worst / rh.bad <= 3);
    add_figure("refusal_vs_verify", worst / rh.ok, "x", "<= 3", worst / rh.ok <= 3);
    add_figure("oneshot_refusal_bad_signature_ns", ro.bad, "ns", "", -1);
    add_figure("oneshot_refusal_ancient_ns", ro.ancient, "ns", "", -1);
    add_figure("oneshot_refusal_cost_ratio", worst_oneshot / ro.bad, "x", "", -1);
    add_figure("oneshot_refusal_vs_verify", worst_oneshot / ro.ok, "x", "", -1);
    if (o.in_process)
        goto report;
    fprintf(stderr, "xtbench: python verify...\n");
    double py_verify = bench_python_verify(&o, cfg, sz);
    fprintf(stderr, "xtbench: PAM round trips...\n");
    struct pam_rates pam = bench_pam(&o, cfg, conf_on, sz);
    fprintf(stderr, "xtbench: extauth...\n");
    struct extauth_all ext = bench_extauth(&o, cfg, conf_off, sz);
    fprintf(stderr, "xtbench: replay store on Redis...\n");
    struct redis_rates rd = bench_redis(&o, cfg, verify, sz);

    add_figure("python_verify_per_s", py_verify, "1/s", "", -1);
    add_figure("verify_vs_python", verify / py_verify, "x", ">= 10", verify / py_verify >= 10);
    add_figure("pam_auth_per_s", pam.xtoken, "1/s", "", -1);
    add_figure("pam_permit_per_s", pam.permit, "1/s", "", -1);
    add_figure("pam_vs_permit", pam.xtoken / pam.permit, "x", ">= 0.8",
               pam.xtoken / pam.permit >= 0.8);
    fprintf(stderr, "xtbench: PAM refusals...\n");
    struct pam_refusals pr = bench_pam_refusals(&o, conf_8, sz);
    add_figure("pam_refusal_bad_signature_per_s", pr.bad, "1/s", "", -1);
    add_figure("pam_refusal_ancient_per_s", pr.ancient, "1/s", "", -1);
    /* 2 x 4 steps x 8 seeds OTPs on top of a round trip: about 3x */
    add_figure("pam_refusal_cost_ratio", pr.bad / pr.ancient, "x", "<= 4", pr.bad / pr.ancient <= 4);
    add_figure("pam_refusal_vs_auth", pam.xtoken / pr.ancient, "x", "<= 3",
               pam.xtoken / pr.ancient <= 3);
    add_figure("extauth_req_per_s", ext.xtoken.req_per_s, "1/s", "", -1);
    add_figure("extauth_p50_us", ext.xtoken.p50_us, "us", "", -1);
    add_figure("extauth_p99_us", ext.xtoken.p99_us, "us", "<= 100", ext.xtoken.p99_us <= 100);
    add_figure("pipe_limit_req_per_s", ext.limit.req_per_s, "1/s", "", -1);
    add_figure("pipe_limit_p50_us", ext.limit.p50_us, "us", "", -1);
    add_figure("pipe_limit_p99_us", ext.limit.p99_us, "us", "", -1);
    double vs_limit = ext.xtoken.req_per_s / ext.limit.req_per_s;
    double vs_python = ext.xtoken.req_per_s / ext.python.req_per_s;
    add_figure("extauth_vs_limit", vs_limit, "x", ">= 0.8", vs_limit >= 0.8);
    add_figure("python_extauth_req_per_s", ext.python.req_per_s, "1/s", "", -1);
    add_figure("python_extauth_p99_us", ext.python.p99_us, "us", "", -1);
    add_figure("extauth_vs_python", vs_python, "x", ">= 1.5", vs_python >= 1.5);
    add_figure("extauth_rss_kib", (double)ext.xtoken.rss_kib, "KiB", "<= 4096",
               ext.xtoken.rss_kib > 0 && ext.xtoken.rss_kib <= 4096);
    add_figure("extauth_anon_rss_kib", (double)ext.xtoken.anon_kib, "KiB", "", -1);
    add_figure("openssl_floor_rss_kib", (double)ext.floor_kib, "KiB", "", -1);
    add_figure("python_extauth_rss_kib", (double)ext.python.rss_kib, "KiB", "", -1);
    double verify_redis = 1e9 / rd.verify_ns, vs_bound = verify_redis / rd.bound_per_s;
    add_figure("redis_ping_us", rd.ping_ns / 1e3, "us", "", -1);
    add_figure("verify_redis_per_s", verify_redis, "1/s", "", -1);
    add_figure("verify_redis_bound_per_s", rd.bound_per_s, "1/s", "", -1);
    add_figure("verify_redis_vs_bound", vs_bound, "x", ">= 0.8", vs_bound >= 0.8);
    add_figure("extauth_redis_req_per_s", rd.extauth.req_per_s, "1/s", "", -1);
    add_figure("extauth_redis_p99_us", rd.extauth.p99_us, "us", "", -1);
    add_figure("pam_redis_per_s", rd.pam_per_s, "1/s", "", -1);
    add_figure("pam_permit_wall_per_s", rd.permit_per_s, "1/s", "", -1);
    add_figure("pam_redis_vs_permit", rd.pam_per_s / rd.permit_per_s, "x", "", -1);
report:
    print_report();

    xt_config_free(cfg);
    remove_tree(tmp_dir);
    free(conf_8);
    free(store_dir);
    free(conf_off);
    free(conf_on);
    free(o.build_dir);
    free(o.scripts_dir);
    return 0;
}
