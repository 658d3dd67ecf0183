/* libFuzzer target: the config parser (xt_config_parse) on arbitrary text,
 * then every accessor on what it accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xt_config *cfg = NULL;
    char err[XT_ERR_MAX] = "";
    /* An exact copy (not NUL-terminated), so ASan sees reads past the end. */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    int rc = xt_config_parse(text, size, "fuzz.conf", &cfg, err, sizeof(err));
    if (rc == XT_OK) {
        struct xt_domain_info info;
        size_t n = xt_config_domain_count(cfg);
        for (size_t i = 0; i < n; i++)
            if (xt_config_domain_info(cfg, i, &info) != XT_OK || info.name == NULL ||
                xt_config_has_domain(cfg, info.name) != XT_OK)
                abort();
        if (xt_config_domain_info(cfg, n, &info) == XT_OK)
            abort();
        (void)xt_config_replay_dir(cfg);
        (void)xt_config_set_window(cfg, 3, NULL, 0);
        char token[XT_TOKEN_MAX + 1];
        if (xt_issue(cfg, "alice@example.org", 1700000000, token, sizeof(token)) == XT_OK &&
            xt_verify(cfg, NULL, "alice@example.org", token, strlen(token), 1700000000) != XT_OK)
            abort(); /* a config that issues a token must accept it */
    } else if (cfg != NULL) {
        abort();
    }
    xt_config_free(cfg);
    free(text);
    return 0;
}
