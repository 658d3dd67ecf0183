/* The Redis replay store (shared/replay_redis.c): config parsing, the key,
 * fake servers that answer garbage, errors, too slowly or too much, and a
 * real redis-server (started by tests/cluster/run.sh: XT_REDIS_PORT,
 * XT_REDIS_PASSWORD; the test fails if they are missing). */
#include <check.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replay_redis.h"
#include "xtoken.h"

#define SEED     "K5UOYGC3OJ2WG4LX"
#define SECRET   "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define PASSWORD "Pw-never-in-a-message-7d1e"

static char dir[] = "/tmp/xt-check-redis.XXXXXX";
static char sock_path[64];

/* ---- helpers -------------------------------------------------------------- */

/* Parse text as a config: the status, the message in err. */
static int parse(const char *text, xt_config **cfg, char *err, size_t errlen)
{
    err[0] = '\0';
    return xt_config_parse(text, strlen(text), "test.conf", cfg, err, errlen);
}

static xt_config *parse_ok(const char *text)
{
    char err[XT_ERR_MAX];
    xt_config *cfg = NULL;
    int rc = parse(text, &cfg, err, sizeof(err));

    ck_assert_msg(rc == XT_OK, "refused: %s\n%s", err, text);
    return cfg;
}

static void config_text(char *out, size_t len, const char *extra)
{
    snprintf(out, len, "otp_seed = %s\ntoken_secret = %s\n%s\n", SEED, SECRET, extra);
}

static void unique_key(unsigned char key[XT_REPLAY_KEY_LEN])
{
    static unsigned counter;
    unsigned long long stamp = (unsigned long long)time(NULL) * 1000003u + (unsigned)getpid();

    memset(key, 0x5a, XT_REPLAY_KEY_LEN);
    memcpy(key, &stamp, sizeof(stamp));
    counter++;
    memcpy(key + 8, &counter, sizeof(counter));
}

/* A Redis handle from a config naming the fake server's socket. The
 * deadline is 200 ms where a test measures it (EXTRA names
 * redis_timeout_ms), else 2 s: a loaded CI machine may not schedule the
 * fake server within 200 ms, and those tests are not about time. */
static xt_replay *fake_handle(const char *extra)
{
    char text[1024], line[512];
    xt_config *cfg;
    xt_replay *replay = NULL;

    snprintf(line, sizeof(line), "replay = redis+unix://%s\n%s%s", sock_path,
             strstr(extra, "redis_timeout_ms") ? "" : "redis_timeout_ms = 2000\n", extra);
    config_text(text, sizeof(text), line);
    cfg = parse_ok(text);
    ck_assert_int_eq(xt_replay_open(cfg, &replay), XT_OK);
    ck_assert_ptr_nonnull(replay);
    xt_config_free(cfg);
    return replay;
}

/* ---- a fake server: one script per connection ---------------------------- */

struct script {
    const char *reply;  /* written after the request arrived */
    size_t len;         /* 0: strlen(reply) */
    int byte_delay_ms;  /* > 0: one byte at a time */
    int hold_ms;        /* keep the connection open this long, then close */
    int no_read;        /* answer (or close) without reading the request */
    const char *reply2; /* set: read a second request, write this */
};

static pid_t fake_pid = -1;

static void serve(int lfd, const struct script *s)
{
    int c = accept(lfd, NULL, NULL);
    char buf[4096];
    size_t len = s->len ? s->len : strlen(s->reply);

    if (c < 0)
        _exit(3);
    if (!s->no_read && read(c, buf, sizeof(buf)) < 0)
        _exit(5);
    if (s->byte_delay_ms > 0) {
        for (size_t i = 0; i < len; i++) {
            struct timespec d = {0, s->byte_delay_ms * 1000000L};
            if (write(c, s->reply + i, 1) != 1)
                break;
            nanosleep(&d, NULL);
        }
    } else if (len > 0 && write(c, s->reply, len) < 0) {
        _exit(4);
    }
    if (s->reply2 != NULL && (read(c, buf, sizeof(buf)) <= 0 ||
                              write(c, s->reply2, strlen(s->reply2)) < 0))
        _exit(6);
    if (s->hold_ms > 0) {
        struct timespec d = {s->hold_ms / 1000, (s->hold_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    close(c);
}

static void fake_start(const struct script *scripts, int n)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);

    unlink(sock_path);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    fake_pid = fork();
    ck_assert_int_ge(fake_pid, 0);
    if (fake_pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < n; i++)
            serve(lfd, &scripts[i]);
        _exit(0);
    }
    close(lfd);
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGKILL);
        waitpid(fake_pid, NULL, 0);
    }
    fake_pid = -1;
    unlink(sock_path);
}

