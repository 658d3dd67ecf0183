/* Unit tests: the config parser, its errors, and file safety. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "unit.h"

#define SEED   "K5UOYGC3OJ2WG4LX"
#define SECRET "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define KEYS   "otp_seed = " SEED "\ntoken_secret = " SECRET "\n"

/* Parse text that must fail; the message must contain `expect` and must
 * not contain either secret. */
static void parse_fails(const char *text, size_t len, const char *expect)
{
    char err[XT_ERR_MAX] = "";
    xt_config *cfg = NULL;

    ck_assert_int_eq(xt_config_parse(text, len, "t.conf", &cfg, err, sizeof(err)), XT_CONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, expect) != NULL, "'%s' should contain '%s'", err, expect);
    ck_assert_msg(strstr(err, SECRET) == NULL && strstr(err, "SHORTSECRET") == NULL &&
                      strstr(err, "K5UOYG") == NULL,
                  "error message leaks a secret: %s", err);
}

#define FAILS(text, expect) parse_fails((text), strlen(text), (expect))

START_TEST(test_parser_errors)
{
    char longline[2048];

    FAILS("colour = blue\n" KEYS, "t.conf:1: unknown key 'colour'");
    FAILS(KEYS "otp_seed = K5UOYGC3OJ2WG4L1\n", "t.conf:3: otp_seed is not valid base32");
    FAILS("otp_seed =\n" KEYS, "t.conf:1: empty otp_seed");
    FAILS("otp_seed = MZXW6YTB\n" KEYS, "t.conf:1: otp_seed decodes to 5 bytes");
    FAILS("otp_seed = " SEED "\ntoken_secret =\n", "t.conf:2: empty token_secret");
    FAILS("otp_seed = " SEED "\ntoken_secret = SHORTSECRET\n",
          "t.conf:2: token_secret is 11 bytes");
    FAILS("[a.org]\n" KEYS "[a.org]\n", "t.conf:4: duplicate section [a.org]");
    FAILS("[A.org]\n" KEYS, "t.conf:1: bad domain name");
    FAILS("[a.org\n" KEYS, "t.conf:1: section header");
    FAILS("window = 1\nwindow = 2\n" KEYS, "t.conf:2: window given twice");
    FAILS("window = 11\n" KEYS, "window must be a number from 0 to 10");
    FAILS("window = -1\n" KEYS, "window must be");
    FAILS("window = 1x\n" KEYS, "window must be");
    FAILS("digits = 9\n" KEYS, "digits must be a number from 6 to 8");
    FAILS("interval = 0\n" KEYS, "interval must be");
    FAILS("replay = relative/dir\n" KEYS, "replay must be an absolute directory, a redis:// URL or off");
    FAILS("[a.org]\nreplay = off\n" KEYS, "replay can only be set outside");
    FAILS("just words\n", "t.conf:1: expected key = value");
    FAILS("= value\n", "t.conf:1: missing key");
    FAILS("otp_seed = " SEED "\n", "t.conf: no token_secret configured");
    FAILS("", "no otp_seed configured");
    FAILS("otp_seed = " SEED "\n[a.org]\n", "[a.org] has no token_secret");
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "token_secret = ", 15);
    longline[sizeof(longline) - 1] = '\0';
    FAILS(longline, "t.conf:1: line longer than 1024 bytes");
    parse_fails("otp_seed = " SEED "\ntoken_sec\0ret = x\n", 40, "t.conf:2: NUL byte");
}
END_TEST

START_TEST(test_sections_inherit)
{
    xt_config *cfg = unit_config("# comment\n\n  otp_seed = " SEED "  \r\n"
                                 "token_secret = " SECRET "\nwindow = 2\n"
                                 "[a.org]\ntoken_secret = ANOTHERSECRET0123456789=#\n"
                                 "[b.org]\nwindow = 0\ndigits = 6\n");
    struct xt_domain_info info;

    ck_assert_uint_eq(xt_config_domain_count(cfg), 3);
    ck_assert_int_eq(xt_config_domain_info(cfg, 0, &info), XT_OK);
    ck_assert_str_eq(info.name, "a.org");
    ck_assert_uint_eq(info.n_seeds, 1);
    ck_assert_uint_eq(info.n_secrets, 1);
    ck_assert_uint_eq(info.window, 2);
    ck_assert_int_eq(xt_config_domain_info(cfg, 1, &info), XT_OK);
    ck_assert_str_eq(info.name, "b.org");
    ck_assert_uint_eq(info.window, 0);
    ck_assert_uint_eq(info.digits, 6);
    ck_assert_uint_eq(info.interval, 30);
    ck_assert_int_eq(xt_config_domain_info(cfg, 2, &info), XT_OK);
    ck_assert_str_eq(info.name, "*");
    ck_assert_int_eq(xt_config_domain_info(cfg, 3, &info), XT_CONFIG);
    ck_assert_int_eq(xt_config_has_domain(cfg, "anything.net"), XT_OK);
    /* the secret is the bytes as written, '=' and '#' included */
    ck_assert_str_eq(cfg->sections[0].secrets[0].text, "ANOTHERSECRET0123456789=#");
    ck_assert_str_eq(xt_config_replay_dir(cfg), XT_DEFAULT_REPLAY_DIR);
    ck_assert_int_eq(xt_config_set_window(cfg, 11, NULL, 0), XT_CONFIG);
    ck_assert_int_eq(xt_config_set_window(cfg, 4, NULL, 0), XT_OK);
    ck_assert_int_eq(xt_config_domain_info(cfg, 1, &info), XT_OK);
    ck_assert_uint_eq(info.window, 4);
    ck_assert_uint_eq(info.nonce_digits, 32);
    xt_config_free(cfg);
}
END_TEST

