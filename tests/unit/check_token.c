/* Unit tests: TOTP vectors, token parsing, verification, issuing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "unit.h"

#define SEED   "K5UOYGC3OJ2WG4LX"
#define SECRET "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
#define JID    "alice@example.org"
#define T0     1700000000 /* step 56666666 starts at 1699999980 */

#define KEYS "otp_seed = " SEED "\ntoken_secret = " SECRET "\n"
static const char basic_conf[] = KEYS;

static int verify_str(const xt_config *cfg, const char *jid, const char *token, time_t now)
{
    return xt_verify(cfg, NULL, jid, token, strlen(token), now);
}

/* RFC 6238 appendix B, SHA-1, 8 digits, key "12345678901234567890". */
START_TEST(test_rfc6238_vectors)
{
    static const struct {
        long long t;
        const char *otp;
    } vectors[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"},
    };
    unsigned char key[] = "12345678901234567890";
    struct xt_seed seed = {key, 20};
    char otp[XT_DIGITS_MAX + 1];

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        ck_assert_int_eq(xt_totp(&seed, 8, 30, vectors[i].t / 30, otp), XT_OK);
        ck_assert_str_eq(otp, vectors[i].otp);
    }
}
END_TEST

/* Why the published seed with zero bytes appended is refused: HMAC pads
 * the key with zeros, so its OTPs are the published seed's. */
START_TEST(test_zero_padded_seed_same_otps)
{
    unsigned char published[16], padded[16];
    struct xt_seed a = {published, 0}, b = {padded, 0};
    char otp_a[XT_DIGITS_MAX + 1], otp_b[XT_DIGITS_MAX + 1];

    a.len = xt_base32_decode("XVGR73KMZH2M4XMY", 16, published, sizeof(published));
    b.len = xt_base32_decode("XVGR73KMZH2M4XMYAAAAAAAA", 24, padded, sizeof(padded));
    ck_assert_uint_eq(a.len, 10);
    ck_assert_uint_eq(b.len, 15);
    for (long long step = 56666660; step < 56666670; step++) {
        ck_assert_int_eq(xt_totp(&a, 8, 30, step, otp_a), XT_OK);
        ck_assert_int_eq(xt_totp(&b, 8, 30, step, otp_b), XT_OK);
        ck_assert_str_eq(otp_a, otp_b);
    }
}
END_TEST

/* Tokens minted by the seed's recipe (pyotp + hmac, Python 3, tests/interop/
 * mint.py) at fixed times, with 32-digit nonces. */
START_TEST(test_pyotp_vectors)
{
    static const struct {
        time_t t;
        const char *token;
    } vectors[] = {
        {1700000000, "0984684730973019946620417286654028874231 "
                     "qtsyMyx3BHbioRrSYn8kOU6ZYxC26wr9K3vb+ifqE3M="},
        {1234567890, "8063752111111111111111111111111111111111 "
                     "bRjqoNqEPfocGUrccS2qt+THcqNdyX737EBKn3ZVxY0="},
        {1999999999, "5809063339817265403918273645091827364509 "
                     "aS0FA6AAQp36k7o2ExOV+VRoFtb/ismTFRRhPZR3NdY="},
    };
    xt_config *cfg = unit_config(basic_conf);

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        ck_assert_int_eq(verify_str(cfg, JID, vectors[i].token, vectors[i].t), XT_OK);
        ck_assert_int_eq(verify_str(cfg, "bob@example.org", vectors[i].token, vectors[i].t),
                         XT_BAD_SIGNATURE);
    }
    xt_config_free(cfg);
}
END_TEST

/* The nonce has one fixed length (nonce_digits, default 32): with any
 * length accepted, the signed OTP NONCE JID would let digits move between
 * the nonce and a localpart that starts with digits. */
