/* yes_responder: the cheapest possible ejabberd extauth helper. It reads
 * each frame (2-byte big-endian length + payload) and answers "yes"
 * (00 02 00 01) without looking at the payload. The extauth benchmark runs
 * the same client against it to measure the machine's limit for one
 * request in flight over a pipe pair. */
#include <stdio.h>
#include <unistd.h>

#include "read_exact.h"

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
