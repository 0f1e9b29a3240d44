/* cli: the vivify command.  Maps library statuses to messages and exit codes. */
#ifndef VV_CLI_H
#define VV_CLI_H

#include "base/base.h"

#include <stdio.h>

/* Exit codes: 0 ok; 1 internal; 2 usage; then one per failure kind (see cli_exit_code). */
enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,
    EXIT_USAGE = 2,
};

/* Prints "vivify: <vv_last_error()>" and returns the exit code for status. */
int cli_fail(vv_status status);
int cli_exit_code(vv_status status);
/* Ctrl-C / SIGTERM for a long job: cli_interrupt_catch(true) makes the first one set a
 * flag (cleared then) that cli_interrupted() reads from any thread, and a second one kill
 * as usual; cli_interrupt_catch(false) restores the defaults. */
void cli_interrupt_catch(bool install);
bool cli_interrupted(void);

/* Option tables: --help text is generated from the same table. */
typedef enum { OPT_FLAG, OPT_STRING, OPT_INT, OPT_FLOAT } cli_option_type;
typedef struct cli_option {
    const char *long_name;
    char short_name;
    cli_option_type type;
    void *target;        /* bool*, const char**, int*, float* */
    const char *metavar; /* shown in help, e.g. "OUT.json" */
    const char *help;
    double min, max;     /* accepted range for numbers */
} cli_option;

/* Returns 0 ok, 1 help was printed (exit 0), -1 error was printed (exit EXIT_USAGE). */
int cli_parse(int argc, char **argv, const cli_option *opts, int count, const char **positional,
              int max_positional, int *positional_count, const char *usage);
/* Whether argv (as cli_parse reads it) gives the option --long_name. */
bool cli_option_given(int argc, char **argv, const cli_option *opts, int count, const char *long_name);
void cli_print_usage(FILE *out, const char *usage, const cli_option *opts, int count);

typedef struct progress_bar {
    const char *label, *unit;
    long total;
    double start, last_draw;
    int last_decile;
    bool tty, quiet;
} progress_bar;
void progress_start(progress_bar *bar, const char *label, long total, const char *unit);
void progress_update(progress_bar *bar, long done);
void progress_finish(progress_bar *bar);

int cli_landmarks(int argc, char **argv);
int cli_animate(int argc, char **argv); /* cli/animate.c */
int cli_motion(int argc, char **argv);  /* cli/animate.c: `motion extract` */
int cli_live(int argc, char **argv);    /* cli/live.c */
int cli_metrics(int argc, char **argv); /* cli/metrics.c */
int cli_eval(int argc, char **argv);    /* cli/eval.c */
int cli_serve(int argc, char **argv);   /* cli/serve.c */
int cli_dataset(int argc, char **argv); /* cli/dataset.c */
int cli_bench(int argc, char **argv);   /* cli/bench.c: `bench nn` */
int cli_train(int argc, char **argv);    /* cli/train.c */
int cli_finetune(int argc, char **argv); /* cli/train.c */

#endif