START_TEST(test_nonce_length)
{
    /* pyotp-minted: a 20-digit nonce, and a numeric localpart */
    const char *n20 = "0984684712345678901234567890 XzrFB7HgLaUMy5cdbqls2nebr8L29LElqsnWLT+I3FU=";
    const char *numeric = "0984684712345678901234567890123456789012 "
                          "k+NAw0m6u/gS6tss6mk4QiX3tuDAZHw+pKcizJ9LSgU=";
    xt_config *cfg = unit_config(basic_conf);
    xt_config *cfg20 = unit_config("nonce_digits = 20\n" KEYS);
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(verify_str(cfg, "5551234@example.org", numeric, T0), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, n20, T0), XT_MALFORMED);
    ck_assert_int_eq(verify_str(cfg20, JID, n20, T0), XT_OK);
    ck_assert_int_eq(verify_str(cfg20, "5551234@example.org", numeric, T0), XT_MALFORMED);
    /* xt_issue writes the configured length */
    ck_assert_int_eq(xt_issue(cfg20, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(token[8 + 20], ' ');
    ck_assert_int_eq(verify_str(cfg20, JID, token, T0), XT_OK);
    /* the reference accepts an empty nonce; we do not */
    ck_assert_int_eq(verify_str(cfg, JID, "09846847 qtsyMyx3BHbioRrSYn8kOU6ZYxC26wr9K3vb+ifqE3M=", T0),
                     XT_MALFORMED);
    xt_config_free(cfg);
    xt_config_free(cfg20);
}
END_TEST

/* The forgeries the fixed length stops, in both directions: a token of
 * "1alice" re-read as one of "alice" with the digit moved into the nonce,
 * and a token of "bob" whose nonce ends in "12" re-read as one of "12bob". */
START_TEST(test_shifted_digit_forgeries)
{
    xt_config *cfg = unit_config(basic_conf);
    char token[XT_TOKEN_MAX + 1], forged[XT_TOKEN_MAX + 1];
    const char *sig;

    ck_assert_int_eq(xt_issue(cfg, "1alice@example.org", T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(cfg, "1alice@example.org", token, T0), XT_OK);
    sig = strchr(token, ' ') + 1;
    snprintf(forged, sizeof(forged), "%.40s1 %s", token, sig); /* the digit into the nonce */
    ck_assert_int_eq(verify_str(cfg, JID, forged, T0), XT_MALFORMED);

    do /* a nonce of bob's that ends in 12 */
        ck_assert_int_eq(xt_issue(cfg, "bob@example.org", T0, token, sizeof(token)), XT_OK);
    while (strncmp(token + 38, "12", 2) != 0);
    sig = strchr(token, ' ') + 1;
    snprintf(forged, sizeof(forged), "%.38s %s", token, sig); /* "12" cut into the localpart */
    ck_assert_int_eq(verify_str(cfg, "12bob@example.org", forged, T0), XT_MALFORMED);
    ck_assert_int_eq(verify_str(cfg, "bob@example.org", token, T0), XT_OK);
    xt_config_free(cfg);
}
END_TEST

/* The HMAC key is token_secret's bytes as written, whatever its length:
 * exactly one SHA-256 block, one byte more (hashed first, RFC 2104), and a
 * long secret with spaces, '=' and '#'. Minted with Python's hmac. */
START_TEST(test_secret_lengths)
{
    static const struct {
        const char *secret, *token;
    } vectors[] = {
        {"KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK",
         "0984684755555555555555555555555555555555 "
         "SpMvqrHSNB2wfgZXh+SsCyGblQ5JLkiNcmnzk11Bdqg="},
        {"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL",
         "0984684755555555555555555555555555555555 "
         "HTT24f1zzK7MXKhaKBRLT3ZBbQmqeYCrYhSQ1YkMxZo="},
        {"a long token secret with spaces, = signs and # marks that is way over one SHA-256 "
         "block",
         "0984684755555555555555555555555555555555 "
         "rexS9Lh9ulq+nt/rKkFRi3eIBXxGJ/9MvWjc6AUnlgU="},
    };
    char conf[512];

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        xt_config *cfg;

        snprintf(conf, sizeof(conf), "otp_seed = %s\ntoken_secret = %s\n", SEED, vectors[i].secret);
        cfg = unit_config(conf);
        ck_assert_int_eq(verify_str(cfg, JID, vectors[i].token, T0), XT_OK);
        xt_config_free(cfg);
    }
}
END_TEST

START_TEST(test_issue_verify_roundtrip)
{
    xt_config *cfg = unit_config(basic_conf);
    char token[XT_TOKEN_MAX + 1], other[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_uint_eq(strlen(token), 8 + 32 + 1 + 44);
    ck_assert_int_eq(token[40], ' ');
    ck_assert_int_eq(verify_str(cfg, JID, token, T0), XT_OK);
    /* fresh nonce every time */
    ck_assert_int_eq(xt_issue(cfg, JID, T0, other, sizeof(other)), XT_OK);
    ck_assert_str_ne(token, other);
    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, 60), XT_INTERNAL); /* buffer too small */
    ck_assert_int_eq(xt_issue(cfg, "nodomain", T0, token, sizeof(token)), XT_BAD_USER);
    xt_config_free(cfg);
}
END_TEST

