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
#define DOC_LINE_MAX   8192 /* one finding's text */
#define DOC_DIR_MAX    4096 /* names read from one directory */

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
    int rootfd;         /* that directory (O_PATH): files are opened below it */
    const char *config; /* the config when a service names none */
    unsigned n_ok, n_warn, n_fail;
    struct doc_use uses[DOC_USES_MAX];
    size_t n_uses;
    int prosody_uses_cyrus;            /* saslauthd matters */
    int pam_services;                  /* /etc/pam.d files naming pam_xtoken.so */
    char cyrus_pam_service[DOC_NAME_MAX]; /* the PAM service saslauthd is asked for */
};

/* One finding: "LEVEL AREA: text" on stdout, counted. The text says what is
 * wrong, why it matters and the fix. Every byte outside printable ASCII
 * (control bytes, ESC, bytes >= 0x80) is printed as \xNN: much of the text
 * comes from files that others may write. */
void doc_report(struct doctor *d, enum doc_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Remember that `user` verifies tokens with config (NULL: d->config) for
 * domain ("" for any), as described by who. */
void doc_add_use(struct doctor *d, const char *user, const char *config, const char *domain,
                 const char *who, int replay_off);

/* A server says who runs /etc/pam.d/service (ejabberd's epam runs as
 * ejabberd): forget the use the pam.d scan guessed for it (root, as for
 * any PAM service). */
void doc_claim_pam_service(struct doctor *d, const char *service);

/* ---- files below --root (doctor_sys.c) ---------------------------------- */

/* out = root + path. 0, or -1 if it does not fit. */
int doc_path(const struct doctor *d, const char *path, char *out, size_t outlen);

/* open(2) of an absolute path below d->rootfd, with openat2's
 * RESOLVE_IN_ROOT: "..", absolute symlinks and their targets stay below the
 * root, as in a chroot. The descriptor, or -1 with errno set. */
int doc_open_in(const struct doctor *d, const char *path, int flags);

/* Read a whole file below root into a new NUL-terminated buffer (at most
 * maxlen bytes). 0; -1 with errno set (ENOENT: missing; EFBIG: too large). */
int doc_read(const struct doctor *d, const char *path, size_t maxlen, char **text, size_t *len);

/* The names in a directory below root, sorted, without "." and "..": a
 * new array of new strings (free each, then the array). The count, or -1
 * with errno set. */
int doc_list_dir(const struct doctor *d, const char *dir, char ***names);

/* 1 if path exists below root (symlinks followed, below the root as
 * doc_open_in says), 0 otherwise. */
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

/* ---- evaluating a server config in a sandbox (doctor_sandbox.c) --------- */

#define DOC_SANDBOX_SECONDS 5                /* wall clock, and CPU time */
#define DOC_SANDBOX_MEMORY  (256ul << 20)     /* address space of the child */
#define DOC_RESULT_MAX      (1u << 20)        /* bytes of results */
#define DOC_FIELDS_MAX      16
#define DOC_STR_(x) #x
#define DOC_STR(x)  DOC_STR_(x)

/* What the child writes its records to. */
struct doc_out;
/* Send one record of n fields (lens NULL: NUL-terminated strings). A NUL
 * byte inside a field is sent as the text "\x00". */
void doc_out_record(struct doc_out *o, size_t n, const char *const *fields, const size_t *lens);
/* Send a finding ("ok", "warn", "FAIL" and its text) for the caller's area. */
void doc_out_finding(struct doc_out *o, enum doc_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs in the child, with d's root being the sandbox's. */
typedef void (*doc_child_fn)(struct doctor *d, struct doc_out *out, void *arg);

/* The records the child sent, read one by one with doc_result_next. */
struct doc_result {
    char *buf;
    size_t len, pos;
};

/* Run fn(d, out, arg) in a child confined as doctor_sandbox.c says, as the
 * user `user` of the checked system (nobody if it does not exist). 0 with
 * *res holding its records; -1 after a FAIL in area that says why file
 * was not evaluated (did not finish within DOC_SANDBOX_SECONDS, too much
 * output, crashed). */
int doc_sandbox(struct doctor *d, const char *area, const char *file, const char *user,
                doc_child_fn fn, void *arg, struct doc_result *res);
/* The next record: its number of fields (fields[] point into res), 0 at
 * the end. */
size_t doc_result_next(struct doc_result *res, const char *fields[DOC_FIELDS_MAX]);
/* Report the record if it is a finding: 1; 0 if it is something else. */
int doc_result_finding(struct doctor *d, const char *area, const char *const *fields, size_t n);
void doc_result_free(struct doc_result *res);

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
/* Does command run `xtoken extauth`? 0 no; 1 yes, with config set to its
 * --config ("" if none); 2 yes, with the removed --protocol line
 * (doctor_ejabberd.c). */
int doc_extauth_command(const char *command, char *config, size_t len);
/* The start of the FAIL for it; the fix follows. */
#define DOC_LINE_PROTOCOL_GONE                                                                    \
    "xtoken extauth --protocol line is removed: a password with a newline made it answer "      \
    "twice, so a wrong password could log in as the next user asked about (doc/security.md); " \
    "xtoken refuses the option (usage error, exit 2) and every login fails; fix: "
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
