/* xtoken doctor: saslauthd (/etc/default/saslauthd, read by Debian's init
 * script). With tokens it must use PAM and must not cache: `-c` (Debian's
 * default OPTIONS, and what the script uses when OPTIONS is unset) accepts
 * a password it has seen before without asking PAM, for hours. The file is
 * shell assignments; only plain KEY=VALUE / KEY="VALUE" lines are read (the
 * form the file ships with), nothing is executed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

#define SASLAUTHD_DEFAULT "/etc/default/saslauthd"
#define SASLAUTHD_DEFAULT_OPTIONS "-c -m /var/run/saslauthd"
#define VALUE_MAX 1024
/* saslauthd's getopt string: the letters that take an argument */
#define SASLAUTHD_ARG_LETTERS "aOmnst"

struct sasl_settings {
    char start[VALUE_MAX], mechanisms[VALUE_MAX], options[VALUE_MAX];
    int has_options;
};

/* KEY=VALUE on one line: copy the unquoted value if the key is key. */
static int assignment(const char *line, const char *key, char *out)
{
    size_t n = strlen(key), len;
    const char *v;

    line += strspn(line, " \t");
    if (strncmp(line, key, n) != 0 || line[n] != '=')
        return 0;
    v = line + n + 1;
    len = strcspn(v, "\n");
    if (len > 0 && (v[0] == '"' || v[0] == '\'')) {
        const char *end = memchr(v + 1, v[0], len - 1);
        len = end ? (size_t)(end - v - 1) : len - 1;
        v++;
    } else {
        len = strcspn(v, " \t#\n");
    }
    if (len >= VALUE_MAX)
        len = VALUE_MAX - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

static void parse_settings(const char *text, struct sasl_settings *s)
{
    memset(s, 0, sizeof *s);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        assignment(line, "START", s->start);
        assignment(line, "MECHANISMS", s->mechanisms);
        if (assignment(line, "OPTIONS", s->options))
            s->has_options = 1;
    }
    if (!s->has_options) /* what the init script does then */
        snprintf(s->options, sizeof s->options, "%s", SASLAUTHD_DEFAULT_OPTIONS);
}

/* options without -c, as getopt reads them (clusters like -cr, letters
 * taking an argument end a cluster). Returns 1 if -c was there. */
static int drop_cache_flag(const char *options, char *out, size_t outlen)
{
    char copy[VALUE_MAX], *save = NULL;
    int found = 0, takes_arg = 0;

    snprintf(copy, sizeof copy, "%s", options);
    out[0] = '\0';
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char kept[VALUE_MAX];
        size_t k = 0;
        if (!takes_arg && w[0] == '-' && w[1] != '\0' && w[1] != '-') {
            kept[k++] = '-';
            for (const char *c = w + 1; *c; c++) {
                if (*c == 'c') {
                    found = 1;
                    continue;
                }
                kept[k++] = *c;
                if (strchr(SASLAUTHD_ARG_LETTERS, *c)) { /* the rest is its argument */
                    takes_arg = c[1] == '\0';
                    for (c++; *c; c++)
                        kept[k++] = *c;
                    break;
                }
            }
        } else {
            takes_arg = 0;
            k = strlen(w);
            memcpy(kept, w, k);
        }
        kept[k] = '\0';
        if (strcmp(kept, "-") != 0) {
            size_t used = strlen(out);
            int n = snprintf(out + used, outlen - used, "%s%s", used ? " " : "", kept);

            if (n < 0 || (size_t)n >= outlen - used)
                break; /* cut: the suggested line is only ever shorter than the input */
        }
    }
    return found;
}

/* Is some PAM service set up for pam_xtoken (registered by the pam.d scan)? */
static int pam_service_with_xtoken(const struct doctor *d)
{
    for (size_t i = 0; i < d->n_uses; i++)
        if (strncmp(d->uses[i].who, "/etc/pam.d/", 11) == 0)
            return 1;
    return 0;
}

static void check_settings(struct doctor *d, const struct sasl_settings *s)
{
    char fixed[VALUE_MAX];
    const char *area = "saslauthd";

    if (strcmp(s->start, "yes") != 0)
        doc_report(d, d->prosody_uses_cyrus ? DOC_FAIL : DOC_WARN, area,
                   "START is not yes in " SASLAUTHD_DEFAULT ": Debian's init script does not "
                   "start saslauthd, Prosody's cyrus logins fail; fix: add the line START=yes");
    if (drop_cache_flag(s->options, fixed, sizeof fixed))
        doc_report(d, DOC_FAIL, area,
                   "OPTIONS%s has -c: saslauthd caches a password that worked and accepts it "
                   "again without asking PAM, so a used token logs in again for hours; fix: "
                   "OPTIONS=\"%s\" in " SASLAUTHD_DEFAULT ", then systemctl restart saslauthd",
                   s->has_options ? "" : " is unset, so the init script's default", fixed);
    else
        doc_report(d, DOC_OK, area, "MECHANISMS=\"pam\", OPTIONS=\"%s\" without -c (no cache)",
                   s->options);
}

void doc_check_saslauthd(struct doctor *d)
{
    struct sasl_settings s;
    char *text = NULL;
    size_t len;

    if (doc_read(d, SASLAUTHD_DEFAULT, 256 * 1024, &text, &len) != 0) {
        doc_report(d, d->prosody_uses_cyrus ? DOC_FAIL : DOC_OK, "saslauthd",
                   "no " SASLAUTHD_DEFAULT "%s",
                   d->prosody_uses_cyrus ? ": Prosody's cyrus logins need saslauthd; fix: "
                                           "apt-get install sasl2-bin"
                                         : ", not checked");
        return;
    }
    parse_settings(text, &s);
    free(text);
    if (strcmp(s.mechanisms, "pam") != 0) {
        doc_report(d, d->prosody_uses_cyrus ? DOC_FAIL : DOC_OK, "saslauthd",
                   "MECHANISMS=\"%s\"%s", s.mechanisms,
                   d->prosody_uses_cyrus ? ": saslauthd never asks PAM, so pam_xtoken never sees "
                                           "a token; fix: MECHANISMS=\"pam\" in " SASLAUTHD_DEFAULT
                                         : ": not PAM, not part of the token setup");
        return;
    }
    if (!d->prosody_uses_cyrus && !pam_service_with_xtoken(d)) {
        doc_report(d, DOC_OK, "saslauthd",
                   "MECHANISMS=\"pam\" but no /etc/pam.d service names pam_xtoken.so: not part "
                   "of the token setup");
        return;
    }
    check_settings(d, &s);
}
