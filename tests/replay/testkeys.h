/* Deterministic replay keys for the store's tests and benchmark. */
#ifndef XTOKEN_TESTKEYS_H
#define XTOKEN_TESTKEYS_H

#include <stdint.h>
#include <string.h>

#include "xtoken.h"

/* Key number n of stream `stream`: splitmix64 output, so keys spread over
 * the buckets as real HMACs do. */
static inline void make_key(unsigned char key[XT_REPLAY_KEY_LEN], uint64_t stream, uint64_t n)
{
    uint64_t x = stream * 0x9e3779b97f4a7c15ull + n;

    for (int i = 0; i < XT_REPLAY_KEY_LEN; i += 8) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(key + i, &z, 8);
    }
}

#endif
