/* cli/animate: placeholder until the warp engine lands (issue 3). */
#include "cli/cli.h"

int cli_animate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "animate: not built yet"));
}

int cli_motion(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail(vv_fail(VV_ERR_UNSUPPORTED, "motion: not built yet"));
}
