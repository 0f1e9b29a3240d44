/* cli/common: status -> exit code and message. */
#include "cli/cli.h"

#include <stdio.h>

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
