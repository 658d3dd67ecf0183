/* Unit tests of xtoken-credentials (credentials/): the credentials_* keys,
 * the mapping from REMOTE_USER to a JID, the allow-lists, UTF-8 and JSON,
 * and cred_serve's answers. tests/credentials/test_cgi.py runs the built
 * program with a CGI environment. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"

#define SEED   "K5UOYGC3OJ2WG4LX"
#define SECRET "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define KEYS   "otp_seed = " SEED "\ntoken_secret = " SECRET "\n"

static char tmp_dir[256];

static const char *write_file(const char *name, const char *text, unsigned mode)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

static struct cred_conf *conf_ok(const char *text)
{
    char err[XT_ERR_MAX * 2] = "";
    struct cred_conf *conf = NULL;
    int rc = cred_conf_parse(text, strlen(text), "t.conf", &conf, err, sizeof err);

    ck_assert_msg(rc == XT_OK, "config should parse: %s", err);
    return conf;
}

/* The config must be refused with a message containing want. */
static void conf_bad(const char *text, const char *want)
{
    char err[XT_ERR_MAX * 2] = "";
    struct cred_conf *conf = NULL;
    int rc = cred_conf_parse(text, strlen(text), "t.conf", &conf, err, sizeof err);

    ck_assert_int_eq(rc, XT_CONFIG);
    ck_assert_ptr_null(conf);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' should contain '%s'", err, want);
}

START_TEST(test_conf_defaults)
{
    struct cred_conf *conf = conf_ok("# c\ncredentials_domain = a.org\n" KEYS);

    ck_assert_str_eq(conf->domain, "a.org");
    ck_assert_int_eq(conf->realm, CRED_REALM_REFUSE);
    ck_assert_ptr_null(conf->drop_realms);
    ck_assert_int_eq(conf->lowercase, 1);
    ck_assert_str_eq(conf->allow, "any");
    cred_conf_free(conf);
    conf = conf_ok("  credentials_domain=a.org  \r\ncredentials_realm = drop  EXAMPLE.ORG\tb.org\n"
                   "credentials_lowercase = no\ncredentials_allow = group:chat\n"
                   "[a.org]\n" KEYS);
    ck_assert_int_eq(conf->realm, CRED_REALM_DROP);
    ck_assert_str_eq(conf->drop_realms, "EXAMPLE.ORG b.org");
    ck_assert_int_eq(conf->lowercase, 0);
    ck_assert_str_eq(conf->allow, "group:chat");
    cred_conf_free(conf);
}
END_TEST

START_TEST(test_conf_refused)
{
    conf_bad(KEYS, "t.conf: credentials_domain is required");
    conf_bad("credentials_domain = b.org\n[a.org]\n" KEYS,
             "no otp_seed and token_secret serve credentials_domain b.org");
    conf_bad("credentials_domain = A.org\n" KEYS, "not a lowercase domain name");
    conf_bad("credentials_domain = a b\n" KEYS, "not a lowercase domain name");
    conf_bad("credentials_domain = a.org\ncredentials_colour = red\n" KEYS,
             "t.conf:2: unknown key 'credentials_colour'");
    conf_bad("credentials_domain = a.org\ncredentials_domain = a.org\n" KEYS,
             "t.conf:2: credentials_domain given twice");
    conf_bad("[a.org]\n" KEYS "credentials_domain = a.org\n",
             "t.conf:4: credentials_* keys go before the first [domain] section");
    conf_bad("credentials_domain = a.org\ncredentials_realm = sometimes\n" KEYS,
             "t.conf:2: credentials_realm must be");
    conf_bad("credentials_domain = a.org\ncredentials_realm = keep A.ORG\n" KEYS,
             "credentials_realm must be");
    conf_bad("credentials_domain = a.org\ncredentials_realm = drop a@b\n" KEYS,
             "a realm is printable ASCII without '@'");
    conf_bad("credentials_domain = a.org\ncredentials_lowercase = maybe\n" KEYS,
             "credentials_lowercase must be yes or no");
    conf_bad("credentials_domain = a.org\ncredentials_allow = users.txt\n" KEYS,
             "credentials_allow must be");
    conf_bad("credentials_domain = a.org\ncredentials_allow = group:\n" KEYS,
             "credentials_allow must be");
    /* the library's own keys keep their line numbers */
    conf_bad("credentials_domain = a.org\ncredentials_allow = any\n" KEYS "window = 99\n",
             "t.conf:5: window must be");
    conf_bad("credentials_domain = a.org\n", "no otp_seed configured");
}
END_TEST

