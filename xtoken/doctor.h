/* xtoken doctor: checks a machine's whole token login setup and prints one
 * line per finding. Shared declarations of the doctor*.c files. */
#ifndef XTOKEN_DOCTOR_H
#define XTOKEN_DOCTOR_H

#include <stddef.h>
#include <sys/types.h>

#include "xtoken.h"

#define DOC_PATH_MAX   4096
#define DOC_USES_MAX   64
#define DOC_GROUPS_MAX 256
#define DOC_NAME_MAX   256

/* The group the package creates; services read the config through it. */
#define DOC_GROUP "xtoken"

enum doc_level { DOC_OK, DOC_WARN, DOC_FAIL };

/* Someone verifies tokens with a config: a service user (ejabberd's extauth
 * or epam, Prosody's provider, saslauthd as root) for one domain. */
struct doc_use {
    char user[DOC_NAME_MAX];   /* who reads the config */
    char config[DOC_PATH_MAX]; /* path on the checked system */
    char domain[DOC_NAME_MAX]; /* the XMPP domain served, "" if any */
    char who[DOC_NAME_MAX];    /* for messages: "ejabberd host example.org (extauth)" */
    int replay_off;            /* noreplay / --no-replay in the caller's arguments */
};

struct doctor {
    const char *root;   /* "" for /, else DIR without a trailing slash */
    const char *config; /* the config when a service names none */
    unsigned n_ok, n_warn, n_fail;
    struct doc_use uses[DOC_USES_MAX];
    size_t n_uses;
    int prosody_uses_cyrus;            /* saslauthd matters */
    char cyrus_pam_service[DOC_NAME_MAX]; /* the PAM service saslauthd is asked for */
};

/* One finding: "LEVEL AREA: text" on stdout, counted. The text says what is
 * wrong, why it matters and the fix. */
void doc_report(struct doctor *d, enum doc_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Remember that `user` verifies tokens with config (NULL: d->config) for
 * domain ("" for any), as described by who. */
void doc_add_use(struct doctor *d, const char *user, const char *config, const char *domain,
                 const char *who, int replay_off);

/* ---- files below --root (doctor_sys.c) ---------------------------------- */

/* out = root + path. 0, or -1 if it does not fit. */
int doc_path(const struct doctor *d, const char *path, char *out, size_t outlen);

/* Read a whole file below root into a new NUL-terminated buffer (at most
 * maxlen bytes). 0; -1 with errno set (ENOENT: missing; EFBIG: too large). */
int doc_read(const struct doctor *d, const char *path, size_t maxlen, char **text, size_t *len);

/* 1 if path exists below root (stat follows symlinks), 0 otherwise. */
int doc_exists(const struct doctor *d, const char *path);

/* A user of the checked system: from root/etc/passwd and root/etc/group
 * below a --root, from NSS (getpwnam, getgrouplist) on /. */
struct doc_user {
    char name[DOC_NAME_MAX];
    uid_t uid;
    gid_t groups[DOC_GROUPS_MAX]; /* primary group first */
    int n_groups;
};
/* 0 and *u filled; -1 if the user does not exist. */
int doc_user_lookup(const struct doctor *d, const char *name, struct doc_user *u);
/* 1 if u is in group gid. */
int doc_user_in_group(const struct doc_user *u, gid_t gid);
/* The gid of a group name: 0 and *gid set; -1 if there is no such group. */
int doc_group_gid(const struct doctor *d, const char *name, gid_t *gid);
/* The name of a group (or its number) into out. */
void doc_group_name(const struct doctor *d, gid_t gid, char *out, size_t outlen);

/* Can u open path for reading (mode bits of the file and search permission
 * on every directory above it; ACLs are not read)? 1 yes, 0 no with the
 * blocking path and its owner/mode in why; -1 if path is missing. */
int doc_can_read(const struct doctor *d, const struct doc_user *u, const char *path, char *why,
                 size_t whylen);

/* Mode bits of path (lstat) give u the permissions want (4 r, 2 w, 1 x,
 * added up)? 1 yes, 0 no, -1 missing. */
int doc_permits(const struct doctor *d, const struct doc_user *u, const char *path,
                unsigned want);

/* "root:xtoken 0640" for a path below root, or "missing". */
void doc_describe(const struct doctor *d, const char *path, char *out, size_t outlen);

/* ---- the checks, in the order they run ---------------------------------- */

/* /etc/pam.d service files (doctor_pam.c). */
struct doc_pam_service {
    int exists;
    int auth, account;         /* a line of that type names pam_xtoken.so */
    struct xt_pam_args args;   /* the arguments of the first such line */
    char argbuf[1024];         /* args' strings point here */
    int args_bad;              /* some line has a malformed or unknown argument */
};
/* Read /etc/pam.d/NAME (following @include). 0; -1 if NAME is unsafe. */
int doc_pam_service(const struct doctor *d, const char *name, struct doc_pam_service *svc);
/* Every /etc/pam.d file naming pam_xtoken.so: arguments valid, module found. */
void doc_check_pam_files(struct doctor *d);

void doc_check_ejabberd(struct doctor *d);
void doc_check_prosody(struct doctor *d);
void doc_check_saslauthd(struct doctor *d);
/* The configs every use names: check-config, readable by each service user,
 * keys for each domain, the replay directory (doctor_config.c). */
void doc_check_configs(struct doctor *d);
/* The replay store a config names, for the users of that config
 * (doctor_replay.c). */
void doc_check_replay(struct doctor *d, const char *config, const xt_config *cfg);
void doc_check_clock(struct doctor *d);

#endif
