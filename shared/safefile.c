/* Reading the config and users files without trusting the path. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "xtoken.h"

/* XT_OK if st describes a regular file only root or we can change (and,
 * for a secret, others cannot read); XT_CONFIG with the reason otherwise.
 * Group read is allowed so that `root:xtoken 0640` (the package's group,
 * with the service users in it) works. */
static int check_file_stat(const char *path, const struct stat *st, size_t maxlen, int secret,
                           char *err, size_t errlen)
{
    if (!S_ISREG(st->st_mode)) {
        xt_seterr(err, errlen, "%s: not a regular file", path);
        return XT_CONFIG;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        xt_seterr(err, errlen, "%s: owned by uid %u, must be root or the running user (uid %u)",
                  path, (unsigned)st->st_uid, (unsigned)geteuid());
        return XT_CONFIG;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        xt_seterr(err, errlen, "%s: writable by group or others (mode %04o), use 0600 or 0640",
                  path, (unsigned)(st->st_mode & 07777));
        return XT_CONFIG;
    }
    if (secret && (st->st_mode & S_IROTH)) {
        xt_seterr(err, errlen, "%s: readable by others (mode %04o), use 0600 or 0640", path,
                  (unsigned)(st->st_mode & 07777));
        return XT_CONFIG;
    }
    if ((unsigned long long)st->st_size > maxlen) {
        xt_seterr(err, errlen, "%s: larger than %zu bytes", path, maxlen);
        return XT_CONFIG;
    }
    return XT_OK;
}

/* Read all of fd (at most size bytes, since the size was checked) into a
 * new NUL-terminated buffer. XT_OK; XT_CONFIG on a read error or growth;
 * XT_NOMEM. */
static int read_all(int fd, const char *path, size_t size, char **buf, size_t *len, char *err,
                    size_t errlen)
{
    char *data = malloc(size + 1);
    size_t got = 0;

    if (data == NULL)
        return XT_NOMEM;
    /* one byte more than expected: a file that grew since fstat is refused */
    while (got <= size) {
        ssize_t r = read(fd, data + got, size + 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            xt_seterr(err, errlen, "%s: read: %s", path, strerror(errno));
            xt_free_wipe(data, size + 1);
            return XT_CONFIG;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > size) {
        xt_seterr(err, errlen, "%s: changed while being read", path);
        xt_free_wipe(data, size + 1);
        return XT_CONFIG;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    return XT_OK;
}

int xt_read_file_safely(const char *path, size_t maxlen, int secret, char **buf, size_t *len,
                        char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            xt_seterr(err, errlen, "%s: is a symbolic link, refusing it", path);
        else
            xt_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return XT_CONFIG;
    }
    if (fstat(fd, &st) != 0) {
        xt_seterr(err, errlen, "%s: fstat: %s", path, strerror(errno));
        rc = XT_CONFIG;
        goto done;
    }
    rc = check_file_stat(path, &st, maxlen, secret, err, errlen);
    if (rc == XT_OK)
        rc = read_all(fd, path, (size_t)st.st_size, buf, len, err, errlen);
done:
    close(fd);
    return rc;
}
