/* xtoken doctor: files below --root, users and groups of the checked
 * system, and who can read what. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"

int doc_path(const struct doctor *d, const char *path, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s", d->root, path);

    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int doc_exists(const struct doctor *d, const char *path)
{
    int fd = doc_open_in(d, path, O_PATH);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

int doc_read(const struct doctor *d, const char *path, size_t maxlen, char **text, size_t *len)
{
    char *buf = NULL;
    size_t got = 0;
    int fd = doc_open_in(d, path, O_RDONLY | O_NONBLOCK), rc = -1;

    if (fd >= 0)
        buf = malloc(maxlen + 1);
    if (buf == NULL)
        goto done;
    for (;;) {
        ssize_t r = read(fd, buf + got, maxlen + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto done;
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > maxlen) {
            errno = EFBIG;
            goto done;
        }
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* scandir's filter: not "." or "..". */
static int not_dots(const struct dirent *e)
{
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

int doc_list_dir(const struct doctor *d, const char *dir, char ***names)
{
    int fd = doc_open_in(d, dir, O_RDONLY | O_DIRECTORY);
    struct dirent **entries = NULL;
    char **list = NULL;
    int n = fd >= 0 ? scandirat(fd, ".", &entries, not_dots, alphasort) : -1, kept = 0;

    if (fd >= 0)
        close(fd);
    if (n > 0)
        list = (char **)calloc((size_t)n, sizeof *list);
    for (int i = 0; i < n; i++) {
        if (list != NULL && kept < DOC_DIR_MAX) {
            list[kept] = strdup(entries[i]->d_name);
            if (list[kept] != NULL)
                kept++;
        }
        free(entries[i]);
    }
    free((void *)entries);
    *names = list;
    if (n > 0 && list == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return n < 0 ? -1 : kept;
}

/* A file of the checked system (under --root) opened for reading; NULL if
 * it cannot be. */
static FILE *fopen_in_root(const struct doctor *d, const char *path)
{
    char full[DOC_PATH_MAX];

    if (doc_path(d, path, full, sizeof full) != 0)
        return NULL;
    return fopen(full, "re");
}

/* The user from root/etc/passwd and root/etc/group. 0; -1 if unknown. */
static int user_from_files(const struct doctor *d, const char *name, struct doc_user *u)
{
    const struct passwd *pw;
    const struct group *gr;
    FILE *f = fopen_in_root(d, "/etc/passwd");
    int found = 0;

    if (f == NULL)
        return -1;
    while (!found && (pw = fgetpwent(f)) != NULL)
        if (strcmp(pw->pw_name, name) == 0) {
            u->uid = pw->pw_uid;
            u->groups[0] = pw->pw_gid;
            u->n_groups = 1;
            found = 1;
        }
    fclose(f);
    if (!found)
        return -1;
    f = fopen_in_root(d, "/etc/group");
    if (f == NULL)
        return 0;
    while ((gr = fgetgrent(f)) != NULL && u->n_groups < DOC_GROUPS_MAX)
        for (char **m = gr->gr_mem; *m != NULL; m++)
            if (strcmp(*m, name) == 0 && gr->gr_gid != u->groups[0]) {
                u->groups[u->n_groups++] = gr->gr_gid;
                break;
            }
    fclose(f);
    return 0;
}

int doc_user_lookup(const struct doctor *d, const char *name, struct doc_user *u)
{
    struct passwd *pw;
    int n = DOC_GROUPS_MAX;

    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    if (d->root[0] != '\0')
        return user_from_files(d, name, u);
    pw = getpwnam(name);
    if (pw == NULL)
        return -1;
    u->uid = pw->pw_uid;
    /* getgrouplist puts the primary group in the list (first) */
    if (getgrouplist(name, pw->pw_gid, u->groups, &n) < 0)
        n = DOC_GROUPS_MAX;
    u->n_groups = n;
    return 0;
}

int doc_user_in_group(const struct doc_user *u, gid_t gid)
{
    for (int i = 0; i < u->n_groups; i++)
        if (u->groups[i] == gid)
            return 1;
    return 0;
}

/* Find a group by name (name != NULL) or gid in the checked system's group
 * database. 0 with *gid / out filled; -1 if not found. */
static int group_find(const struct doctor *d, const char *name, gid_t *gid, char *out,
                      size_t outlen)
{
    const struct group *gr = NULL;
    FILE *f = NULL;

    if (d->root[0] == '\0') {
        gr = name ? getgrnam(name) : getgrgid(*gid);
    } else {
        f = fopen_in_root(d, "/etc/group");
        while (f != NULL && (gr = fgetgrent(f)) != NULL)
            if (name ? strcmp(gr->gr_name, name) == 0 : gr->gr_gid == *gid)
                break;
    }
    if (gr != NULL) {
        *gid = gr->gr_gid;
        if (out)
            snprintf(out, outlen, "%s", gr->gr_name);
    }
    if (f)
        fclose(f);
    return gr ? 0 : -1;
}

int doc_group_gid(const struct doctor *d, const char *name, gid_t *gid)
{
    return group_find(d, name, gid, NULL, 0);
}

void doc_group_name(const struct doctor *d, gid_t gid, char *out, size_t outlen)
{
    if (group_find(d, NULL, &gid, out, outlen) != 0)
        snprintf(out, outlen, "%u", (unsigned)gid);
}

/* The name of a user id of the checked system (or its number). */
static void user_name(const struct doctor *d, uid_t uid, char *out, size_t outlen)
{
    const struct passwd *pw = NULL;
    FILE *f = NULL;

    if (d->root[0] == '\0') {
        pw = getpwuid(uid);
    } else {
        f = fopen_in_root(d, "/etc/passwd");
        while (f != NULL && (pw = fgetpwent(f)) != NULL && pw->pw_uid != uid)
            ;
    }
    if (pw)
        snprintf(out, outlen, "%s", pw->pw_name);
    else
        snprintf(out, outlen, "%u", (unsigned)uid);
    if (f)
        fclose(f);
}

void doc_describe(const struct doctor *d, const char *path, char *out, size_t outlen)
{
    char full[DOC_PATH_MAX], owner[DOC_NAME_MAX], group[DOC_NAME_MAX];
    struct stat st;

    if (doc_path(d, path, full, sizeof full) != 0 || lstat(full, &st) != 0) {
        snprintf(out, outlen, "missing");
        return;
    }
    user_name(d, st.st_uid, owner, sizeof owner);
    doc_group_name(d, st.st_gid, group, sizeof group);
    snprintf(out, outlen, "%s:%s %04o", owner, group, (unsigned)(st.st_mode & 07777));
}

/* Does u have permission `want` (4 read, 1 search) on st? */
static int permits(const struct doc_user *u, const struct stat *st, unsigned want)
{
    unsigned mode = st->st_mode;

    if (u->uid == 0)
        return !(want & 1) || S_ISDIR(st->st_mode) || (mode & 0111);
    if (st->st_uid == u->uid)
        return ((mode >> 6) & want) == want;
    if (doc_user_in_group(u, st->st_gid))
        return ((mode >> 3) & want) == want;
    return (mode & want) == want;
}

int doc_can_read(const struct doctor *d, const struct doc_user *u, const char *path, char *why,
                 size_t whylen)
{
    char full[DOC_PATH_MAX], shown[DOC_NAME_MAX];
    size_t base = strlen(d->root);
    struct stat st;

    if (doc_path(d, path, full, sizeof full) != 0 || stat(full, &st) != 0)
        return -1;
    /* every directory from / down: search permission */
    for (char *slash = strchr(full + base + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (stat(full, &st) == 0 && !permits(u, &st, 1)) {
            doc_describe(d, full + base, shown, sizeof shown);
            snprintf(why, whylen, "cannot enter %s (%s)", full + base, shown);
            return 0;
        }
        *slash = '/';
    }
    if (stat(full, &st) != 0)
        return -1;
    if (!permits(u, &st, 4)) {
        doc_describe(d, path, shown, sizeof shown);
        snprintf(why, whylen, "%s is %s", path, shown);
        return 0;
    }
    return 1;
}

int doc_permits(const struct doctor *d, const struct doc_user *u, const char *path, unsigned want)
{
    char full[DOC_PATH_MAX];
    struct stat st;

    if (doc_path(d, path, full, sizeof full) != 0 || lstat(full, &st) != 0)
        return -1;
    return permits(u, &st, want);
}