/* TIME's reply for now + skew, then the SET's reply. */
static void time_then(char *out, size_t len, long skew, const char *set_reply)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%lld", (long long)time(NULL) + skew);
    snprintf(out, len, "*2\r\n$%zu\r\n%s\r\n$6\r\n123456\r\n%s", strlen(secs), secs, set_reply);
}

/* One use against a fake server running `script`: the status, the error. */
static int use_fake(const struct script *script, const char *extra, char *err, size_t errlen)
{
    unsigned char key[XT_REPLAY_KEY_LEN];
    xt_replay *replay = fake_handle(extra);
    int rc;

    unique_key(key);
    fake_start(script, 1);
    rc = xt_replay_use(replay, key, time(NULL) + 300);
    snprintf(err, errlen, "%s", xt_replay_error(replay));
    xt_replay_free(replay);
    fake_stop();
    ck_assert_msg(strstr(err, PASSWORD) == NULL, "password in message: %s", err);
    return rc;
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/fake.sock", dir);
}

static void teardown(void)
{
    fake_stop();
    rmdir(dir);
    strcpy(dir, "/tmp/xt-check-redis.XXXXXX");
}

/* ---- config ---------------------------------------------------------------- */

START_TEST(test_urls_accepted)
{
    static const char *const urls[] = {
        "redis://127.0.0.1",        "redis://127.0.0.1:6380",      "redis://localhost:1/15",
        "redis://[::1]:6379/3",     "redis://redis-1.example.org", "redis://10.0.0.7/65535",
        "redis+unix:///run/redis/redis-server.sock",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char text[512], line[256];
        xt_config *cfg;

        snprintf(line, sizeof(line), "replay = %s", urls[i]);
        config_text(text, sizeof(text), line);
        cfg = parse_ok(text);
        ck_assert_str_eq(xt_config_replay_dir(cfg), urls[i]);
        xt_config_free(cfg);
    }
}
END_TEST

