/* rss_floor: the smallest process that does what every token check needs
 * from OpenSSL 3: fetch SHA-256 from the default provider and hash once.
 * Prints its peak RSS (VmHWM, KiB): the floor under `xtoken extauth`'s
 * figure, since libcrypto's and libc's shared pages count in every RSS. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char line[256];
    long kib = -1;
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256 == NULL || EVP_Digest("x", 1, digest, &len, sha256, NULL) != 1)
        return 1;
    EVP_MD_free(sha256);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return 1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    printf("%ld\n", kib);
    return kib > 0 ? 0 : 1;
}