/* A line typed without its '=' may be a secret: never in a message. */
START_TEST(test_conf_messages_hold_no_value)
{
    char err[XT_ERR_MAX * 2] = "";
    struct cred_conf *conf = NULL;
    static const char text[] = "credentials_domain = a.org\n"
                               "credentials_ZZsecretZZ: value\n" KEYS;

    ck_assert_int_eq(cred_conf_parse(text, strlen(text), "t.conf", &conf, err, sizeof err),
                     XT_CONFIG);
    ck_assert_ptr_null(strstr(err, "ZZsecretZZ"));
    ck_assert_ptr_nonnull(strstr(err, "t.conf:2: expected key = value"));
}
END_TEST

START_TEST(test_conf_load_file_checks)
{
    char err[XT_ERR_MAX * 2] = "";
    struct cred_conf *conf = NULL;
    const char *path = write_file("c.conf", "credentials_domain = a.org\n" KEYS, 0644);

    ck_assert_int_eq(cred_conf_load(path, &conf, err, sizeof err), XT_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "readable by others"));
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(cred_conf_load(path, &conf, err, sizeof err), XT_OK);
    cred_conf_free(conf);
    ck_assert_int_eq(cred_conf_load("/nonexistent/c.conf", &conf, err, sizeof err), XT_CONFIG);
}
END_TEST

/* want: the JID, or NULL with status rc and a reason containing why. */
static void map(const struct cred_conf *conf, const char *user, int rc, const char *want)
{
    char jid[XT_JID_MAX + 1] = "", why[XT_ERR_MAX * 2] = "";
    int got = cred_map_user(conf, user, jid, sizeof jid, why, sizeof why);

    ck_assert_msg(got == rc, "%s: status %d (%s), expected %d", user, got, why, rc);
    if (rc == XT_OK)
        ck_assert_str_eq(jid, want);
    else
        ck_assert_msg(strstr(why, want) != NULL, "%s: '%s' should contain '%s'", user, why, want);
}

START_TEST(test_map_names)
{
    struct cred_conf *conf = conf_ok("credentials_domain = a.org\n" KEYS);
    char longname[XT_JID_MAX + 2];

    map(conf, "alice", XT_OK, "alice@a.org");
    map(conf, "Alice", XT_OK, "alice@a.org");
    map(conf, "zo\xc3\xab", XT_OK, "zo\xc3\xab@a.org"); /* UTF-8 kept as it is */
    map(conf, "back\\slash", XT_OK, "back\\slash@a.org");
    map(conf, "zo\xeb", XT_BAD_USER, "not valid UTF-8");
    map(conf, "a b", XT_BAD_USER, "maps to no valid JID");
    map(conf, "a\"b", XT_BAD_USER, "maps to no valid JID");
    map(conf, "a\nb", XT_BAD_USER, "maps to no valid JID");
    map(conf, "a/b", XT_BAD_USER, "maps to no valid JID");
    map(conf, "alice@A.ORG", XT_BAD_USER, "credentials_realm = refuse");
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    map(conf, longname, XT_BAD_USER, "too long");
    longname[XT_JID_MAX - 5] = '\0'; /* short enough as a name, too long with "@a.org" */
    map(conf, longname, XT_BAD_USER, "maps to no valid JID");
    cred_conf_free(conf);
    conf = conf_ok("credentials_domain = a.org\ncredentials_lowercase = no\n" KEYS);
    map(conf, "alice", XT_OK, "alice@a.org");
    map(conf, "Alice", XT_BAD_USER, "upper-case");
    cred_conf_free(conf);
}
END_TEST