/* Every refusal names the problem and never echoes what was written. */
START_TEST(test_config_refused)
{
    static const struct {
        const char *lines, *reason;
    } bad[] = {
        {"replay = redis://", "want redis://HOST"},
        {"replay = redis://:6379", "want redis://HOST"},
        {"replay = redis://host:0", "port must be"},
        {"replay = redis://host:65536", "port must be"},
        {"replay = redis://host:63x9", "port must be"},
        {"replay = redis://host:", "port must be"},
        {"replay = redis://host/", "database must be"},
        {"replay = redis://host/x", "database must be"},
        {"replay = redis://host/65536", "database must be"},
        {"replay = redis://user:" PASSWORD "@host", "no user or password in the Redis URL"},
        {"replay = redis://:" PASSWORD "@host:6379", "no user or password in the Redis URL"},
        {"replay = redis://host?db=" PASSWORD, "want redis://HOST"},
        {"replay = redis://host:6379/1#x", "database must be"},
        {"replay = redis://ho_st", "want redis://HOST"},
        {"replay = redis://[::1", "want redis://HOST"},
        {"replay = redis://[zz::1]:6379", "want redis://HOST"},
        {"replay = redis+unix://run/redis.sock", "want redis+unix:///ABSOLUTE/PATH"},
        {"replay = redis+unix:///run/redis.sock?db=1", "want redis+unix:///ABSOLUTE/PATH"},
        {"replay = redis+unix:///"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaa",
         "at most 107 bytes"},
        {"replay = rediss://host", "replay must be an absolute directory, a redis:// URL or off"},
        {"replay = redis://host\nreplay = /run/x", "replay given twice"},
        {"replay = redis://host\n[example.org]\nredis_password = " PASSWORD,
         "redis_password can only be set outside [domain] sections"},
        {"replay = /run/pam_xtoken\nredis_password = " PASSWORD, "need replay = redis://"},
        {"redis_timeout_ms = 100", "need replay = redis://"},
        {"replay = redis://host\nredis_user = xtoken", "redis_user needs redis_password"},
        {"replay = redis://host\nredis_password = " PASSWORD "\nredis_password = " PASSWORD "x",
         "each redis_* key may be given once"},
        {"replay = redis://host\nredis_password = " PASSWORD "\nredis_user = a b",
         "redis_user must be"},
        {"replay = redis://host\nredis_timeout_ms = 49", "redis_timeout_ms must be a number from 50 to 5000"},
        {"replay = redis://host\nredis_timeout_ms = 5001", "redis_timeout_ms must be"},
        {"replay = redis://host\nredis_timeout_ms = " PASSWORD, "redis_timeout_ms must be"},
        {"replay = redis://host\nredis_password = ", "redis_password must be 1 to 512 bytes"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024], err[XT_ERR_MAX];
        xt_config *cfg = NULL;

        config_text(text, sizeof(text), bad[i].lines);
        ck_assert_msg(parse(text, &cfg, err, sizeof(err)) == XT_CONFIG, "accepted: %s",
                      bad[i].lines);
        ck_assert_ptr_null(cfg);
        ck_assert_msg(strstr(err, bad[i].reason) != NULL, "%s: message '%s' lacks '%s'",
                      bad[i].lines, err, bad[i].reason);
        ck_assert_msg(strstr(err, PASSWORD) == NULL && strstr(err, "63x9") == NULL &&
                          strstr(err, "ho_st") == NULL,
                      "message echoes a value: %s", err);
    }
}
END_TEST

START_TEST(test_config_limits)
{
    char text[1024];
    xt_config *cfg;
    xt_replay *replay = NULL;

    config_text(text, sizeof(text),
                "replay = redis://127.0.0.1:6390/4\nredis_password = " PASSWORD
                "\nredis_user = xtoken\nredis_timeout_ms = 50");
    cfg = parse_ok(text);
    ck_assert_int_eq(xt_replay_open(cfg, &replay), XT_OK);
    ck_assert_ptr_nonnull(replay);
    ck_assert_str_eq(xt_replay_error(replay), "");
    xt_replay_free(replay);
    xt_config_free(cfg);
    config_text(text, sizeof(text), "replay = redis://h\nredis_timeout_ms = 5000");
    xt_config_free(parse_ok(text));
    /* replay = off still means no store at all */
    config_text(text, sizeof(text), "replay = off");
    cfg = parse_ok(text);
    replay = (xt_replay *)&text; /* must be overwritten with NULL */
    ck_assert_int_eq(xt_replay_open(cfg, &replay), XT_OK);
    ck_assert_ptr_null(replay);
    xt_config_free(cfg);
}
END_TEST

/* The key is a digest of a label and the MAC (vector from Python's hashlib). */
START_TEST(test_key_digest)
{
    unsigned char mac[XT_REPLAY_KEY_LEN];
    char key[XT_REDIS_KEY_LEN + 1];

    for (int i = 0; i < XT_REPLAY_KEY_LEN; i++)
        mac[i] = (unsigned char)i;
    ck_assert_int_eq(xt_redis_key(mac, key), XT_OK);
    ck_assert_str_eq(key, "xtoken:replay:89f500330a1553b373d5720054510d63");
    mac[31] ^= 1;
    ck_assert_int_eq(xt_redis_key(mac, key), XT_OK);
    ck_assert_str_ne(key, "xtoken:replay:89f500330a1553b373d5720054510d63");
}
END_TEST

/* ---- fake servers ----------------------------------------------------------- */

