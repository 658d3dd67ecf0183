/* xtoken doctor: is the clock synchronised? Tokens carry a TOTP of the
 * issuing machine's clock: a verifier whose clock is off by more than the
 * window refuses them (expired / not yet valid). The kernel knows whether a
 * time daemon disciplines it (STA_UNSYNC clear, whichever daemon); the
 * daemons' own state files say which one. */
#include <stdio.h>
#include <sys/timex.h>

#include "doctor.h"

#define TIMESYNCD_SYNCED "/run/systemd/timesync/synchronized"

/* Which time daemon shows signs of life below root, or NULL. */
static const char *daemon_seen(const struct doctor *d)
{
    static const struct {
        const char *path, *name;
    } signs[] = {
        {TIMESYNCD_SYNCED, "systemd-timesyncd (synchronised)"},
        {"/run/chrony/chronyd.pid", "chronyd"},
        {"/run/ntpd.pid", "ntpd (ntpsec)"},
        {"/run/ntpsec/ntpd.pid", "ntpd (ntpsec)"},
    };

    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (doc_exists(d, signs[i].path))
            return signs[i].name;
    return NULL;
}

void doc_check_clock(struct doctor *d)
{
    const char *seen = daemon_seen(d);
    struct timex tx = {0};
    int state;

    if (d->root[0] != '\0') { /* another system's files: this kernel is not its clock */
        if (seen && doc_exists(d, TIMESYNCD_SYNCED))
            doc_report(d, DOC_OK, "clock", "systemd-timesyncd says synchronised (" TIMESYNCD_SYNCED
                                           ")");
        else
            doc_report(d, DOC_WARN, "clock",
                       "cannot confirm the clock is synchronised below --root (%s): a verifier "
                       "off by more than the window refuses tokens as expired / not yet valid; "
                       "fix: apt-get install systemd-timesyncd (or chrony), then timedatectl",
                       seen ? seen : "no time daemon state found");
        return;
    }
    state = ntp_adjtime(&tx);
    if (state != -1 && state != TIME_ERROR && !(tx.status & STA_UNSYNC)) {
        doc_report(d, DOC_OK, "clock", "kernel clock synchronised (maximum error %ld ms)%s%s",
                   tx.maxerror / 1000, seen ? ", by " : "", seen ? seen : "");
        return;
    }
    doc_report(d, DOC_WARN, "clock",
               "cannot confirm the clock is synchronised (the kernel says unsynchronised%s%s): a "
               "verifier off by more than the window refuses tokens as expired / not yet valid; "
               "fix: apt-get install systemd-timesyncd (or chrony), then timedatectl",
               seen ? "; seen: " : ", no time daemon state found", seen ? seen : "");
}
