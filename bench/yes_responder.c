/* yes_responder: the cheapest possible ejabberd extauth helper. It reads
 * each frame (2-byte big-endian length + payload) and answers "yes"
 * (00 02 00 01) without looking at the payload. The extauth benchmark runs
 * the same client against it to measure the machine's limit for one
 * request in flight over a pipe pair. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* 1 when len bytes were read, 0 on EOF or error. */
static int read_exact(int fd, unsigned char *buf, size_t len)
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

int main(void)
{
    static const unsigned char yes[4] = {0, 2, 0, 1};
    unsigned char frame[65536];
    for (;;) {
        if (!read_exact(0, frame, 2))
            break;
        size_t len = ((size_t)frame[0] << 8) | frame[1];
        if (!read_exact(0, frame, len))
            break;
        if (write(1, yes, sizeof(yes)) != (ssize_t)sizeof(yes))
            return 1;
    }
    return 0;
}
