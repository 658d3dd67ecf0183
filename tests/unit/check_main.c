/* Runner of the library's Check unit tests. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

xt_config *unit_config(const char *text)
{
    char err[XT_ERR_MAX] = "";
    xt_config *cfg = NULL;
    int rc = xt_config_parse(text, strlen(text), "test.conf", &cfg, err, sizeof(err));

    ck_assert_msg(rc == XT_OK, "config should parse: %s", err);
    return cfg;
}

const char *unit_write_file(const char *name, const char *text, unsigned mode)
{
    static char path[512];
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/xtoken-unit-XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

int main(void)
{
    SRunner *sr = srunner_create(token_suite());
    int failed;

    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, users_suite());
    srunner_add_suite(sr, verifier_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
