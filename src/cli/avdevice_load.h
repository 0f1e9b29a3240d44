/* cli/avdevice_load: libavdevice (cameras, lavfi graphs, pipes, v4l2 output), opened at
 * run time by the commands that use it rather than linked: its 77 libraries (libavfilter
 * and the device back ends) cost every command ~22 ms of start-up. */
#ifndef VV_CLI_AVDEVICE_LOAD_H
#define VV_CLI_AVDEVICE_LOAD_H

#include "base/base.h"

/* Opens libavdevice (once) and registers its devices with libavformat, as
 * avdevice_register_all; VV_ERR_UNSUPPORTED, saying why, when it cannot be opened. */
vv_status cli_avdevice_register(void);

#endif