/* The window override (PAM window=N) obeys the same lifetime rule as the
 * file, and a refused override changes nothing. */
START_TEST(test_window_override_lifetime)
{
    xt_config *cfg = unit_config(KEYS "[slow.org]\ninterval = 60\n");
    struct xt_domain_info info;
    char err[XT_ERR_MAX] = "";

    ck_assert_int_eq(xt_config_set_window(cfg, 10, err, sizeof(err)), XT_CONFIG);
    ck_assert_msg(strstr(err, "window=10 for [slow.org]: interval x (window + 1) = 660 s") != NULL,
                  "%s", err);
    ck_assert_int_eq(xt_config_domain_info(cfg, 0, &info), XT_OK);
    ck_assert_uint_eq(info.window, 1);
    ck_assert_int_eq(xt_config_set_window(cfg, 4, err, sizeof(err)), XT_OK);
    ck_assert_int_eq(xt_config_domain_info(cfg, 0, &info), XT_OK);
    ck_assert_uint_eq(info.window, 4);
    xt_config_free(cfg);
}
END_TEST

/* nonce_digits: global, per section (inherited), bounds. */
START_TEST(test_nonce_digits)
{
    xt_config *cfg = unit_config("nonce_digits = 20\n" KEYS "[a.org]\n[b.org]\nnonce_digits = 40\n");
    struct xt_domain_info info;

    ck_assert_int_eq(xt_config_domain_info(cfg, 0, &info), XT_OK);
    ck_assert_uint_eq(info.nonce_digits, 20);
    ck_assert_int_eq(xt_config_domain_info(cfg, 1, &info), XT_OK);
    ck_assert_uint_eq(info.nonce_digits, 40);
    xt_config_free(cfg);
    FAILS("nonce_digits = 15\n" KEYS, "t.conf:1: nonce_digits must be a number from 16 to 128");
    FAILS("nonce_digits = 129\n" KEYS, "nonce_digits must be a number from 16 to 128");
    FAILS("nonce_digits = 20\nnonce_digits = 20\n" KEYS, "nonce_digits given twice");
}
END_TEST

/* A token may not outlive what every replay store keeps: interval x
 * (window + 1) <= XT_LIFETIME_MAX, in every scope after inheritance. */
START_TEST(test_lifetime_limit)
{
    xt_config *cfg = unit_config("window = 10\n" KEYS); /* 330 s: the limit */

    xt_config_free(cfg);
    FAILS("interval = 60\nwindow = 5\n" KEYS,
          "t.conf: [*]: interval x (window + 1) = 360 s: a token would outlive the 330 s");
    FAILS("interval = 3600\n" KEYS, "= 7200 s");
    FAILS(KEYS "[a.org]\ninterval = 120\nwindow = 2\n", "t.conf: [a.org]: interval x");
    /* a global scope without keys is checked through the sections it feeds */
    FAILS("interval = 200\n[a.org]\n" KEYS, "[a.org]: interval x (window + 1) = 400 s");
}
END_TEST

/* The example keys published in the seeds' documentation are refused in
 * any scope, the seed in any case or padding, the secret in any case, and
 * so is the example config's placeholder. */
