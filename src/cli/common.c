/* cli/common: status -> exit code and message; Ctrl-C / SIGTERM as a flag. */
#include "cli/cli.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

int cli_exit_code(vv_status status) {
    switch (status) {
    case VV_OK: return EXIT_OK;
    case VV_ERR_INVALID_ARGUMENT: return EXIT_USAGE;
    case VV_ERR_NOT_FOUND: return 3;
    case VV_ERR_IO: return 4;
    case VV_ERR_FORMAT: return 5;
    case VV_ERR_CORRUPT: return 6;
    case VV_ERR_TOO_LARGE: return 7;
    case VV_ERR_NO_FACE: return 8;
    case VV_ERR_NO_VIDEO: return 9;
    case VV_ERR_WRITE: return 10;
    case VV_ERR_MODEL: return 11;
    case VV_ERR_UNSUPPORTED: return 12;
    case VV_ERR_NO_MEMORY: return 13;
    case VV_ERR_ABORTED: return 130;
    default: return EXIT_INTERNAL;
    }
}

int cli_fail(vv_status status) {
    fprintf(stderr, "vivify: %s\n", vv_last_error());
    return cli_exit_code(status);
}

/* The handler only sets this; long jobs poll it (animate's library from its tracker thread
 * too: a lock-free atomic, not volatile sig_atomic_t).  SA_RESETHAND: a second signal
 * kills as usual. */
static atomic_int interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

void cli_interrupt_catch(bool install) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = install ? on_interrupt : SIG_DFL;
    action.sa_flags = install ? SA_RESTART | SA_RESETHAND : 0;
    if (install) interrupted = 0;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

bool cli_interrupted(void) { return interrupted != 0; }