/* Every malformed shape is refused as malformed, before any MAC work. */
START_TEST(test_malformed)
{
    xt_config *cfg = unit_config(basic_conf);
    char good[XT_TOKEN_MAX + 1], bad[512];
    const char *sig;

    ck_assert_int_eq(xt_issue(cfg, JID, T0, good, sizeof(good)), XT_OK);
    sig = strchr(good, ' ') + 1;
    ck_assert_int_eq(verify_str(cfg, JID, "", T0), XT_MALFORMED);
    ck_assert_int_eq(verify_str(cfg, JID, "1234567812345678", T0), XT_MALFORMED); /* no space */
    snprintf(bad, sizeof(bad), "1234567 %s", sig);                                /* 7-digit OTP */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "1234a678123 %s", sig); /* non-digit */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%.40s  %s", good, sig); /* two spaces */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%.40s %.43s", good, sig); /* missing padding */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%.40s %.40s", good, sig); /* wrong MAC length */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%.40s %sAAAA", good, sig); /* MAC too long */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%s", good);
    bad[45] = '-'; /* base64url is not base64 */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    snprintf(bad, sizeof(bad), "%s\n", good); /* trailing newline */
    ck_assert_int_eq(verify_str(cfg, JID, bad, T0), XT_MALFORMED);
    /* an embedded NUL: the length says there is more than the string */
    memcpy(bad, good, sizeof(good));
    bad[20] = '\0';
    ck_assert_int_eq(xt_verify(cfg, NULL, JID, bad, strlen(good), T0), XT_MALFORMED);
    /* 256 bytes: refused by length although the prefix is a good token */
    memset(bad, '0', sizeof(bad));
    memcpy(bad, good, strlen(good));
    ck_assert_int_eq(xt_verify(cfg, NULL, JID, bad, XT_TOKEN_MAX + 1, T0), XT_MALFORMED);
    xt_config_free(cfg);
}
END_TEST

/* Only canonical base64: a re-spelled signature (unused bits set) must not
 * pass as a different token. */
START_TEST(test_noncanonical_base64)
{
    xt_config *cfg = unit_config(basic_conf);
    char token[XT_TOKEN_MAX + 1];
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *last;

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    last = token + strlen(token) - 2; /* the char before '=' carries 2 unused bits */
    *last = b64[(strchr(b64, *last) - b64) | 1];
    ck_assert_int_eq(verify_str(cfg, JID, token, T0), XT_MALFORMED);
    xt_config_free(cfg);
}
END_TEST

/* Mint at step s and verify at every step from s-3 to s+3. */
static void check_window(const char *conf, const int expected[7])
{
    xt_config *cfg = unit_config(conf);
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    for (int d = -3; d <= 3; d++)
        ck_assert_msg(verify_str(cfg, JID, token, T0 + 30 * d) == expected[d + 3],
                      "verify %d steps after minting: %s", d,
                      xt_strerror(verify_str(cfg, JID, token, T0 + 30 * d)));
    xt_config_free(cfg);
}

START_TEST(test_window_edges)
{
    /* verifying d steps after minting: the token's step is now - d */
    const int w1[7] = {XT_NOT_YET_VALID, XT_NOT_YET_VALID, XT_OK, XT_OK, XT_OK,
                       XT_EXPIRED,       XT_EXPIRED};
    const int w0[7] = {XT_NOT_YET_VALID, XT_NOT_YET_VALID, XT_NOT_YET_VALID, XT_OK,
                       XT_EXPIRED,       XT_EXPIRED,       XT_EXPIRED};
    const int w3[7] = {XT_OK, XT_OK, XT_OK, XT_OK, XT_OK, XT_OK, XT_OK};

    check_window(basic_conf, w1);
    check_window("window = 0\notp_seed = " SEED "\ntoken_secret = " SECRET "\n", w0);
    check_window("window = 3\notp_seed = " SEED "\ntoken_secret = " SECRET "\n", w3);
}
END_TEST

/* Exactly at the step boundaries: a token minted in step s lives while
 * 30(s-1) <= now < 30(s+2). */
START_TEST(test_boundaries)
{
    xt_config *cfg = unit_config(basic_conf);
    char token[XT_TOKEN_MAX + 1];
    const time_t start = (T0 / 30) * 30;

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, start - 31), XT_NOT_YET_VALID);
    ck_assert_int_eq(verify_str(cfg, JID, token, start - 30), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, start + 59), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, start + 60), XT_EXPIRED);
    ck_assert_int_eq(verify_str(cfg, JID, token, start + 86400), XT_BAD_OTP);
    xt_config_free(cfg);
}
END_TEST

START_TEST(test_wrong_jid_domain_secret)
{
    const char *two = "[example.org]\notp_seed = " SEED "\ntoken_secret = " SECRET "\n"
                      "[example.net]\notp_seed = " SEED "\ntoken_secret = OTHERSECRETOTHERSECRET\n";
    xt_config *cfg = unit_config(two),
              *wrong = unit_config("otp_seed = " SEED "\ntoken_secret = ANOTHERSECRET0123456789\n");
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, T0), XT_OK);
    ck_assert_int_eq(verify_str(cfg, "bob@example.org", token, T0), XT_BAD_SIGNATURE);
    ck_assert_int_eq(verify_str(cfg, "Alice@example.org", token, T0), XT_BAD_SIGNATURE);
    ck_assert_int_eq(verify_str(cfg, "alice@example.net", token, T0), XT_BAD_SIGNATURE);
    ck_assert_int_eq(verify_str(cfg, "alice@example.com", token, T0), XT_UNKNOWN_DOMAIN);
    ck_assert_int_eq(verify_str(cfg, "alice", token, T0), XT_BAD_USER);
    ck_assert_int_eq(verify_str(cfg, "@example.org", token, T0), XT_BAD_USER);
    ck_assert_int_eq(verify_str(wrong, JID, token, T0), XT_BAD_SIGNATURE);
    xt_config_free(cfg);
    xt_config_free(wrong);
}
END_TEST

