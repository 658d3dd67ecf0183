/* xtoken keygen: a ready config block with fresh keys from the OS CSPRNG. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"
#include "xtoken.h"

/* 32 base32 characters = 160 bits, RFC 4226's recommended seed size (and
 * the size pyotp.random_base32() makes). */
#define SEED_CHARS 32
/* 52 base32 characters = 260 bits: at least the 256-bit output of
 * SHA-256, the key size HMAC's RFC 2104 recommends. The secret is used as
 * text, so base32 keeps it safe to paste anywhere. */
#define SECRET_CHARS 52

static const char keygen_usage[] =
    "Usage: xtoken keygen [--domain D]\n"
    "Print a config block with a fresh otp_seed and token_secret from the OS CSPRNG.\n"
    "With --domain, the block is a [D] section; otherwise it is the global scope.\n"
    "Give the same two values to the web application that issues tokens.\n"
    "The config file must be mode 0600 (or 0640 with the server's group).\n";

/* 1 if domain can be a [section] name and a JID's domain part. */
static int domain_is_usable(const char *domain)
{
    char jid[XT_JID_MAX + 1];

    if (strpbrk(domain, "[]#= \t") != NULL)
        return 0;
    return xt_jid_make("x", domain, jid, sizeof jid) == XT_OK;
}

int cmd_keygen(int argc, char **argv)
{
    struct cli_opts opts;
    char seed[SEED_CHARS + 1] = "";
    char secret[SECRET_CHARS + 1] = "";
    int rc = cli_parse("keygen", keygen_usage, argc, argv, OPT_DOMAIN, 0, &opts);

    if (rc != EXIT_OK || opts.help)

        goto done;
    rc = EXIT_USAGE;
    if (opts.domain && !domain_is_usable(opts.domain)) {
        tool_error("keygen: '%s' is not a usable domain name", opts.domain);
        goto done;
    }
    if (xt_random_base32(seed, SEED_CHARS) != XT_OK ||
        xt_random_base32(secret, SECRET_CHARS) != XT_OK) {
        tool_error("keygen: the OS random generator failed");
        goto done;
    }
    printf("# pam_xtoken keys: keep this file root:xtoken 0640 (adduser ejabberd xtoken) or 0600\n");
    if (opts.domain)
        printf("[%s]\n", opts.domain);
    printf("otp_seed = %s\ntoken_secret = %s\n", seed, secret);
    if (fflush(stdout) != 0) {
        tool_error("keygen: cannot write to stdout");
        goto done;
    }
    rc = EXIT_OK;
done:
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}
