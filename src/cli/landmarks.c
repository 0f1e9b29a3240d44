/* cli/landmarks: `vivify landmarks INPUT [-o OUT.json] [--overlay OUT] [--smooth S]`. */
#include "cli/cli.h"

#include <stdio.h>

int cli_landmarks(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "landmarks: not built yet"));
}