START_TEST(test_map_realms)
{
    struct cred_conf *conf = conf_ok("credentials_domain = a.org\ncredentials_realm = drop\n" KEYS);

    map(conf, "alice@EXAMPLE.ORG", XT_OK, "alice@a.org");
    map(conf, "Alice@x", XT_OK, "alice@a.org");
    map(conf, "alice@", XT_BAD_USER, "empty realm");
    map(conf, "@EXAMPLE.ORG", XT_BAD_USER, "maps to no valid JID");
    map(conf, "alice@x@y", XT_BAD_USER, "more than one '@'");
    cred_conf_free(conf);
    conf = conf_ok("credentials_domain = a.org\ncredentials_realm = drop EXAMPLE.ORG corp\n" KEYS);
    map(conf, "alice@example.org", XT_OK, "alice@a.org");
    map(conf, "alice@CORP", XT_OK, "alice@a.org");
    map(conf, "alice@EXAMPLE.COM", XT_UNKNOWN_DOMAIN, "not one credentials_realm = drop names");
    map(conf, "alice@EXAMPLE", XT_UNKNOWN_DOMAIN, "not one credentials_realm");
    cred_conf_free(conf);
    /* keep: credentials_domain and the sections; the global keys serve any
     * domain but do not make any realm a chat domain */
    conf = conf_ok("credentials_domain = a.org\ncredentials_realm = keep\n" KEYS "[b.org]\n");
    map(conf, "alice", XT_OK, "alice@a.org");
    map(conf, "Alice@A.ORG", XT_OK, "alice@a.org");
    map(conf, "bob@B.org", XT_OK, "bob@b.org");
    map(conf, "carol@c.org", XT_UNKNOWN_DOMAIN, "neither credentials_domain nor a [domain]");
    cred_conf_free(conf);
}
END_TEST

START_TEST(test_map_allow)
{
    char text[1024], why[XT_ERR_MAX * 2], jid[XT_JID_MAX + 1];
    const char *list = write_file("allowed", "alice\nbob@a.org\n", 0644);
    struct cred_conf *conf;

    snprintf(text, sizeof text, "credentials_domain = a.org\ncredentials_allow = %s\n" KEYS, list);
    conf = conf_ok(text);
    map(conf, "Alice", XT_OK, "alice@a.org");
    map(conf, "bob", XT_OK, "bob@a.org");
    map(conf, "carol", XT_UNKNOWN_USER, "not in credentials_allow = ");
    ck_assert_int_eq(chmod(list, 0666), 0); /* writable by others: unusable, not "no" */
    ck_assert_int_eq(cred_map_user(conf, "alice", jid, sizeof jid, why, sizeof why), XT_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "writable by group or others"));
    cred_conf_free(conf);
    conf = conf_ok("credentials_domain = a.org\ncredentials_allow = nss\n" KEYS);
    map(conf, "root", XT_OK, "root@a.org");
    map(conf, "no-such-user-xt", XT_UNKNOWN_USER, "not in credentials_allow = nss");
    cred_conf_free(conf);
    /* Debian's base users: root is in group root, daemon and nobody are not */
    conf = conf_ok("credentials_domain = a.org\ncredentials_allow = group:root\n" KEYS);
    map(conf, "root", XT_OK, "root@a.org");
    map(conf, "daemon", XT_UNKNOWN_USER, "not a member of group root");
    map(conf, "no-such-user-xt", XT_UNKNOWN_USER, "no such user in NSS");
    cred_conf_free(conf);
    conf = conf_ok("credentials_domain = a.org\ncredentials_allow = group:no-such-group-xt\n" KEYS);
    ck_assert_int_eq(cred_map_user(conf, "root", jid, sizeof jid, why, sizeof why), XT_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "group no-such-group-xt does not exist"));
    cred_conf_free(conf);
}
END_TEST

