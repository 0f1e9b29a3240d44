/* cli/args: a small option table parser shared by the subcommands, with --help text
 * generated from the same table (so defaults shown are the defaults used). */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_option_help(FILE *out, const cli_option *opts, int count) {
    for (int i = 0; i < count; i++) {
        const cli_option *o = &opts[i];
        char left[96];
        const char *meta = o->metavar ? o->metavar
                           : o->type == OPT_FLAG ? ""
                           : o->type == OPT_STRING ? "S" : "N";
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name,
                     meta[0] ? " " : "", meta);
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->long_name, meta[0] ? " " : "", meta);
        fprintf(out, "  %-28s %s", left, o->help);
        /* The default from the variable itself, unless the text already explains it. */
        bool explained = strstr(o->help, "default") != NULL;
        /* A 0 that means something ("threads (0: all cores)"): that meaning, not "default 0". */
        const char *zero = o->type == OPT_INT && o->target && *(int *)o->target == 0 ? strstr(o->help, "0: ") : NULL;
        if (!explained && zero && (zero == o->help || zero[-1] == '(' || zero[-1] == ' ')) {
            const char *meaning = zero + 3, *end = strchr(meaning, ')');
            fprintf(out, " (default: %.*s)", (int)(end ? end - meaning : (long)strlen(meaning)), meaning);
            explained = true;
        }
        if (!explained && o->type == OPT_INT && o->target) fprintf(out, " (default %d)", *(int *)o->target);
        if (!explained && o->type == OPT_FLOAT && o->target) fprintf(out, " (default %g)", *(float *)o->target);
        if (!explained && o->type == OPT_STRING && o->target && *(const char **)o->target)
            fprintf(out, " (default %s)", *(const char **)o->target);
        fputc('\n', out);
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
}

void cli_print_usage(FILE *out, const char *usage, const cli_option *opts, int count) {
    fprintf(out, "%s\n\noptions:\n", usage);
    print_option_help(out, opts, count);
}

/* The option an argument ("--name", "--name=value", "-x") names, or NULL. */
static const cli_option *option_find(const char *arg, const cli_option *opts, int count, const char **inline_value) {
    const cli_option *o = NULL;
    char name[64];
    *inline_value = NULL;
    if (arg[1] == '-') {
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, arg + 2, len);
        name[len] = 0;
        if (eq) *inline_value = eq + 1;
        for (int k = 0; k < count; k++)
            if (!strcmp(opts[k].long_name, name)) o = &opts[k];
    } else if (arg[2] == 0) {
        for (int k = 0; k < count; k++)
            if (opts[k].short_name == arg[1]) o = &opts[k];
    }
    return o;
}

bool cli_option_given(int argc, char **argv, const cli_option *opts, int count, const char *long_name) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) break;
        if (arg[0] != '-' || arg[1] == 0) continue;
        const char *inline_value = NULL;
        const cli_option *o = option_find(arg, opts, count, &inline_value);
        if (o && !strcmp(o->long_name, long_name)) return true;
        if (o && o->type != OPT_FLAG && !inline_value) i++; /* its value, whatever it looks like */
    }
    return false;
}

int cli_parse(int argc, char **argv, const cli_option *opts, int count, const char **positional,
              int max_positional, int *positional_count, const char *usage) {
    *positional_count = 0;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && (!strcmp(arg, "-h") || !strcmp(arg, "--help"))) {
            cli_print_usage(stdout, usage, opts, count);
            return 1;
        }
        if (!options_done && !strcmp(arg, "--")) {
            options_done = true;
            continue;
        }
        if (options_done || arg[0] != '-' || arg[1] == 0) {
            if (*positional_count >= max_positional) {
                fprintf(stderr, "vivify: unexpected argument '%s' (see --help)\n", arg);
                return -1;
            }
            positional[(*positional_count)++] = arg;
            continue;
        }
        const char *inline_value = NULL;
        const cli_option *o = option_find(arg, opts, count, &inline_value);
        if (!o) {
            fprintf(stderr, "vivify: unknown option '%s' (see --help)\n", arg);
            return -1;
        }
        if (o->type == OPT_FLAG) {
            if (inline_value) {
                fprintf(stderr, "vivify: option --%s takes no value\n", o->long_name);
                return -1;
            }
            *(bool *)o->target = true;
            continue;
        }
        const char *value = inline_value;
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vivify: option --%s needs a value\n", o->long_name);
                return -1;
            }
            value = argv[++i];
        }
        char *end = NULL;
        errno = 0;
        switch (o->type) {
        case OPT_STRING: *(const char **)o->target = value; break;
        case OPT_INT: {
            long v = strtol(value, &end, 10);
            if (errno || !end || *end || end == value || v < o->min || v > o->max) {
                fprintf(stderr, "vivify: --%s expects an integer from %g to %g, got '%s'\n",
                        o->long_name, o->min, o->max, value);
                return -1;
            }
            *(int *)o->target = (int)v;
            break;
        }
        case OPT_FLOAT: {
            float v = strtof(value, &end);
            if (errno || !end || *end || end == value || !(v >= o->min && v <= o->max)) {
                fprintf(stderr, "vivify: --%s expects a number from %g to %g, got '%s'\n",
                        o->long_name, o->min, o->max, value);
                return -1;
            }
            *(float *)o->target = v;
            break;
        }
        default: break;
        }
    }
    return 0;
}
