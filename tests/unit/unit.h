/* Shared helpers of the Check unit tests. */
#ifndef XTOKEN_UNIT_H
#define XTOKEN_UNIT_H

#include <check.h>

#include "xtoken.h"

/* Parse config text that must be valid (fails the test otherwise). */
xt_config *unit_config(const char *text);

/* Write text to a new file in a fresh temp dir with the given mode; returns
 * its path (static buffer). */
const char *unit_write_file(const char *name, const char *text, unsigned mode);

Suite *token_suite(void);
Suite *config_suite(void);
Suite *users_suite(void);
Suite *verifier_suite(void);

#endif
