/* cli: the vivify command.  Maps library statuses to messages and exit codes. */
#ifndef VV_CLI_H
#define VV_CLI_H

#include "base/base.h"

/* Exit codes: 0 ok; 1 internal; 2 usage; then one per failure kind (see cli_exit_code). */
enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
};

/* Prints "vivify: <vv_last_error()>" and returns the exit code for status. */
int cli_fail(vv_status status);
int cli_exit_code(vv_status status);

int cli_landmarks(int argc, char **argv);

#endif