START_TEST(test_fake_ok_and_replayed)
{
    char ok[128], nil[128], err[XT_ERR_MAX];
    struct script s = {0};

    time_then(ok, sizeof(ok), 0, "+OK\r\n");
    s.reply = ok;
    ck_assert_int_eq(use_fake(&s, "", err, sizeof(err)), XT_OK);
    time_then(nil, sizeof(nil), 0, "$-1\r\n");
    s.reply = nil;
    ck_assert_int_eq(use_fake(&s, "", err, sizeof(err)), XT_REPLAYED);
}
END_TEST

/* Every wrong answer is XT_STORE with a reason; none crashes or hangs. */
START_TEST(test_fake_wrong_replies)
{
    static char big[20000];
    char buf[20][160];
    struct {
        const char *reply, *reason;
    } cases[] = {
        {"hello world\r\n", "TIME: malformed reply (protocol error: "},
        {buf[0], "read-only replica"},
        {buf[1], "out of memory"},
        {buf[2], "unexpected reply (an integer, not OK)"},
        {buf[3], "unexpected reply (a string, not OK)"},
        {"+OK\r\n+OK\r\n", "TIME: unexpected reply (a status)"},
        {"*2\r\n$3\r\nabc\r\n$1\r\n0\r\n+OK\r\n", "TIME: unexpected reply (not a number)"},
        {"*2000000000\r\n", "TIME: malformed reply (an array too long"},
        {"*17\r\n", "TIME: malformed reply (an array too long"},
        {"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
         "TIME: malformed reply (an array inside an array"},
        {"*1\r\n*0\r\n+OK\r\n", "TIME: malformed reply (an array inside an array"},
        {buf[4], "unexpected data after the replies"},
        {"", "the server closed the connection"},
        {"*2\r\n$10\r\n", "the server closed the connection"},
        {buf[5], "NOAUTH"},
        {"-ERR unknown command 'TIME'\r\n+OK\r\n", "error reply (ERR unknown command"},
        {"$-5\r\n+OK\r\n", "protocol error"},
        {big, "reply longer than 16384 bytes"},
    };
    time_then(buf[0], sizeof(buf[0]), 0,
              "-READONLY You can't write against a read only replica.\r\n");
    time_then(buf[1], sizeof(buf[1]), 0,
              "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    time_then(buf[2], sizeof(buf[2]), 0, ":1\r\n");
    time_then(buf[3], sizeof(buf[3]), 0, "$2\r\nOK\r\n");
    time_then(buf[4], sizeof(buf[4]), 0, "+OK\r\n+OK\r\n");
    snprintf(buf[5], sizeof(buf[5]), "-NOAUTH Authentication required.\r\n"
                                     "-NOAUTH Authentication required.\r\n");
    memcpy(big, "$19990\r\n", 8);
    memset(big + 8, 'a', sizeof(big) - 9);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct script s = {.reply = cases[i].reply};
        char err[XT_ERR_MAX];
        int rc = use_fake(&s, "", err, sizeof(err));

        ck_assert_msg(rc == XT_STORE, "case %zu: status %d (%s)", i, rc, err);
        ck_assert_msg(strstr(err, cases[i].reason) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                      cases[i].reason);
    }
}
END_TEST

/* RESP3, which hiredis 1.x parses even on a RESP2 connection (0.14 knows
 * none of it), and deep nesting: refused as malformed at every place a
 * reply is read, never a crash, never an answer. The reason names the
 * RESP3 type (hiredis 1.x) or quotes hiredis 0.14's protocol error. */
#if HIREDIS_MAJOR >= 1
#define BY_VERSION(v1, v0) v1
#else
#define BY_VERSION(v1, v0) v0
#endif
static char deep[1000 * 4 + 8];

