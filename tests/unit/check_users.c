/* Unit tests: JIDs from server-supplied names, and the users policy. */
#include <check.h>
#include <string.h>

#include "unit.h"

#define KEYS "otp_seed = K5UOYGC3OJ2WG4LX\ntoken_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\n"

START_TEST(test_jid_make)
{
    char jid[XT_JID_MAX + 1];

    ck_assert_int_eq(xt_jid_make("alice@a.org", NULL, jid, sizeof(jid)), XT_OK);
    ck_assert_str_eq(jid, "alice@a.org");
    ck_assert_int_eq(xt_jid_make("alice", "a.org", jid, sizeof(jid)), XT_OK);
    ck_assert_str_eq(jid, "alice@a.org");
    ck_assert_int_eq(xt_jid_make("alice@a.org", "a.org", jid, sizeof(jid)), XT_OK);
    ck_assert_int_eq(xt_jid_make("alice@b.org", "a.org", jid, sizeof(jid)), XT_UNKNOWN_DOMAIN);
    ck_assert_int_eq(xt_jid_make("alice", NULL, jid, sizeof(jid)), XT_UNKNOWN_DOMAIN);
    ck_assert_int_eq(xt_jid_make("", "a.org", jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("@a.org", NULL, jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("alice@", NULL, jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("a@b@c", NULL, jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("al ice", "a.org", jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("al\nice", "a.org", jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("al:ice", "a.org", jid, sizeof(jid)), XT_BAD_USER);
    ck_assert_int_eq(xt_jid_make("alice", "a.org", jid, 8), XT_BAD_USER); /* no room */
}
END_TEST

START_TEST(test_users_policies)
{
    xt_config *cfg = unit_config("[a.org]\n" KEYS);
    const char *list =
        unit_write_file("users", "# users\nalice\n  bob@a.org \ncarol@b.org\n", 0644);
    char err[XT_ERR_MAX] = "";

    ck_assert_int_eq(xt_user_exists(cfg, "any", "zed@a.org", err, sizeof(err)), XT_OK);
    ck_assert_int_eq(xt_user_exists(cfg, "any", "zed@b.org", err, sizeof(err)), XT_UNKNOWN_DOMAIN);
    ck_assert_int_eq(xt_user_exists(cfg, "nss", "root@a.org", err, sizeof(err)), XT_OK);
    ck_assert_int_eq(xt_user_exists(cfg, "nss", "no-such-user-xt@a.org", err, sizeof(err)),
                     XT_UNKNOWN_USER);
    ck_assert_int_eq(xt_user_exists(cfg, list, "alice@a.org", err, sizeof(err)), XT_OK);
    ck_assert_int_eq(xt_user_exists(cfg, list, "bob@a.org", err, sizeof(err)), XT_OK);
    ck_assert_int_eq(xt_user_exists(cfg, list, "ali@a.org", err, sizeof(err)), XT_UNKNOWN_USER);
    ck_assert_int_eq(xt_user_exists(cfg, list, "carol@a.org", err, sizeof(err)), XT_UNKNOWN_USER);
    ck_assert_int_eq(xt_user_exists(cfg, "/nonexistent/users", "alice@a.org", err, sizeof(err)),
                     XT_CONFIG);
    ck_assert_int_eq(xt_user_exists(cfg, "sometimes", "alice@a.org", err, sizeof(err)), XT_CONFIG);
    ck_assert_int_eq(xt_users_policy_check("any"), XT_OK);
    ck_assert_int_eq(xt_users_policy_check("relative/file"), XT_CONFIG);
    xt_config_free(cfg);
}
END_TEST

Suite *users_suite(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("users");

    tcase_add_test(tc, test_jid_make);
    tcase_add_test(tc, test_users_policies);
    suite_add_tcase(s, tc);
    return s;
}
