/* xtoken doctor: every config a service uses. It must pass check-config
 * (the same loader and the same probe of a Redis replay store: a server
 * that does not answer, refuses the password or may evict entries is a
 * FAIL), be readable by each service user that verifies with it, hold keys
 * for each domain served, and name a usable replay store. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "doctor.h"
#include "tool.h"
#include "xtoken.h"

#define FIX_MAX (3 * DOC_PATH_MAX)

/* Append one step to a "fix: a; b" list. */
static void add_step(char *fix, size_t len, const char *step)
{
    size_t used = strlen(fix);

    snprintf(fix + used, len - used, "%s%s", used ? "; " : "", step);
}

/* The exact commands that let u read path through the group xtoken. */
static void read_fix(const struct doctor *d, const struct doc_user *u, const char *path,
                     char *fix, size_t len)
{
    char full[DOC_PATH_MAX], step[DOC_PATH_MAX + 64];
    struct stat st;
    gid_t gid;
    int have_group = doc_group_gid(d, DOC_GROUP, &gid) == 0;

    fix[0] = '\0';
    /* directories on the way that u cannot search */
    snprintf(full, sizeof full, "%s", path);
    for (char *slash = strchr(full + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (doc_permits(d, u, full, 1) == 0) {
            snprintf(step, sizeof step, "chmod o+x %s", full);
            add_step(fix, len, step);
        }
        *slash = '/';
    }
    if (!have_group)
        add_step(fix, len, "addgroup --system " DOC_GROUP);
    if (doc_path(d, path, full, sizeof full) == 0 && stat(full, &st) == 0) {
        if (!have_group || st.st_gid != gid) {
            snprintf(step, sizeof step, "chgrp " DOC_GROUP " %s", path);
            add_step(fix, len, step);
        }
        if ((st.st_mode & 0777) != 0640 && (st.st_mode & 0777) != 0440) {
            snprintf(step, sizeof step, "chmod 0640 %s", path);
            add_step(fix, len, step);
        }
    }
    if (!have_group || !doc_user_in_group(u, gid)) {
        snprintf(step, sizeof step, "adduser %s " DOC_GROUP, u->name);
        add_step(fix, len, step);
    }
    snprintf(step, sizeof step, "then restart the service that runs as %s", u->name);
    add_step(fix, len, step);
}

/* Can this use's service user read and accept the file? */
static void check_reader(struct doctor *d, const struct doc_use *use)
{
    char why[DOC_PATH_MAX + 64], fix[FIX_MAX], shown[DOC_NAME_MAX], full[DOC_PATH_MAX];
    struct doc_user u;
    struct stat st;
    int rc;

    if (strcmp(use->user, "root") == 0)
        return;
    if (doc_user_lookup(d, use->user, &u) != 0) {
        doc_report(d, DOC_WARN, use->who,
                   "user %s does not exist, so its server is not installed as configured; "
                   "fix: install the server (its package creates the user)",
                   use->user);
        return;
    }
    doc_describe(d, use->config, shown, sizeof shown);
    rc = doc_can_read(d, &u, use->config, why, sizeof why);
    if (rc == 0) {
        read_fix(d, &u, use->config, fix, sizeof fix);
        doc_report(d, DOC_FAIL, use->who,
                   "user %s cannot read %s (%s): every login is refused (config unusable); "
                   "fix: %s",
                   u.name, use->config, why, fix);
    } else if (rc > 0 && doc_path(d, use->config, full, sizeof full) == 0 &&
               stat(full, &st) == 0 && st.st_uid != 0 && st.st_uid != u.uid) {
        doc_report(d, DOC_FAIL, use->who,
                   "%s (%s) is owned by neither root nor %s: xtoken refuses it as unsafe when "
                   "run as %s; fix: chown root %s",
                   use->config, shown, u.name, u.name, use->config);
    } else if (rc > 0) {
        doc_report(d, DOC_OK, use->who, "user %s can read %s (%s)", u.name, use->config, shown);
    }
}

/* Does the config have keys for the use's domain? */
static void check_domain(struct doctor *d, const struct doc_use *use, const xt_config *cfg)
{
    if (use->domain[0] == '\0' || xt_config_has_domain(cfg, use->domain) == XT_OK)
        return;
    doc_report(d, DOC_FAIL, use->who,
               "%s has no keys for domain %s: every login there is refused (unknown domain); "
               "fix: xtoken keygen --domain %s >> %s (and give the web application the same "
               "keys)",
               use->config, use->domain, use->domain, use->config);
}

/* check-config's loader on the file. The config, or NULL after a FAIL. */
static xt_config *load_config(struct doctor *d, const char *path)
{
    char full[DOC_PATH_MAX], err[XT_ERR_MAX] = "", area[DOC_PATH_MAX + 8];
    xt_config *cfg = NULL;
    struct stat st;

    snprintf(area, sizeof area, "config %s", path);
    if (doc_path(d, path, full, sizeof full) != 0)
        return NULL;
    if (stat(full, &st) != 0 && errno == ENOENT) {
        doc_report(d, DOC_FAIL, area,
                   "missing: no token can be checked; fix: (umask 027; xtoken keygen > %s); "
                   "chgrp " DOC_GROUP " %s",
                   path, path);
        return NULL;
    }
    if (xt_config_load(full, &cfg, err, sizeof err) != XT_OK) {
        doc_report(d, DOC_FAIL, area,
                   "check-config fails: %s: every login is refused; fix: correct the file as the "
                   "reason says (pam_xtoken.conf(5)), then xtoken check-config --config %s%s",
                   err[0] ? err : "unusable", path,
                   strstr(err, "Permission denied") ? " (and run xtoken doctor as root)" : "");
        return NULL;
    }
    return cfg;
}

/* The report's lines as one: "a; b". */
static void join_lines(const char *lines, char *out, size_t outlen)
{
    size_t used = 0, n;

    out[0] = '\0';
    for (const char *p = lines; *p && used < outlen; p += n + (p[n] == '\n')) {
        n = strcspn(p, "\n");
        int w = snprintf(out + used, outlen - used, "%s%.*s", used ? "; " : "", (int)n, p);
        used = w < 0 ? outlen : used + (size_t)w;
    }
}

/* The replay store as check-config reaches it (Redis: connect, AUTH, PING,
 * clocks, eviction policy). 1 if it passes, with what it said in report;
 * 0 after a FAIL. */
static int probe_store(struct doctor *d, const char *area, const char *path, const xt_config *cfg,
                       char *report, size_t reportlen)
{
    char lines[1024], warning[1024], err[1024];

    if (tool_replay_probe(cfg, lines, sizeof lines, warning, sizeof warning, err,
                          sizeof err) != XT_OK) {
        doc_report(d, DOC_FAIL, area,
                   "check-config fails: replay store: %s: every login is refused (the replay "
                   "store must record each token); fix: make the Redis server that 'replay =' "
                   "names answer with the password in %s (systemctl status redis-server), then "
                   "xtoken check-config --config %s",
                   err, path, path);
        return 0;
    }
    if (warning[0] != '\0') {
        doc_report(d, DOC_FAIL, area,
                   "check-config warns: %s: a used token could log in again; fix: as it says, "
                   "then xtoken check-config --config %s",
                   warning, path);
        return 0;
    }
    join_lines(lines, report, reportlen);
    return 1;
}

/* The ok line of a config that passed, with what check-config lists. */
static void report_config_ok(struct doctor *d, const char *path, const xt_config *cfg,
                             const char *store)
{
    char area[DOC_PATH_MAX + 8], domains[512] = "";

    for (size_t i = 0; i < xt_config_domain_count(cfg); i++) {
        struct xt_domain_info info;
        size_t used = strlen(domains);
        if (xt_config_domain_info(cfg, i, &info) == XT_OK)
            snprintf(domains + used, sizeof domains - used, "%s%s", used ? ", " : "",
                     strcmp(info.name, "*") == 0 ? "any domain" : info.name);
    }
    snprintf(area, sizeof area, "config %s", path);
    doc_report(d, DOC_OK, area, "passes check-config (keys for %s%s%s)", domains,
               store[0] ? "; " : "", store);
}

void doc_check_configs(struct doctor *d)
{
    const char *done[DOC_USES_MAX + 1] = {0};
    size_t n_done = 0;

    if (d->n_uses == 0)
        doc_add_use(d, "root", d->config, "", "config", 0);
    for (size_t i = 0; i < d->n_uses; i++) {
        const char *path = d->uses[i].config;
        xt_config *cfg;
        size_t j;

        for (j = 0; j < n_done && strcmp(done[j], path) != 0; j++)
            ;
        if (j < n_done)
            continue;
        done[n_done++] = path;
        cfg = load_config(d, path);
        if (cfg != NULL) {
            char area[DOC_PATH_MAX + 8], report[2048];
            snprintf(area, sizeof area, "config %s", path);
            if (probe_store(d, area, path, cfg, report, sizeof report))
                report_config_ok(d, path, cfg, report);
        }
        for (j = i; j < d->n_uses; j++) {
            if (strcmp(d->uses[j].config, path) != 0)
                continue;
            check_reader(d, &d->uses[j]);
            if (cfg != NULL)
                check_domain(d, &d->uses[j], cfg);
        }
        if (cfg != NULL)
            doc_check_replay(d, path, cfg);
        xt_config_free(cfg);
    }
}