START_TEST(test_fake_resp3)
{
    static const struct {
        const char *reply, *reason, *alt; /* alt: a hiredis that parses it too */
    } cases[] = {
        {",3.14\r\n", BY_VERSION("(a RESP3 double", "got \",\" as reply type byte"), NULL},
        {"#t\r\n", BY_VERSION("(a RESP3 boolean", "got \"#\" as reply type byte"), NULL},
        {"%1\r\n+a\r\n:1\r\n", BY_VERSION("(a RESP3 map", "got \"%\" as reply type byte"), NULL},
        {"~1\r\n+OK\r\n", BY_VERSION("(a RESP3 set", "got \"~\" as reply type byte"), NULL},
        {">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n",
         BY_VERSION("(a RESP3 push", "got \">\" as reply type byte"), NULL},
        {"(3492890328409238509324850943850943825024385\r\n",
         BY_VERSION("(a RESP3 big number", "got \"(\" as reply type byte"), NULL},
        {"=15\r\ntxt:Some string\r\n",
         BY_VERSION("(a RESP3 verbatim string", "got \"=\" as reply type byte"), NULL},
        {"_\r\n", BY_VERSION("(a RESP3 null", "got \"_\" as reply type byte"), NULL},
        /* hiredis 1.2 has no attributes; later ones parse them */
        {"|1\r\n+ttl\r\n:3600\r\n+OK\r\n", "got \"|\" as reply type byte", "(a RESP3 attribute"},
        {"%-1\r\n", BY_VERSION("(a RESP3 map", "got \"%\" as reply type byte"), NULL},
        {"*2\r\n,1.5\r\n$6\r\n123456\r\n",
         BY_VERSION("(a RESP3 double", "got \",\" as reply type byte"), NULL},
        {deep, "(an array inside an array", NULL},
    };
    /* where: TIME (first), SET (after a good TIME), AUTH (a password set) */
    for (int where = 0; where < 3; where++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            static const char *const command[] = {"TIME: ", "SET: ", "AUTH: "};
            char reply[4200], err[XT_ERR_MAX];
            struct script s = {.reply = reply};
            int rc;

            for (int d = 0; d < 1000; d++)
                memcpy(deep + 4 * d, "*1\r\n", 4);
            memcpy(deep + 4000, ":1\r\n", 5);
            if (where == 1)
                time_then(reply, sizeof(reply), 0, cases[i].reply);
            else
                snprintf(reply, sizeof(reply), "%s+OK\r\n", cases[i].reply);
            rc = use_fake(&s, where == 2 ? "redis_password = " PASSWORD : "", err, sizeof(err));
            ck_assert_msg(rc == XT_STORE, "%s%s: status %d (%s)", command[where], cases[i].reply,
                          rc, err);
            ck_assert_msg(strstr(err, command[where]) && strstr(err, "malformed reply (") &&
                              (strstr(err, cases[i].reason) ||
                               (cases[i].alt && strstr(err, cases[i].alt))),
                          "%s%.20s: '%s' lacks '%s'", command[where], cases[i].reply, err,
                          cases[i].reason);
        }
    }
}
END_TEST

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Silence, and a reply trickling in a byte at a time, both fail at the one
 * deadline of the use (200 ms here), not per system call. */