START_TEST(test_published_keys_refused)
{
    FAILS("otp_seed = XVGR73KMZH2M4XMY\ntoken_secret = " SECRET "\n",
          "t.conf:1: otp_seed is the example seed published");
    FAILS(KEYS "[a.org]\notp_seed = xvgr73kmzh2m4xmy====\n", "t.conf:4: otp_seed is the example");
    FAILS("otp_seed = " SEED "\ntoken_secret = JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7\n",
          "t.conf:2: token_secret is the example secret published");
    FAILS("otp_seed = " SEED "\n[b.org]\ntoken_secret = jyxex4iqoeyfyq2s3mc5p4zt4sdhyea7\n",
          "t.conf:3: token_secret is the example secret");
    FAILS("otp_seed = " SEED "\ntoken_secret = <secret from xtoken keygen>\n",
          "t.conf:2: token_secret is still a <placeholder>");
    /* zero bytes appended (base32 'A' is 0): HMAC pads keys with zeros,
     * so these are the published seed to HMAC-SHA1 */
    FAILS("otp_seed = XVGR73KMZH2M4XMYAA\ntoken_secret = " SECRET "\n",
          "t.conf:1: otp_seed is the example seed published");
    FAILS("otp_seed = xvgr73kmzh2m4xmyaaaaaaaa\ntoken_secret = " SECRET "\n",
          "t.conf:1: otp_seed is the example seed published");
    /* padded to exactly the 64-byte block: still the same key (103
     * characters are 64 bytes); one byte more and the key is hashed first,
     * which makes it another key */
    char seed[200] = "XVGR73KMZH2M4XMY", conf[300];
    memset(seed + 16, 'A', 87);
    snprintf(conf, sizeof(conf), KEYS "[a.org]\notp_seed = %s\n", seed);
    FAILS(conf, "t.conf:4: otp_seed is the example seed published");
    memset(seed + 16, 'A', 88);
    snprintf(conf, sizeof(conf), KEYS "[a.org]\notp_seed = %s\n", seed);
    xt_config_free(unit_config(conf));
}
END_TEST

/* What the published-key checks compare: the 64-byte key block HMAC
 * really uses. Trailing zeros do not change a key; a key longer than the
 * block is its digest; anything else does change it. */
START_TEST(test_hmac_key_blocks)
{
    unsigned char key[100], digest[32];
    unsigned int n = 0;

    memset(key, 0, sizeof(key));
    memcpy(key, "0123456789", 10);
    ck_assert_int_eq(xt_hmac_same_key("SHA1", key, 10, key, 11), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA1", key, 10, key, 64), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA256", key, 10, key, 40), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA1", key, 10, key, 9), 0);
    ck_assert_int_eq(xt_hmac_same_key("SHA1", key, 10, key, 65), 0); /* hashed: another key */
    memset(key, 'k', sizeof(key));
    ck_assert_int_eq(EVP_Digest(key, 100, digest, &n, EVP_sha1(), NULL), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA1", key, 100, digest, 20), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA256", key, 100, digest, 20), 0);
    ck_assert_int_eq(EVP_Digest(key, 100, digest, &n, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA256", key, 100, digest, 32), 1);
    ck_assert_int_eq(xt_hmac_same_key("SHA256", key, 64, key, 65), 0);
}
END_TEST

/* A key typed without its '=' ("token_secret: <value with =>") must not
 * echo the value: only a key-shaped name is ever quoted. */
START_TEST(test_no_value_in_messages)
{
    FAILS("otp_seed = " SEED "\ntoken_secret: " SECRET "=tail\n",
          "t.conf:2: malformed line (expected key = value)");
    FAILS("otp_seed = " SEED "\nTOKEN_SECRET = " SECRET "\n", "t.conf:2: malformed line");
    FAILS("a_key_name_that_is_longer_than_32_chars = 1\n" KEYS, "t.conf:1: malformed line");
    FAILS("colour_x = blue\n" KEYS, "t.conf:1: unknown key 'colour_x'");
}
END_TEST

/* With no global keys only the listed domains are known. */
START_TEST(test_sections_only)
{
    xt_config *cfg = unit_config("replay = off\n[a.org]\n" KEYS);

    ck_assert_uint_eq(xt_config_domain_count(cfg), 1);
    ck_assert_int_eq(xt_config_has_domain(cfg, "a.org"), XT_OK);
    ck_assert_int_eq(xt_config_has_domain(cfg, "b.org"), XT_UNKNOWN_DOMAIN);
    ck_assert_ptr_null(xt_config_replay_dir(cfg));
    xt_config_free(cfg);
}
END_TEST

START_TEST(test_base32)
{
    unsigned char out[64];

    ck_assert_uint_eq(xt_base32_decode("xvgr73kmzh2m4xmy", 16, out, sizeof(out)), 10);
    ck_assert_uint_eq(xt_base32_decode("MZXW6YQ=", 8, out, sizeof(out)), 4);
    ck_assert_int_eq(memcmp(out, "foob", 4), 0);
    ck_assert_uint_eq(xt_base32_decode("MZXW6", 5, out, sizeof(out)), 3);  /* 5 chars: ok */
    ck_assert_uint_eq(xt_base32_decode("MZXW6Y", 6, out, sizeof(out)), 0); /* 6 chars: never */
    ck_assert_uint_eq(xt_base32_decode("MZ1W", 4, out, sizeof(out)), 0);
    ck_assert_uint_eq(xt_base32_decode("MZXW6YTB", 8, out, 4), 0); /* overflow */
}
END_TEST

START_TEST(test_parse_uint_and_classes)
{
    unsigned v = 99;

    ck_assert_int_eq(xt_parse_uint("7", 0, 10, &v), 1);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(xt_parse_uint("11", 0, 10, &v), 0);
    ck_assert_int_eq(xt_parse_uint("-1", 0, 10, &v), 0);
    ck_assert_int_eq(xt_parse_uint(" 1", 0, 10, &v), 0);
    ck_assert_int_eq(xt_parse_uint("+1", 0, 10, &v), 0);
    ck_assert_int_eq(xt_parse_uint("", 0, 10, &v), 0);
    ck_assert_int_eq(xt_parse_uint("99999999999999999999", 0, ~0u, &v), 0);
    ck_assert_int_eq(xt_status_class(XT_OK), XT_CLASS_OK);
    ck_assert_int_eq(xt_status_class(XT_REPLAYED), XT_CLASS_REFUSED);
    ck_assert_int_eq(xt_status_class(XT_BAD_OTP), XT_CLASS_REFUSED);
    ck_assert_int_eq(xt_status_class(XT_UNKNOWN_DOMAIN), XT_CLASS_NO_USER);
    ck_assert_int_eq(xt_status_class(XT_STORE_FULL), XT_CLASS_UNAVAILABLE);
    ck_assert_int_eq(xt_status_class(XT_NOMEM), XT_CLASS_NOMEM);
    ck_assert_int_eq(xt_status_class(1000), XT_CLASS_INTERNAL);
    ck_assert_str_eq(xt_strerror(XT_EXPIRED), "expired");
}
END_TEST

static void load_fails(const char *path, const char *expect)
{
    char err[XT_ERR_MAX] = "";
    xt_config *cfg = NULL;

    ck_assert_int_eq(xt_config_load(path, &cfg, err, sizeof(err)), XT_CONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, expect) != NULL, "'%s' should contain '%s'", err, expect);
}

