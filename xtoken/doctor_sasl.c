/* xtoken doctor: saslauthd (/etc/default/saslauthd, read by Debian 12's
 * init script and by Debian 13's systemd unit). With tokens it must use PAM
 * and must not cache: `-c` (Debian's default OPTIONS, and what the init
 * script uses when OPTIONS is unset) accepts a password it has seen before
 * without asking PAM, for hours. The file is shell assignments; only plain
 * KEY=VALUE / KEY="VALUE" lines are read (the form the file ships with),
 * nothing is executed. Only a saslauthd that starts at boot or that
 * Prosody uses is judged: Debian installs it stopped and disabled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

#define SASLAUTHD_DEFAULT "/etc/default/saslauthd"
#define SASLAUTHD_INIT    "/etc/init.d/saslauthd"
#define SASLAUTHD_UNIT    "saslauthd.service"
#define SASLAUTHD_DEFAULT_OPTIONS "-c -m /var/run/saslauthd"
#define VALUE_MAX 1024
/* saslauthd's getopt string: the letters that take an argument */
#define SASLAUTHD_ARG_LETTERS "aOmnst"

struct sasl_settings {
    char start[VALUE_MAX], mechanisms[VALUE_MAX], options[VALUE_MAX];
    int has_options;
    int unit;    /* Debian 13: a systemd unit, which reads no START */
    int enabled; /* starts at boot */
    int used;    /* a Prosody host logs in through it */
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

static void parse_settings(const char *text, int unit, struct sasl_settings *s)
{
    memset(s, 0, sizeof *s);
    s->unit = unit;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        assignment(line, "START", s->start);
        assignment(line, "MECHANISMS", s->mechanisms);
        if (assignment(line, "OPTIONS", s->options))
            s->has_options = 1;
    }
    if (!s->has_options && !unit) /* what the init script does then; the unit passes none */
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

/* ---- does it start at boot? ----------------------------------------------- */

/* A native unit (Debian 13): systemd then ignores the init script. */
static int has_unit(const struct doctor *d)
{
    static const char *const dirs[] = {"/etc/systemd/system", "/usr/lib/systemd/system",
                                       "/lib/systemd/system"};
    char path[DOC_PATH_MAX];

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/" SASLAUTHD_UNIT, dirs[i]);
        if (doc_exists(d, path))
            return 1;
    }
    return 0;
}

/* Is some name in dir a link for saslauthd? For the wants directories,
 * the unit's name; for /etc/rcN.d, S<nn>saslauthd. */
static int dir_names(const struct doctor *d, const char *dir, const char *prefix,
                     const char *suffix)
{
    char **names = NULL;
    int n = doc_list_dir(d, dir, &names), found = 0;
    size_t plen = strlen(prefix), slen = strlen(suffix);

    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        found |= len >= plen + slen && strncmp(names[i], prefix, plen) == 0 &&
                 strcmp(names[i] + len - slen, suffix) == 0;
        free(names[i]);
    }
    free((void *)names);
    return found;
}

/* systemctl enable: a link in /etc/systemd/system/<target>.wants/, and the
 * unit not masked (a link to /dev/null). */
static int unit_enabled(const struct doctor *d)
{
    char **names = NULL, full[DOC_PATH_MAX], target[16];
    int n = doc_list_dir(d, "/etc/systemd/system", &names), found = 0;

    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (!found && len > 6 && strcmp(names[i] + len - 6, ".wants") == 0) {
            snprintf(full, sizeof full, "/etc/systemd/system/%s", names[i]);
            found = dir_names(d, full, SASLAUTHD_UNIT, "");
        }
        free(names[i]);
    }
    free((void *)names);
    if (found && doc_path(d, "/etc/systemd/system/" SASLAUTHD_UNIT, full, sizeof full) == 0) {
        ssize_t r = readlink(full, target, sizeof target - 1);
        if (r > 0) {
            target[r] = '\0';
            found = strcmp(target, "/dev/null") != 0; /* masked */
        }
    }
    return found;
}

/* The init script (Debian 12) starts saslauthd only with START=yes, and
 * only if an S link in /etc/rc[2-5].d calls it at boot. */
static int init_enabled(const struct doctor *d, const struct sasl_settings *s)
{
    char dir[32];

    if (strcmp(s->start, "yes") != 0)
        return 0;
    if (!doc_exists(d, SASLAUTHD_INIT))
        return 1; /* no boot links to look at: START decides */
    for (int level = 2; level <= 5; level++) {
        snprintf(dir, sizeof dir, "/etc/rc%d.d", level);
        if (dir_names(d, dir, "S", "saslauthd"))
            return 1;
    }
    return 0;
}

/* ---- the settings ------------------------------------------------------------ */

static void report_not_started(struct doctor *d, const struct sasl_settings *s)
{
    const char *area = "saslauthd";

    if (s->unit)
        doc_report(d, DOC_FAIL, area,
                   SASLAUTHD_UNIT " is not enabled: saslauthd does not start at boot, "
                   "Prosody's cyrus logins fail; fix: systemctl enable --now saslauthd");
    else if (strcmp(s->start, "yes") != 0)
        doc_report(d, DOC_FAIL, area,
                   "START is not yes in " SASLAUTHD_DEFAULT ": Debian's init script does not "
                   "start saslauthd, Prosody's cyrus logins fail; fix: add the line START=yes");
    else
        doc_report(d, DOC_FAIL, area,
                   "no /etc/rc?.d/S*saslauthd link: saslauthd does not start at boot, "
                   "Prosody's cyrus logins fail; fix: update-rc.d saslauthd enable");
}

static void check_settings(struct doctor *d, const struct sasl_settings *s)
{
    char fixed[VALUE_MAX];
    const char *area = "saslauthd";

    if (s->used && !s->enabled)
        report_not_started(d, s);
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
    parse_settings(text, has_unit(d), &s);
    free(text);
    s.used = d->prosody_uses_cyrus;
    s.enabled = s.unit ? unit_enabled(d) : init_enabled(d, &s);
    if (!s.used && !s.enabled) {
        doc_report(d, DOC_OK, "saslauthd",
                   "does not start at boot (%s) and no Prosody host uses it: not part of the "
                   "token setup, not checked",
                   s.unit ? SASLAUTHD_UNIT " not enabled"
                          : strcmp(s.start, "yes") != 0 ? "START is not yes"
                                                        : "no /etc/rc?.d/S*saslauthd link");
        return;
    }
    if (strcmp(s.mechanisms, "pam") != 0) {
        doc_report(d, s.used ? DOC_FAIL : DOC_OK, "saslauthd", "MECHANISMS=\"%s\"%s",
                   s.mechanisms,
                   s.used ? ": saslauthd never asks PAM, so pam_xtoken never sees a token; fix: "
                            "MECHANISMS=\"pam\" in " SASLAUTHD_DEFAULT
                          : ": not PAM, not part of the token setup");
        return;
    }
    if (!s.used && d->pam_services == 0) {
        doc_report(d, DOC_OK, "saslauthd",
                   "MECHANISMS=\"pam\" but no /etc/pam.d service names pam_xtoken.so: not part "
                   "of the token setup");
        return;
    }
    check_settings(d, &s);
}