START_TEST(test_utf8)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"plain", 1},
        {"\xc3\xa9", 1},
        {"\xe2\x82\xac", 1},
        {"\xf0\x9f\x98\x80", 1},
        {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
        {"\xc0\x80", 0},
        {"\xc1\xbf", 0},
        {"\xe0\x80\x80", 0}, /* overlong */
        {"\xf0\x80\x80\x80", 0},
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\x80", 0},
        {"\xc3", 0},
        {"\xe2\x82", 0},
        {"\xc3\x28", 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(cred_utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok, "case %zu",
                      i);
}
END_TEST

START_TEST(test_json_escape)
{
    char out[64];

    ck_assert_uint_eq(cred_json_escape("a\"b\\c", out, sizeof out), 7);
    ck_assert_str_eq(out, "a\\\"b\\\\c");
    cred_json_escape("\x01\x1f\x7f", out, sizeof out);
    ck_assert_str_eq(out, "\\u0001\\u001f\\u007f");
    cred_json_escape("zo\xc3\xab", out, sizeof out);
    ck_assert_str_eq(out, "zo\xc3\xab");
    ck_assert_uint_eq(cred_json_escape("abcd", out, 4), 0); /* no room for the NUL */
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(cred_json_escape("ab\\", out, 4), 0);
}
END_TEST

/* cred_serve's whole answer for req, from a temp file. */
static const char *serve(const struct cred_request *req, int want)
{
    static char out[4096];
    FILE *f = tmpfile();
    size_t n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cred_serve(req, fileno(f)), want);
    rewind(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

START_TEST(test_serve)
{
    const char *path = write_file("serve.conf", "credentials_domain = a.org\n" KEYS, 0600);
    struct cred_request req = {.method = "GET",
                               .remote_user = "Alice",
                               .auth_type = "Basic",
                               .config = path,
                               .now = 1700000000};
    const char *out;

    out = serve(&req, 200);
    ck_assert_ptr_nonnull(strstr(out, "Status: 200 OK\nContent-Type: application/json\n"
                                      "Cache-Control: no-store\n"));
    ck_assert_ptr_nonnull(strstr(out, "\n\n{\"jid\": \"alice@a.org\", \"password\": \""));
    req.method = "HEAD";
    out = serve(&req, 405);
    ck_assert_ptr_nonnull(strstr(out, "Allow: GET, POST\n"));
    req.method = NULL;
    serve(&req, 405);
    req.method = "POST";
    req.remote_user = "";
    serve(&req, 401);
    req.remote_user = NULL;
    out = serve(&req, 401);
    ck_assert_ptr_null(strstr(out, "WWW-Authenticate"));
    req.remote_user = "alice";
    req.auth_type = NULL; /* a name nobody says was checked */
    serve(&req, 401);
    req.auth_type = "";
    serve(&req, 401);
    req.auth_type = "Basic";
    req.remote_user = "a'b";
    out = serve(&req, 403);
    ck_assert_ptr_nonnull(strstr(out, "\n\n{\"error\": \"no chat account for this user\"}\n"));
    req.config = "relative.conf";
    serve(&req, 500);
    req.config = "/nonexistent/c.conf";
    req.remote_user = "alice";
    serve(&req, 500);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("credentials");
    TCase *tc = tcase_create("credentials");
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;

    snprintf(tmp_dir, sizeof tmp_dir, "%s/xtoken-cred-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(tmp_dir) == NULL)
        return EXIT_FAILURE;
    tcase_add_test(tc, test_conf_defaults);
    tcase_add_test(tc, test_conf_refused);
    tcase_add_test(tc, test_conf_messages_hold_no_value);
    tcase_add_test(tc, test_conf_load_file_checks);
    tcase_add_test(tc, test_map_names);
    tcase_add_test(tc, test_map_realms);
    tcase_add_test(tc, test_map_allow);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_json_escape);
    tcase_add_test(tc, test_serve);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* the files the tests wrote, then the directory */
    for (const char *const *f = (const char *const[]){"c.conf", "allowed", "serve.conf", NULL}; *f;
         f++) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s", tmp_dir, *f);
        unlink(path);
    }
    rmdir(tmp_dir);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