START_TEST(test_fake_slow)
{
    char ok[128], err[XT_ERR_MAX];
    struct script silent = {.reply = "", .hold_ms = 1500};
    struct script trickle = {.reply = ok, .byte_delay_ms = 40, .hold_ms = 500};
    struct timespec t0;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(use_fake(&silent, "redis_timeout_ms = 200", err, sizeof(err)), XT_STORE);
    ms = elapsed_ms(&t0);
    ck_assert_msg(strstr(err, "no reply within 200 ms") != NULL, "%s", err);
    ck_assert_msg(ms >= 190 && ms < 450, "silent server: %ld ms", ms);
    time_then(ok, sizeof(ok), 0, "+OK\r\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(use_fake(&trickle, "redis_timeout_ms = 200", err, sizeof(err)), XT_STORE);
    ms = elapsed_ms(&t0);
    ck_assert_msg(strstr(err, "no reply within 200 ms") != NULL, "%s", err);
    ck_assert_msg(ms < 450 + 500, "trickling server held the use %ld ms", ms);
}
END_TEST

/* A server clock past the entry's expiry would drop the key silently. */
START_TEST(test_fake_clock_ahead)
{
    char ahead[128], err[XT_ERR_MAX];
    struct script s = {.reply = ahead};

    time_then(ahead, sizeof(ahead), 400, "+OK\r\n");
    ck_assert_int_eq(use_fake(&s, "", err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, "clock is 400 s ahead") != NULL, "%s", err);
    time_then(ahead, sizeof(ahead), 299, "+OK\r\n"); /* 1 s left: still refused */
    ck_assert_int_eq(use_fake(&s, "", err, sizeof(err)), XT_STORE);
    time_then(ahead, sizeof(ahead), 250, "+OK\r\n");
    ck_assert_int_eq(use_fake(&s, "", err, sizeof(err)), XT_OK);
}
END_TEST

/* AUTH and SELECT go first; a server echoing the password never gets it
 * into a message. */
START_TEST(test_fake_auth)
{
    char ok[256], err[XT_ERR_MAX];
    struct script s = {.reply = "+OK\r\n", .reply2 = ok};

    time_then(ok, sizeof(ok), 0, "+OK\r\n");
    ck_assert_int_eq(use_fake(&s, "redis_password = " PASSWORD, err, sizeof(err)), XT_OK);
    s.reply2 = NULL;
    s.reply = "-WRONGPASS invalid username-password pair " PASSWORD " or user is disabled.\r\n";
    ck_assert_int_eq(use_fake(&s, "redis_password = " PASSWORD "\nredis_user = xt", err,
                              sizeof(err)),
                     XT_STORE);
    ck_assert_msg(strstr(err, "AUTH: authentication failed") && strstr(err, "pair *** or"), "%s",
                  err);
    s.reply = "+OK\r\n"; /* then it hangs up */
    ck_assert_int_eq(use_fake(&s, "redis_password = " PASSWORD, err, sizeof(err)), XT_STORE);
    ck_assert_msg(strstr(err, "read: ") != NULL || strstr(err, "send: ") != NULL, "%s", err);
}
END_TEST

/* After an error the same handle connects afresh; a kept connection the
 * server closed meanwhile is replaced before the next use sends anything. */
START_TEST(test_fake_reconnect)
{
    char ok[128];
    unsigned char key[XT_REPLAY_KEY_LEN];
    struct script scripts[3] = {{.reply = "garbage\r\n"}, {.reply = ok}, {.reply = ok}};
    xt_replay *replay = fake_handle("");
    time_t now = time(NULL);

    time_then(ok, sizeof(ok), 0, "+OK\r\n");
    fake_start(scripts, 3);
    unique_key(key);
    ck_assert_int_eq(xt_replay_use(replay, key, now + 300), XT_STORE);
    ck_assert_int_eq(xt_replay_use(replay, key, now + 300), XT_OK);
    /* the fake server closes each connection after its reply */
    usleep(100 * 1000);
    ck_assert_msg(xt_replay_use(replay, key, now + 300) == XT_OK, "%s",
                  xt_replay_error(replay));
    xt_replay_free(replay);
}
END_TEST

START_TEST(test_unreachable)
{
    char err[XT_ERR_MAX];
    unsigned char key[XT_REPLAY_KEY_LEN];
    xt_replay *replay = fake_handle(""); /* nobody listens on the socket */

    unique_key(key);
    ck_assert_int_eq(xt_replay_use(replay, key, time(NULL) + 300), XT_STORE);
    snprintf(err, sizeof(err), "%s", xt_replay_error(replay));
    ck_assert_msg(strstr(err, "connect: No such file or directory") != NULL, "%s", err);
    xt_replay_free(replay);
}
END_TEST

/* ---- the real server ------------------------------------------------------ */

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);

    ck_assert_msg(v != NULL && *v, "%s not set: run through tests/cluster/run.sh", name);
    return v;
}

static xt_replay *real_handle(const char *user, const char *password, unsigned db)
{
    char text[1024], line[512];
    xt_config *cfg;
    xt_replay *replay = NULL;

    snprintf(line, sizeof(line), "replay = redis://127.0.0.1:%s/%u\nredis_password = %s\n%s%s",
             env_or_fail("XT_REDIS_PORT"), db, password, user ? "redis_user = " : "",
             user ? user : "");
    config_text(text, sizeof(text), line);
    cfg = parse_ok(text);
    ck_assert_int_eq(xt_replay_open(cfg, &replay), XT_OK);
    xt_config_free(cfg);
    return replay;
}

