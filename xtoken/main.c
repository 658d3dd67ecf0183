/* xtoken: create keys, issue and verify tokens, serve ejabberd's extauth.
 * Dispatches to one function per subcommand (see tool.h). */
#include <stdio.h>
#include <string.h>

#include "tool.h"
#include "xtoken.h"

static const char usage[] =
    "Usage: xtoken COMMAND [OPTIONS]\n"
    "Create keys, issue and verify mod_auth_token-format login tokens.\n"
    "\n"
    "Commands:\n"
    "  keygen [--domain D]                  print a config block with fresh keys\n"
    "  issue [--config F] [--at T] JID      print a token for JID\n"
    "  verify [--config F] [--at T] [--no-replay] JID\n"
    "                                       check the token on stdin for JID\n"
    "  check-config [--config F]            validate the config, list its domains\n"
    "  isuser [--config F] [--users P] JID  does the user exist?\n"
    "  extauth [--config F] [--users P] [--no-replay] [--verbose]\n"
    "                                       serve ejabberd's extauth on stdin/stdout\n"
    "  doctor [--config F] [--root DIR]     check this machine's token login setup\n"
    "\n"
    "Run 'xtoken COMMAND --help' for the details of one command.\n"
    "Default config: " XT_DEFAULT_CONFIG "\n"
    "Exit status: 0 ok, 1 refused, 2 usage, config or system error.\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"keygen", cmd_keygen}, {"issue", cmd_issue},
        {"verify", cmd_verify}, {"check-config", cmd_check_config},
        {"isuser", cmd_isuser}, {"extauth", cmd_extauth},
        {"doctor", cmd_doctor},
    };

    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("xtoken %s\n", XTOKEN_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    tool_error("unknown command '%s' (see xtoken --help)", argv[1]);
    return EXIT_USAGE;
}
