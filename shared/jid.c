/* JIDs as servers hand them over: "local@domain", bytes as they are. */
#include <string.h>

#include "internal.h"
#include "xtoken.h"

/* Characters nodeprep forbids in a localpart, and anything that cannot
 * appear in a server-supplied name (controls, space, ':' of extauth). */
static int bad_char(unsigned char c)
{
    return c <= ' ' || c == 0x7f || strchr("\"&'/:<>@", c) != NULL;
}

static int valid_part(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (bad_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int xt_jid_split(const char *jid, const char **at)
{
    const char *sep = strchr(jid, '@');
    size_t len = strlen(jid);

    if (sep == NULL || len > XT_JID_MAX || !valid_part(jid, (size_t)(sep - jid)) ||
        !valid_part(sep + 1, len - (size_t)(sep - jid) - 1))
        return XT_BAD_USER;
    *at = sep;
    return XT_OK;
}

int xt_jid_make(const char *user, const char *default_domain, char *jid, size_t jidlen)
{
    const char *sep = strchr(user, '@');
    size_t local_len = sep ? (size_t)(sep - user) : strlen(user);
    const char *domain = sep ? sep + 1 : default_domain;
    size_t domain_len;

    if (!valid_part(user, local_len))
        return XT_BAD_USER;
    if (domain == NULL)
        return XT_UNKNOWN_DOMAIN;
    domain_len = strlen(domain);
    if (!valid_part(domain, domain_len))
        return sep ? XT_BAD_USER : XT_UNKNOWN_DOMAIN;
    if (sep && default_domain && strcmp(domain, default_domain) != 0)
        return XT_UNKNOWN_DOMAIN;
    if (local_len + 1 + domain_len > XT_JID_MAX || local_len + 1 + domain_len >= jidlen)
        return XT_BAD_USER;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): the domain's NUL ends it */
    memcpy(jid, user, local_len);
    jid[local_len] = '@';
    memcpy(jid + local_len + 1, domain, domain_len + 1);
    return XT_OK;
}