/* hiredis's own client, to look at what the store wrote. */
static redisContext *inspector(unsigned db)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", atoi(env_or_fail("XT_REDIS_PORT")), tv);
    redisReply *reply;

    ck_assert_msg(c != NULL && c->err == 0, "inspector cannot connect");
    reply = redisCommand(c, "AUTH %s", env_or_fail("XT_REDIS_PASSWORD"));
    ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(c, "SELECT %u", db);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    return c;
}

static long long command_integer(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *reply = redisCommand(c, fmt, arg);
    long long v;

    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(reply->type, REDIS_REPLY_INTEGER);
    v = reply->integer;
    freeReplyObject(reply);
    return v;
}

START_TEST(test_real_single_use)
{
    unsigned char key[XT_REPLAY_KEY_LEN];
    char name[XT_REDIS_KEY_LEN + 1];
    xt_replay *a = real_handle(NULL, env_or_fail("XT_REDIS_PASSWORD"), 9);
    xt_replay *b = real_handle(NULL, env_or_fail("XT_REDIS_PASSWORD"), 9);
    redisContext *c = inspector(9);
    time_t now = time(NULL);
    redisReply *reply;

    unique_key(key);
    ck_assert_int_eq(xt_redis_key(key, name), XT_OK);
    ck_assert_msg(xt_replay_use(a, key, now + 100) == XT_OK, "%s", xt_replay_error(a));
    ck_assert_int_eq(xt_replay_use(a, key, now + 100), XT_REPLAYED);
    ck_assert_int_eq(xt_replay_use(b, key, now + 100), XT_REPLAYED);
    /* one key, value "1", expiring exactly at `expires` */
    ck_assert_int_eq(command_integer(c, "EXPIRETIME %s", name), now + 100);
    reply = redisCommand(c, "GET %s", name);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(reply->str, "1");
    freeReplyObject(reply);
    /* already expired: refused, nothing written */
    key[0] ^= 0xff;
    ck_assert_int_eq(xt_redis_key(key, name), XT_OK);
    ck_assert_int_eq(xt_replay_use(b, key, now - 1), XT_EXPIRED);
    ck_assert_int_eq(command_integer(c, "EXISTS %s", name), 0);
    redisFree(c);
    xt_replay_free(a);
    xt_replay_free(b);
}
END_TEST

/* A Redis 6 ACL user limited to the replay keys and the commands used. */
START_TEST(test_real_acl_user)
{
    unsigned char key[XT_REPLAY_KEY_LEN];
    redisContext *c = inspector(0);
    redisReply *reply = redisCommand(c, "ACL SETUSER xt-check on >%s ~xtoken:replay:* resetchannels "
                                        "-@all +set +time +ping +select",
                                     "acl-" PASSWORD);
    xt_replay *good, *bad;
    time_t now = time(NULL);

    ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    good = real_handle("xt-check", "acl-" PASSWORD, 0);
    bad = real_handle("xt-check", "wrong-" PASSWORD, 0);
    unique_key(key);
    ck_assert_msg(xt_replay_use(good, key, now + 60) == XT_OK, "%s", xt_replay_error(good));
    ck_assert_int_eq(xt_replay_use(good, key, now + 60), XT_REPLAYED);
    key[1] ^= 0xff;
    ck_assert_int_eq(xt_replay_use(bad, key, now + 60), XT_STORE);
    ck_assert_msg(strstr(xt_replay_error(bad), "AUTH: authentication failed") != NULL, "%s",
                  xt_replay_error(bad));
    ck_assert(strstr(xt_replay_error(bad), PASSWORD) == NULL);
    reply = redisCommand(c, "ACL DELUSER xt-check");
    freeReplyObject(reply);
    redisFree(c);
    xt_replay_free(good);
    xt_replay_free(bad);
}
END_TEST

/* A handle used before a fork works in both processes: the child does not
 * talk over its parent's connection. */
