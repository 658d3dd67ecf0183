/* xtoken doctor: the replay directory. The store (shared/replay.c) wants
 * DIR, a real directory owned by root or its user and writable by no one
 * else (sticky or not); a user that owns DIR keeps DIR/<uid>.store there,
 * any other keeps DIR/<user>/<uid>.store in a directory of its own that root
 * made. The package's /run/pam_xtoken is root:root 0755 with ejabberd/ and
 * prosody/ (0700, each its user's) from tmpfiles.d. A directory (or, while
 * it is missing, the directory it will be created in) that users other than
 * its owner can write is a FAIL whatever its sticky bit: any local user can
 * then create a service's store before the service does (after every
 * reboot, /run is empty), or fill the file system, and make that service's
 * logins fail. A store on Redis is probed with check-config's code
 * (doctor_config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "doctor.h"
#include "xtoken.h"

#define TMPFILES_ENTRY "/usr/lib/tmpfiles.d/libpam-xtoken.conf"

/* Writable by users other than the owner: group or other write bits. */
static int writable_by_others(mode_t mode)
{
    return (mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* Is use i the first use of config by its user? (Each user once.) */
static int first_of_user(const struct doctor *d, const char *config, size_t i)
{
    if (strcmp(d->uses[i].config, config) != 0)
        return 0;
    for (size_t j = 0; j < i; j++)
        if (strcmp(d->uses[j].config, config) == 0 &&
            strcmp(d->uses[j].user, d->uses[i].user) == 0)
            return 0;
    return 1;
}

/* The mode the package's tmpfiles.d line gives dir, or -1. */
static long tmpfiles_mode(const struct doctor *d, const char *dir)
{
    char *text = NULL, *save = NULL, type[4], path[DOC_PATH_MAX], mode[8];
    size_t len;
    long found = -1;

    if (doc_read(d, TMPFILES_ENTRY, 64 * 1024, &text, &len) != 0)
        return -1;
    for (const char *line = strtok_r(text, "\n", &save); line && found < 0;
         line = strtok_r(NULL, "\n", &save))
        if (sscanf(line, "%3s %4095s %7s", type, path, mode) == 3 && strcmp(type, "d") == 0 &&
            strcmp(path, dir) == 0)
            found = strtol(mode, NULL, 8);
    free(text);
    return found;
}

static void report_missing(struct doctor *d, const char *area, const char *dir)
{
    char parent[DOC_PATH_MAX], full[DOC_PATH_MAX], shown[DOC_NAME_MAX];
    long mode = strcmp(dir, XT_DEFAULT_REPLAY_DIR) == 0 ? tmpfiles_mode(d, dir) : -1;
    char *slash;
    struct stat st;

    snprintf(parent, sizeof parent, "%s", dir);
    slash = strrchr(parent, '/');
    if (slash != NULL)
        slash[slash == parent] = '\0'; /* "/run" of "/run/x", "/" of "/x" */
    if (doc_path(d, parent, full, sizeof full) == 0 && stat(full, &st) == 0 &&
        writable_by_others(st.st_mode)) {
        doc_describe(d, parent, shown, sizeof shown);
        doc_report(d, DOC_FAIL, area,
                   "%s is missing and %s (%s) is writable by others: any local user can create "
                   "%s first and make the services' logins fail; fix: a replay directory in a "
                   "directory only root can write (replay = DIR in the config), made with "
                   "install -d -m 0755 DIR",
                   dir, parent, shown, dir);
    } else if (mode >= 0 && !writable_by_others((mode_t)mode)) {
        doc_report(d, DOC_WARN, area,
                   "%s is missing (created at boot from " TMPFILES_ENTRY "); fix: "
                   "systemd-tmpfiles --create " TMPFILES_ENTRY,
                   dir);
    } else {
        doc_report(d, DOC_FAIL, area,
                   "%s is missing%s: the first service to log someone in creates it for itself "
                   "and every other service user is refused; fix: install -d -m 0755 %s, and "
                   "the line 'd %s 0755 root root -' in /etc/tmpfiles.d/pam_xtoken.conf so it "
                   "comes back at boot",
                   dir, mode >= 0 ? " (and " TMPFILES_ENTRY " makes it writable by others)" : "",
                   dir, dir);
    }
}

/* The directory itself, as the store checks it. 1 usable, 0 after a FAIL. */
static int check_dir(struct doctor *d, const char *area, const char *dir, struct stat *st)
{
    char full[DOC_PATH_MAX], shown[DOC_NAME_MAX];

    doc_describe(d, dir, shown, sizeof shown);
    if (doc_path(d, dir, full, sizeof full) != 0 || lstat(full, st) != 0) {
        report_missing(d, area, dir);
        return 0;
    }
    if (!S_ISDIR(st->st_mode)) {
        doc_report(d, DOC_FAIL, area,
                   "%s is not a directory (or is a symlink): every login is refused (replay "
                   "store unusable); fix: rm %s; install -d -m 0755 %s",
                   dir, dir, dir);
        return 0;
    }
    if (writable_by_others(st->st_mode)) {
        doc_report(d, DOC_FAIL, area,
                   "%s (%s) is writable by users other than its owner%s: any local user could "
                   "take a service's store name first or fill the file system, so the store "
                   "refuses it and every login is refused; fix: chmod 0755 %s",
                   dir, shown, (st->st_mode & S_ISVTX) ? " (the sticky bit does not help)" : "",
                   dir);
        return 0;
    }
    return 1;
}

/* DIR/<name>, the directory of a user that does not own DIR: made by root,
 * owned by the user, writable by no one else. 1 usable, 0 after a FAIL. */
static int check_user_dir(struct doctor *d, const char *area, const char *udir,
                          const struct doc_user *u)
{
    char full[DOC_PATH_MAX], shown[DOC_NAME_MAX];
    const char *name = u->name;
    struct stat st;

    if (doc_path(d, udir, full, sizeof full) != 0 || lstat(full, &st) != 0) {
        doc_report(d, DOC_FAIL, area,
                   "%s has no directory %s: its logins are refused (replay store unusable); "
                   "fix: install -d -o %s -m 0700 %s, and the line 'd %s 0700 %s - -' in "
                   "/etc/tmpfiles.d/pam_xtoken.conf so it comes back at boot",
                   name, udir, name, udir, udir, name);
        return 0;
    }
    doc_describe(d, udir, shown, sizeof shown);
    if (!S_ISDIR(st.st_mode) || st.st_uid != u->uid || writable_by_others(st.st_mode)) {
        doc_report(d, DOC_FAIL, area,
                   "%s's directory %s (%s) is not a directory of its own that no one else can "
                   "write: its logins are refused; fix: rm -r %s; install -d -o %s -m 0700 %s",
                   name, udir, shown, udir, name, udir);
        return 0;
    }
    return 1;
}

/* Can this service user keep its store: in dir if it owns dir, else in
 * dir/<name>? */
static void check_user(struct doctor *d, const char *area, const char *dir,
                       const struct stat *dst, const char *name)
{
    char sdir[DOC_PATH_MAX], store[DOC_PATH_MAX + 16], full[DOC_PATH_MAX], shown[DOC_NAME_MAX];
    struct doc_user u;
    struct stat st;

    if (doc_user_lookup(d, name, &u) != 0)
        return; /* reported with the config */
    if (dst->st_uid != 0 && dst->st_uid != u.uid) {
        doc_describe(d, dir, shown, sizeof shown);
        doc_report(d, DOC_FAIL, area,
                   "%s (%s) is owned by another user: the store refuses it when run as %s; fix: "
                   "chown root:root %s; chmod 0755 %s",
                   dir, shown, name, dir, dir);
        return;
    }
    snprintf(sdir, sizeof sdir, "%s", dir);
    if (dst->st_uid != u.uid) {
        snprintf(sdir, sizeof sdir, "%s/%s", dir, name);
        if (!check_user_dir(d, area, sdir, &u))
            return;
    }
    snprintf(store, sizeof store, "%s/%u.store", sdir, (unsigned)u.uid);
    if (doc_path(d, store, full, sizeof full) == 0 && lstat(full, &st) == 0) {
        doc_describe(d, store, shown, sizeof shown);
        if (!S_ISREG(st.st_mode) || st.st_uid != u.uid || (st.st_mode & 077))
            doc_report(d, DOC_FAIL, area,
                       "%s's store %s is %s, not a 0600 file of its own: every login is "
                       "refused; fix: rm %s (the service creates it again)",
                       name, store, shown, store);
        return;
    }
    if (doc_permits(d, &u, sdir, 3) != 1) {
        doc_describe(d, sdir, shown, sizeof shown);
        doc_report(d, DOC_FAIL, area,
                   "user %s cannot create its store in %s (%s): every login is refused; fix: "
                   "chown %s %s; chmod 0700 %s",
                   name, sdir, shown, name, sdir, sdir);
    }
}

void doc_check_replay(struct doctor *d, const char *config, const xt_config *cfg)
{
    const char *dir = xt_config_replay_dir(cfg);
    char area[DOC_PATH_MAX + 16], shown[DOC_NAME_MAX];
    unsigned fails = d->n_fail;
    struct stat st;

    snprintf(area, sizeof area, "replay (%s)", config);
    if (dir == NULL) {
        doc_report(d, DOC_FAIL, area,
                   "replay = off: a used token logs in again as long as it is fresh; fix: "
                   "remove the line 'replay = off' from %s (default " XT_DEFAULT_REPLAY_DIR ")",
                   config);
        return;
    }
    if (dir[0] != '/')
        return; /* Redis: probed with the config (doctor_config.c) */
    if (!check_dir(d, area, dir, &st))
        return;
    for (size_t i = 0; i < d->n_uses; i++)
        if (first_of_user(d, config, i))
            check_user(d, area, dir, &st, d->uses[i].user);
    if (d->n_fail == fails) {
        doc_describe(d, dir, shown, sizeof shown);
        doc_report(d, DOC_OK, area,
                   "%s (%s): each service user keeps its own store, in a directory no one "
                   "else can write",
                   dir, shown);
    }
}