START_TEST(test_file_safety)
{
    char err[XT_ERR_MAX] = "", link[600], dir[600];
    xt_config *cfg = NULL;
    const char *path;

    path = unit_write_file("ok.conf", KEYS, 0640);
    ck_assert_int_eq(xt_config_load(path, &cfg, err, sizeof(err)), XT_OK);
    xt_config_free(cfg);
    load_fails(unit_write_file("o.conf", KEYS, 0644), "readable by others");
    load_fails(unit_write_file("g.conf", KEYS, 0660), "writable by group or others");
    load_fails(unit_write_file("w.conf", KEYS, 0602), "writable by group or others");
    path = unit_write_file("own.conf", KEYS, 0600);
    ck_assert_int_eq(chown(path, 65534, 65534), 0);
    if (geteuid() == 0)
        load_fails(path, "owned by uid 65534");
    path = unit_write_file("target.conf", KEYS, 0600);
    snprintf(link, sizeof(link), "%s.link", path);
    ck_assert_int_eq(symlink(path, link), 0);
    load_fails(link, "symbolic link");
    snprintf(dir, sizeof(dir), "%s.d", path);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    load_fails(dir, "not a regular file");
    load_fails("/nonexistent/pam_xtoken.conf", "No such file");
}
END_TEST

START_TEST(test_file_too_big)
{
    static char big[70 * 1024];

    memset(big, '#', sizeof(big) - 1);
    for (size_t i = 100; i < sizeof(big) - 1; i += 100)
        big[i] = '\n';
    load_fails(unit_write_file("big.conf", big, 0600), "larger than");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, test_parser_errors);
    tcase_add_test(tc, test_sections_inherit);
    tcase_add_test(tc, test_window_override_lifetime);
    tcase_add_test(tc, test_nonce_digits);
    tcase_add_test(tc, test_lifetime_limit);
    tcase_add_test(tc, test_published_keys_refused);
    tcase_add_test(tc, test_hmac_key_blocks);
    tcase_add_test(tc, test_no_value_in_messages);
    tcase_add_test(tc, test_sections_only);
    tcase_add_test(tc, test_base32);
    tcase_add_test(tc, test_parse_uint_and_classes);
    tcase_add_test(tc, test_file_safety);
    tcase_add_test(tc, test_file_too_big);
    suite_add_tcase(s, tc);
    return s;
}