/* A good signature but an OTP from another seed never matches. */
START_TEST(test_wrong_seed)
{
    xt_config *cfg = unit_config(basic_conf),
              *other = unit_config(
                  "otp_seed = JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\ntoken_secret = " SECRET "\n");
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(other, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, T0), XT_BAD_OTP);
    xt_config_free(cfg);
    xt_config_free(other);
}
END_TEST

/* Two seed and two secret lists: any combination verifies, issuing uses
 * the first of each. */
START_TEST(test_rotation)
{
    const char *old_conf = "otp_seed = " SEED "\ntoken_secret = " SECRET "\n";
    const char *new_conf = "otp_seed = JBSWY3DPEHPK3PXP\ntoken_secret = NEWSECRETNEWSECRET00\n";
    const char *both = "otp_seed = JBSWY3DPEHPK3PXP\notp_seed = " SEED "\n"
                       "token_secret = NEWSECRETNEWSECRET00\ntoken_secret = " SECRET "\n";
    const char *mixed = "otp_seed = JBSWY3DPEHPK3PXP\ntoken_secret = " SECRET "\n";
    xt_config *o = unit_config(old_conf), *n = unit_config(new_conf), *b = unit_config(both),
              *m = unit_config(mixed);
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(o, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(b, JID, token, T0), XT_OK);
    ck_assert_int_eq(verify_str(n, JID, token, T0), XT_BAD_SIGNATURE);
    ck_assert_int_eq(xt_issue(m, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(b, JID, token, T0), XT_OK);
    ck_assert_int_eq(xt_issue(b, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(verify_str(n, JID, token, T0), XT_OK); /* first of each */
    ck_assert_int_eq(verify_str(o, JID, token, T0), XT_BAD_SIGNATURE);
    xt_config_free(o);
    xt_config_free(n);
    xt_config_free(b);
    xt_config_free(m);
}
END_TEST

START_TEST(test_digits_interval)
{
    xt_config *cfg =
        unit_config("digits = 6\ninterval = 60\notp_seed = " SEED "\ntoken_secret = " SECRET "\n");
    char token[XT_TOKEN_MAX + 1];

    ck_assert_int_eq(xt_issue(cfg, JID, T0, token, sizeof(token)), XT_OK);
    ck_assert_int_eq(token[6 + 32], ' ');
    ck_assert_int_eq(verify_str(cfg, JID, token, T0 + 60), XT_OK);
    ck_assert_int_eq(verify_str(cfg, JID, token, T0 + 120), XT_EXPIRED);
    xt_config_free(cfg);
}
END_TEST

START_TEST(test_random_digits)
{
    char buf[1000];
    int counts[10] = {0};

    ck_assert_int_eq(xt_random_digits(buf, sizeof(buf)), XT_OK);
    for (size_t i = 0; i < sizeof(buf); i++) {
        ck_assert(buf[i] >= '0' && buf[i] <= '9');
        counts[buf[i] - '0']++;
    }
    for (int d = 0; d < 10; d++) /* expected 100 each; 40 is > 6 sigma away */
        ck_assert_int_gt(counts[d], 40);
    ck_assert_int_eq(xt_random_base32(buf, 32), XT_OK);
    for (int i = 0; i < 32; i++)
        ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", buf[i]) != NULL);
}
END_TEST

Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");

    tcase_add_test(tc, test_rfc6238_vectors);
    tcase_add_test(tc, test_zero_padded_seed_same_otps);
    tcase_add_test(tc, test_pyotp_vectors);
    tcase_add_test(tc, test_nonce_length);
    tcase_add_test(tc, test_shifted_digit_forgeries);
    tcase_add_test(tc, test_secret_lengths);
    tcase_add_test(tc, test_issue_verify_roundtrip);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_noncanonical_base64);
    tcase_add_test(tc, test_window_edges);
    tcase_add_test(tc, test_boundaries);
    tcase_add_test(tc, test_wrong_jid_domain_secret);
    tcase_add_test(tc, test_wrong_seed);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_digits_interval);
    tcase_add_test(tc, test_random_digits);
    suite_add_tcase(s, tc);
    return s;
}
