/* Blocking exact read shared by the benchmark's pipe client and responder. */
#ifndef XTOKEN_BENCH_READ_EXACT_H
#define XTOKEN_BENCH_READ_EXACT_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* 1 when len bytes were read, 0 on EOF or error. */
static inline int read_exact(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    return 1;
}

#endif