START_TEST(test_real_fork)
{
    unsigned char key[XT_REPLAY_KEY_LEN];
    xt_replay *r = real_handle(NULL, env_or_fail("XT_REDIS_PASSWORD"), 9);
    time_t now = time(NULL);
    int status = 0;
    pid_t pid;

    unique_key(key);
    ck_assert_int_eq(xt_replay_use(r, key, now + 60), XT_OK);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char k2[XT_REPLAY_KEY_LEN];

        memcpy(k2, key, sizeof(k2));
        k2[2] ^= 0xff;
        _exit(xt_replay_use(r, key, now + 60) == XT_REPLAYED &&
                      xt_replay_use(r, k2, now + 60) == XT_OK
                  ? 0
                  : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    key[3] ^= 0xff;
    ck_assert_int_eq(xt_replay_use(r, key, now + 60), XT_OK);
    xt_replay_free(r);
}
END_TEST

/* xt_replay_probe: connected, authenticated, PING, clocks, eviction. */
START_TEST(test_real_probe)
{
    char report[1024], warning[1024];
    xt_replay *r = real_handle(NULL, env_or_fail("XT_REDIS_PASSWORD"), 0);
    xt_replay *wrong = real_handle(NULL, "wrong-" PASSWORD, 0);
    redisContext *c = inspector(0);
    redisReply *reply;

    ck_assert_int_eq(xt_replay_probe(r, report, sizeof(report), warning, sizeof(warning)), XT_OK);
    ck_assert_msg(strstr(report, "connected, authenticated, PING answered in") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "maxmemory-policy noeviction") != NULL, "%s", report);
    ck_assert_str_eq(warning, "");
    reply = redisCommand(c, "CONFIG SET maxmemory-policy allkeys-lru");
    freeReplyObject(reply);
    reply = redisCommand(c, "CONFIG SET maxmemory 100mb");
    freeReplyObject(reply);
    ck_assert_int_eq(xt_replay_probe(r, report, sizeof(report), warning, sizeof(warning)), XT_OK);
    ck_assert_msg(strstr(warning, "allkeys-lru can evict replay entries") != NULL, "%s", warning);
    reply = redisCommand(c, "CONFIG SET maxmemory-policy volatile-ttl");
    freeReplyObject(reply);
    ck_assert_int_eq(xt_replay_probe(r, report, sizeof(report), warning, sizeof(warning)), XT_OK);
    ck_assert_str_eq(warning, "");
    ck_assert_msg(strstr(report, "volatile-ttl evicts keys with an expiry") != NULL, "%s", report);
    reply = redisCommand(c, "CONFIG SET maxmemory-policy noeviction");
    freeReplyObject(reply);
    reply = redisCommand(c, "CONFIG SET maxmemory 0");
    freeReplyObject(reply);
    ck_assert_int_eq(xt_replay_probe(wrong, report, sizeof(report), warning, sizeof(warning)),
                     XT_STORE);
    ck_assert_msg(strstr(xt_replay_error(wrong), "authentication failed") != NULL, "%s",
                  xt_replay_error(wrong));
    redisFree(c);
    xt_replay_free(r);
    xt_replay_free(wrong);
}
END_TEST

static Suite *redis_suite(void)
{
    Suite *s = suite_create("replay_redis");
    TCase *config = tcase_create("config");
    TCase *fake = tcase_create("fake servers");
    TCase *real = tcase_create("redis-server");

    tcase_add_test(config, test_urls_accepted);
    tcase_add_test(config, test_config_refused);
    tcase_add_test(config, test_config_limits);
    tcase_add_test(config, test_key_digest);
    tcase_add_checked_fixture(fake, setup, teardown);
    tcase_set_timeout(fake, 30);
    tcase_add_test(fake, test_fake_ok_and_replayed);
    tcase_add_test(fake, test_fake_wrong_replies);
    tcase_add_test(fake, test_fake_resp3);
    tcase_add_test(fake, test_fake_slow);
    tcase_add_test(fake, test_fake_clock_ahead);
    tcase_add_test(fake, test_fake_auth);
    tcase_add_test(fake, test_fake_reconnect);
    tcase_add_test(fake, test_unreachable);
    tcase_add_test(real, test_real_single_use);
    tcase_add_test(real, test_real_acl_user);
    tcase_add_test(real, test_real_fork);
    tcase_add_test(real, test_real_probe);
    suite_add_tcase(s, config);
    suite_add_tcase(s, fake);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(redis_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
