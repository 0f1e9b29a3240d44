/* vivify command line: subcommand dispatch. */
#include "cli/cli.h"
#include "cli/train_mpi.h"
#include "nn/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(FILE *out) {
    fprintf(out,
            "vivify %s: bring portraits to life\n"
            "\n"
            "usage: vivify COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  landmarks INPUT [-o OUT.json] [--overlay OUT.png|OUT.mp4] [--smooth S]\n"
            "                     faces, 68 landmarks and head pose of an image or video\n"
            "  animate SOURCE... (--driving VIDEO | --motion NAME|FILE) -o OUT\n"
            "                     animate a portrait (mp4, gif or a PNG folder)\n"
            "  live SOURCE... [--input CAMERA|VIDEO] [--window] [--output OUT.mp4] [--stats FILE.json]\n"
            "                     the portrait mirrors a driver in real time (fps, latency, drops)\n"
            "  motion extract VIDEO -o M.json\n"
            "                     save a driver's motion as a reusable template\n"
            "  metrics A B [--json]  pairwise SSIM/PSNR/L1/CSIM/landmark metrics of images or videos\n"
            "  eval CLIPS... [--engine warp] [--portraits DIR] -o DIR  evaluation report (see --help)\n"
            "  serve [--port 8080]  a local web page (and JSON API) to animate portraits\n"
            "  dataset build CLIPS... -o TRAIN.vds  face-crop training set (dataset info FILE)\n"
            "  train --data TRAIN.vds -o BASE.safetensors  meta-learn the few-shot model (see --help)\n"
            "  finetune BASE.safetensors SHOTS... -o PERSON.safetensors  fine-tune it on a person\n"
            "  bench nn [--json]    speed of the training core (GFLOP/s, PyTorch ratio, faceres)\n"
            "\n"
            "  vivify COMMAND --help   options of one command\n"
            "  vivify --version        print the version\n",
            vv_version());
}

/* The version, then the compute backends this binary has: the CPU one always, oneDNN when
 * built in and loadable here, MPI ranks and CUDA when built. */
static void print_version(void) {
    printf("vivify %s\n", vv_version());
    const char *dnnl = nn_dnnl_library();
#ifdef VV_HAVE_DNNL
    const char *dnnl_built = "built in, but libdnnl is not loadable here (convolutions on im2col + OpenBLAS)";
#else
    const char *dnnl_built = "not built in";
#endif
    printf("backends:\n");
    printf("  cpu     yes (%s)\n", dnnl ? "oneDNN GEMM and convolutions, OpenBLAS for shapes it refuses"
                                     : "OpenBLAS GEMM, im2col convolutions");
    if (dnnl) printf("  onednn  yes (%s)\n", dnnl);
    else printf("  onednn  no: %s\n", dnnl_built);
#ifdef VV_MPI
    printf("  mpi     yes: %s (mpirun -np N vivify train)\n", cli_mpi_description());
#else
    printf("  mpi     no: %s\n", cli_mpi_description());
#endif
#if defined(VV_CUDA) || defined(VV_HAVE_CUDA)
    printf("  cuda    yes (--device cuda)\n");
#else
    printf("  cuda    no: not built in (cmake -DVV_CUDA=ON)\n");
#endif
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        print_version();
        return 0;
    }
    /* Inference commands: one OpenBLAS thread (see nn_blas_threads), unless the user says.
     * dataset too: its parallelism is over clips (--threads), and OpenBLAS's own threads
     * spinning beside the workers took 10x the CPU (5.8 s against 0.5 s for 12 clips). */
    const char *inference[] = {"landmarks", "animate", "live", "motion", "metrics", "serve", "dataset"};
    for (size_t i = 0; i < sizeof inference / sizeof *inference; i++)
        if (!strcmp(cmd, inference[i]) && !getenv("OPENBLAS_NUM_THREADS")) nn_blas_threads(1);
    if (!strcmp(cmd, "landmarks")) return cli_landmarks(argc - 1, argv + 1);
    if (!strcmp(cmd, "animate")) return cli_animate(argc - 1, argv + 1);
    if (!strcmp(cmd, "live")) return cli_live(argc - 1, argv + 1);
    if (!strcmp(cmd, "motion")) return cli_motion(argc - 1, argv + 1);
    if (!strcmp(cmd, "metrics")) return cli_metrics(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "dataset")) return cli_dataset(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "finetune")) return cli_finetune(argc - 1, argv + 1);
    fprintf(stderr, "vivify: unknown command '%s' (see vivify --help)\n", cmd);
    return EXIT_USAGE;
}
