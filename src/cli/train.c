/* cli/train: `vivify train` (meta-learning the fsth model on a .vds dataset) and
 * `vivify finetune` (few-shot fine-tuning on a person's photos or video). */
#include "cli/cli.h"
#include "cli/device.h"
#include "cli/finetune_shots.h"
#include "cli/train_mpi.h"

#include "face/facemesh.h"
#include "img/image.h"
#include "nn/tfjs.h"
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* faceres for the identity content term, or NULL (with a note) when it cannot be had. */
static tfjs_model *load_faceres(float weight, bool quiet) {
    if (weight <= 0.0f) return NULL;
    char path[4096];
    tfjs_model *model = NULL;
    if (models_find("faceres.json", path, sizeof path) != VV_OK || tfjs_model_load(&model, path) != VV_OK) {
        if (!quiet) fprintf(stderr, "note: faceres not available (%s); content loss is pixel L1 only\n", vv_last_error());
        return NULL;
    }
    return model;
}

/* A model file named on the command line (finetune's BASE, train --resume's -o): every
 * failure is VV_ERR_MODEL (exit 11, as animate --model) but running out of memory. */
static vv_status model_load_named(fsth_model **out, const char *path) {
    if (!file_exists(path)) return vv_fail(VV_ERR_MODEL, "model file not found: %s", path);
    vv_status s = fsth_model_load(out, path);
    if (s != VV_OK && s != VV_ERR_MODEL && s != VV_ERR_NO_MEMORY) {
        char why[512];
        snprintf(why, sizeof why, "%s", vv_last_error());
        s = vv_fail(VV_ERR_MODEL, "not a usable model: %s", why);
    }
    return s;
}

/* The folder an output goes into exists: checked before minutes of work, not after. */
static vv_status output_folder_check(const char *path) {
    const char *slash = strrchr(path, '/');
    char folder[4096];
    snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    struct stat st;
    if (stat(folder, &st) != 0) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return vv_fail(VV_ERR_WRITE, "cannot write %s: %s is not a folder", path, folder);
    return VV_OK;
}

/* One row of S x S panels (3-channel tensors in [-1, 1]): landmark image, generated, real;
 * a hybrid's also shows its warp input and validity (white: moved, black: invented). */
static vv_status save_panels(const char *path, const float *const *panels, int count, int S) {
    vv_image row, tile;
    vv_status status = image_create(&row, count * S, S, 3);
    if (status != VV_OK) return status;
    if ((status = image_create(&tile, S, S, 3)) != VV_OK) {
        image_free(&row);
        return status;
    }
    for (int p = 0; p < count; p++) {
        fsth_tensor_to_image(&tile, panels[p], S);
        for (int y = 0; y < S; y++)
            memcpy(row.data + ((size_t)y * count * S + (size_t)p * S) * 3, tile.data + (size_t)y * S * 3, (size_t)S * 3);
    }
    status = image_save(&row, path);
    image_free(&tile);
    image_free(&row);
    return status;
}

/* A fixed validation episode (its own seed), rendered with the current weights. */
typedef struct validation {
    fsth_batch batch;
    float *e, *psi, *fake;
    float *buffer;
} validation;

static vv_status validation_init(validation *v, const fsth_model *m, int k) {
    memset(v, 0, sizeof *v);
    int S = m->config.size, emb = fsth_embedding_dim(&m->config), inc = fsth_generator_in_channels(&m->config);
    size_t plane = (size_t)S * S;
    size_t total = (size_t)k * 6 * plane + 6 * plane + (size_t)inc * plane + (size_t)k * emb + (size_t)m->G.psi_dim + 3 * plane;
    v->buffer = mem_calloc(total, sizeof(float));
    v->batch.videos = mem_calloc(1, sizeof(int));
    if (!v->buffer || !v->batch.videos) return vv_fail(VV_ERR_NO_MEMORY, "validation: no memory");
    v->batch = (fsth_batch){1, k, S, inc, v->buffer, NULL, NULL, v->batch.videos, 0, 1, NULL};
    v->batch.target = v->batch.shots + (size_t)k * 6 * plane;
    v->batch.g_in = v->batch.target + 6 * plane;
    v->e = v->batch.g_in + (size_t)inc * plane;
    v->psi = v->e + (size_t)k * emb;
    v->fake = v->psi + m->G.psi_dim;
    return VV_OK;
}

static vv_status validation_render(validation *v, fsth_model *m, const char *path) {
    int K = v->batch.K, emb = fsth_embedding_dim(&m->config);
    vv_status status = fsth_embedder_forward(&m->E, v->e, v->batch.shots, K);
    if (status != VV_OK) return status;
    for (int j = 0; j < emb; j++) {
        double s = 0.0;
        for (int k = 0; k < K; k++) s += v->e[(size_t)k * emb + j];
        v->e[j] = (float)(s / K);
    }
    fsth_generator_project(&m->G, v->psi, v->e, 1);
    status = fsth_generator_forward(&m->G, v->fake, v->batch.g_in, v->psi, 1);
    size_t plane = (size_t)v->batch.S * v->batch.S;
    if (status != VV_OK) return status;
    const float *panels[5] = {v->batch.target + 3 * plane, v->fake, v->batch.target};
    if (!m->config.hybrid) return save_panels(path, panels, 3, v->batch.S);
    float *validity = mem_alloc(3 * plane, sizeof(float));
    if (!validity) return vv_fail(VV_ERR_NO_MEMORY, "validation: no memory");
    for (size_t i = 0; i < 3 * plane; i++) validity[i] = 2.0f * v->batch.g_in[6 * plane + i % plane] - 1.0f;
    panels[1] = v->batch.g_in + 3 * plane, panels[2] = validity, panels[3] = v->fake, panels[4] = v->batch.target;
    status = save_panels(path, panels, 5, v->batch.S);
    free(validity);
    return status;
}


static vv_status save_checkpoint(fsth_model *m, fsth_trainer *t, const char *out, const char *state) {
    /* State first: a model newer than its state is never paired with an older state. */
    vv_status status = fsth_trainer_save_state(t, state);
    return status == VV_OK ? fsth_model_save(m, out, false) : status;
}

int cli_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *log_path = NULL, *export_path = NULL, *init = NULL;
    const char *device = "cpu";
    int steps = 1000, k = 8, batch = 1, size = 128, width = 16, bottleneck = 4, seed = 1;
    int val_every = 100, checkpoint_every = 100;
    bool resume = false, attention = false, hybrid = false, warp3d = false, residual = false, quiet = false;
    float flow = 0.0f, flow_l1 = 0.0f, flow_l1_features = 0.0f;
    float lr_g = 5e-5f, lr_d = 2e-4f, identity = 10.0f, perceptual = 0.0f, invented = 0.0f;
    float adversarial = 1.0f, feature_matching = 10.0f, regions = 0.0f;
    const char *episodes = NULL; /* clip, or with --resume the run's own */
    const cli_option opts[] = {
        {"data", 0, OPT_STRING, &data, "TRAIN.vds", "the training set (vivify dataset build)", 0, 0},
        {"output", 'o', OPT_STRING, &out, "BASE.safetensors", "the model; its training state goes to BASE.safetensors.state", 0, 0},
        {"steps", 0, OPT_INT, &steps, "N", "train until step N", 1, 1e9},
        {"k", 0, OPT_INT, &k, "K", "frames per episode embedding", 1, DATASET_MAX_SHOTS - 1},
        {"batch", 0, OPT_INT, &batch, "B", "episodes per step", 1, 64},
        {"resume", 0, OPT_FLAG, &resume, NULL, "continue from -o and its .state exactly where it stopped: the configuration from -o; k, batch, seed, learning rates and loss weights from the state unless given again", 0, 0},
        {"size", 0, OPT_INT, &size, "S", "image side 32, 64, 128 or 256", 32, 256},
        {"width", 0, OPT_INT, &width, "W", "base channels; the widest layers have 8 W", 1, 64},
        {"bottleneck", 0, OPT_INT, &bottleneck, "N", "AdaIN residual blocks at the generator's bottleneck", 0, 6},
        {"attention", 0, OPT_FLAG, &attention, NULL, "self-attention in G and D", 0, 0},
        {"hybrid", 0, OPT_FLAG, &hybrid, NULL, "hybrid engine: G also sees the warped first shot and blends", 0, 0},
        {"warp3d", 0, OPT_FLAG, &warp3d, NULL, "hybrid: that warp is the 3D head's (animate's default engine), with its validity map", 0, 0},
        {"residual", 0, OPT_FLAG, &residual, NULL, "hybrid: G adds a correction to the warp instead of blending a painting into it (with --init of a blending hybrid: its weights, the correction starting at 0)", 0, 0},
        {"flow", 0, OPT_FLOAT, &flow, "PX", "residual hybrid that also moves the warp's pixels by a displacement of up to PX crop pixels (with --init of a hybrid: its weights, the displacement starting at 0)", 0, 64},
        {"flow-l1", 0, OPT_FLOAT, &flow_l1, "W", "flow hybrid: adds W * mean |displacement| (crop pixels) to G's loss, so it moves pixels only where that pays (not logged)", 0, 1000},
        {"flow-l1-features", 0, OPT_FLOAT, &flow_l1_features, "W", "flow hybrid: + W on that term within 2 pixels of the target's landmark drawing, where the warp already put the features", 0, 1000},
        {"init", 0, OPT_STRING, &init, "MODEL.safetensors", "start from this model's weights (e.g. a shipped one; its configuration, fresh optimiser state)", 0, 0},
        {"invented", 0, OPT_FLOAT, &invented, "W", "hybrid: pixel-loss weight 1 + W where the warp invented pixels (0: uniform)", 0, 1000},
        {"regions", 0, OPT_FLOAT, &regions, "W", "pixel-loss weight + W on the target's eyes and mouth (0: uniform)", 0, 1000},
        {"seed", 0, OPT_INT, &seed, "N", "initialisation and episode seed", 0, 2147483647},
        {"lr-g", 0, OPT_FLOAT, &lr_g, "LR", "Adam learning rate of E and G", 1e-8, 1},
        {"lr-d", 0, OPT_FLOAT, &lr_d, "LR", "Adam learning rate of D", 1e-8, 1},
        {"identity", 0, OPT_FLOAT, &identity, "W", "weight of the faceres-feature L1 content term (0: off)", 0, 1000},
        {"perceptual", 0, OPT_FLOAT, &perceptual, "W", "weight of the perceptual term: L1 on five faceres layers (0: off)", 0, 1000},
        {"adversarial", 0, OPT_FLOAT, &adversarial, "W", "weight of the adversarial term (with --feature-matching 0: D is not run)", 0, 1000},
        {"feature-matching", 0, OPT_FLOAT, &feature_matching, "W", "weight of the feature-matching term through D", 0, 1000},
        {"val-every", 0, OPT_INT, &val_every, "N", "validation image every N steps (0: never)", 0, 1e9},
        {"checkpoint-every", 0, OPT_INT, &checkpoint_every, "N", "checkpoint every N steps", 1, 1e9},
        {"export", 0, OPT_STRING, &export_path, "SHIP.safetensors", "also write a float16 copy of the model at each checkpoint (to ship; not for --resume)", 0, 0},
        {"log", 0, OPT_STRING, &log_path, "FILE", "log file, appended (BASE.safetensors.log when not given)", 0, 0},
        {"quiet", 'q', OPT_FLAG, &quiet, NULL, "no progress lines on stderr (the log still gets them)", 0, 0},
        {"device", 0, OPT_STRING, &device, "cpu|cuda", CLI_DEVICE_HELP, 0, 0},
        {"episodes", 0, OPT_STRING, &episodes, "clip|person", "draw each episode's clip uniformly (default; --resume: as the run did), or a person uniformly then one of their clips (docs/DATASET.md)", 0, 0},
    };
    const char *positional[1];
    int npos = 0;
    char usage[1024];
    snprintf(usage, sizeof usage,
             "usage: vivify train --data TRAIN.vds -o BASE.safetensors [--steps N] [--k 8] [--batch B] [--resume]\n"
             "       mpirun -np N vivify train ...   (N data-parallel ranks share each batch of B >= N)\n\n"
             "Meta-learns the few-shot talking-head model (docs/MODEL.md): episodes of K frames + 1 target\n"
             "per video; one progress line per step; validation images in BASE.safetensors.val/; atomic\n"
             "checkpoints; --resume continues exactly (same result as an uninterrupted run), with any N.\n"
             "Data-parallel ranks: %s (docs/TRAINING.md).", cli_mpi_description());
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 0, &npos, usage);
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if ((r = cli_device_use(device))) return r;
    if (episodes && strcmp(episodes, "clip") && strcmp(episodes, "person")) {
        fprintf(stderr, "vivify: --episodes must be clip or person, not '%s'\n", episodes);
        return EXIT_USAGE;
    }
    if (!data || !out) {
        fprintf(stderr, "vivify: train needs --data TRAIN.vds and -o BASE.safetensors (see vivify train --help)\n");
        return EXIT_USAGE;
    }
    char state_path[4096], log_default[4096], val_dir[4096];
    snprintf(state_path, sizeof state_path, "%s.state", out);
    snprintf(log_default, sizeof log_default, "%s.log", out);
    snprintf(val_dir, sizeof val_dir, "%s.val", out);
    if (!log_path) log_path = log_default;
    if (resume) { /* train as the run did: the options its state recorded, unless given again */
        fsth_train_params saved = fsth_train_default_params();
        bool recorded = false;
        /* no state: the model's load below says what is missing, as before */
        vv_status rs = file_exists(state_path) ? fsth_train_state_params(state_path, &saved, &recorded) : VV_OK;
        if (rs != VV_OK) return cli_fail(rs);
        const int option_count = (int)(sizeof opts / sizeof opts[0]);
        const char *int_names[3] = {"k", "batch", "seed"};
        const char *float_names[8] = {"lr-g", "lr-d", "identity", "perceptual", "adversarial", "feature-matching",
                                      "invented", "regions"};
        int *ints[3] = {&k, &batch, &seed};
        const int saved_ints[3] = {saved.k, saved.batch, (int)saved.seed};
        float *floats[8] = {&lr_g, &lr_d, &identity, &perceptual, &adversarial, &feature_matching, &invented, &regions};
        const float saved_floats[8] = {saved.lr_g, saved.lr_d, saved.w_identity, saved.w_perceptual, saved.w_adv,
                                       saved.w_fm, saved.w_invented, saved.w_regions};
        for (int i = 0; recorded && i < 3; i++)
            if (!cli_option_given(argc, argv, opts, option_count, int_names[i])) *ints[i] = saved_ints[i];
        for (int i = 0; recorded && i < 8; i++)
            if (!cli_option_given(argc, argv, opts, option_count, float_names[i])) *floats[i] = saved_floats[i];
    }
    /* Under mpirun: this rank of N (train/parallel.h); rank 0 alone writes the log,
     * validation images and checkpoints, the others print only their errors. */
    train_parallel par;
    vv_status s = cli_mpi_start(&par);
    if (s != VV_OK) return cli_fail(s);
    bool lead = par.rank == 0;
    int ranks = train_parallel_ranks(&par);
    if (!lead) quiet = true;
    s = output_folder_check(out);
    if (s == VV_OK && export_path) s = output_folder_check(export_path);
    dataset *ds = NULL;
    if (s == VV_OK) s = dataset_open(&ds, data);
    if (s != VV_OK) {
        int code = cli_fail(s);
        cli_mpi_abort(code);
        cli_mpi_finish();
        return code;
    }
    fsth_model *m = NULL;
    fsth_config c = fsth_config_default(size);
    c.width = width, c.bottleneck_blocks = bottleneck, c.attention = attention, c.hybrid = hybrid || warp3d || residual || flow > 0;
    c.warp3d = warp3d, c.residual = residual || flow > 0, c.flow = flow > 0, c.flow_pixels = flow;
    c.videos = dataset_clip_count(ds);
    if (resume && init) {
        s = vv_fail(VV_ERR_INVALID_ARGUMENT, "--init starts a new run; --resume continues one: not both");
    } else if (resume || init) {
        const char *from = resume ? out : init;
        s = model_load_named(&m, from);
        if (s == VV_OK && m->config.videos != dataset_clip_count(ds))
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "%s was trained on %d clips; %s has %d", from, m->config.videos, data, dataset_clip_count(ds));
        if (s == VV_OK && init && warp3d && !m->config.hybrid)
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "--warp3d needs a hybrid model; %s is not one", init);
        if (s == VV_OK && init && warp3d) m->config.warp3d = true;
        if (s == VV_OK && init && (residual || flow > 0) && !m->config.hybrid)
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "--%s needs a hybrid model; %s is not one", flow > 0 ? "flow" : "residual", init);
        if (s == VV_OK && init && flow > 0 && !m->config.flow) { /* a new head with the displacement rows at 0 */
            fsth_model *with_flow = NULL;
            s = fsth_model_flow_from(&with_flow, m, flow);
            fsth_model_free(m);
            m = with_flow;
        } else if (s == VV_OK && init && residual && !m->config.residual) {
            m->config.residual = m->G.config.residual = true;
            fsth_generator_residual_start(&m->G);
        }
    } else {
        s = fsth_model_new(&m, &c, (uint64_t)seed);
    }
    if (s == VV_OK) m->G.flow_l1 = flow_l1, m->G.flow_l1_features = flow_l1_features;
    fsth_train_params p = fsth_train_default_params();
    p.k = k, p.batch = batch, p.lr_g = lr_g, p.lr_d = lr_d, p.seed = (uint64_t)seed;
    tfjs_model *faceres = s == VV_OK ? load_faceres(identity + perceptual, quiet) : NULL;
    p.faceres = faceres, p.w_identity = faceres ? identity : 0.0f, p.w_perceptual = faceres ? perceptual : 0.0f;
    p.w_invented = invented, p.w_adv = adversarial, p.w_fm = feature_matching;
    p.w_regions = regions;
    p.parallel = par;
    p.episodes = !episodes ? (resume ? -1 : DATASET_EPISODE_CLIP) : strcmp(episodes, "person") ? DATASET_EPISODE_CLIP
                                                                                             : DATASET_EPISODE_PERSON;
    fsth_trainer *t = NULL;
    if (s == VV_OK) s = fsth_trainer_new(&t, m, &p);
    if (s == VV_OK && resume) s = fsth_trainer_load_state(t, state_path);
    face_mesh *mesh = NULL;
    if (s == VV_OK && m->config.warp3d) s = face_mesh_new(&mesh, NULL);
    fsth_dataset_source src = {ds, m ? m->config.hybrid : false, mesh, 0,
                               t ? (dataset_episode_mode)fsth_trainer_episodes(t) : DATASET_EPISODE_CLIP};
    validation v = {0};
    if (s == VV_OK && lead) s = validation_init(&v, m, k);
    if (s == VV_OK && lead) {
        uint64_t val_rng = 0x5eed0000ull + (uint64_t)seed;
        s = fsth_dataset_episode(&src, &val_rng, &v.batch);
    }
    FILE *log = s == VV_OK && lead ? fopen(log_path, "a") : NULL;
    if (s == VV_OK && lead && !log) s = vv_fail(VV_ERR_WRITE, "cannot write the log %s: %s", log_path, strerror(errno));
    if (s == VV_OK && lead && val_every > 0 && mkdir(val_dir, 0777) != 0 && !file_exists(val_dir))
        s = vv_fail(VV_ERR_WRITE, "cannot create %s", val_dir);
    if (s == VV_OK && lead) {
        char json[512];
        fsth_config_to_json(&m->config, json, sizeof json);
        char par_note[64] = "";
        if (ranks > 1) snprintf(par_note, sizeof par_note, " over %d MPI ranks", ranks);
        fprintf(log,
                "# vivify train --data %s -o %s: %s k %d batch %d seed %d lr %g/%g identity %g perceptual %g adversarial %g "
                "feature-matching %g invented %g regions %g from step %ld%s\n",
                data, out, json, k, batch, seed, lr_g, lr_d, p.w_identity, p.w_perceptual, adversarial, feature_matching,
                invented, regions, fsth_trainer_step(t), par_note);
        if (!quiet)
            fprintf(stderr, "train: %d clips, %s, k %d, batch %d, from step %ld%s\n", dataset_clip_count(ds), json, k, batch,
                    fsth_trainer_step(t), par_note);
    }
    double flops = s == VV_OK ? fsth_train_step_flops(t) : 0.0;
    cli_interrupt_catch(true); /* Ctrl-C / SIGTERM: finish the step, checkpoint, stop */
    while (s == VV_OK && fsth_trainer_step(t) < steps) {
        fsth_losses l;
        double t0 = time_now();
        s = fsth_train_step(t, fsth_dataset_episode, &src, &l);
        if (s != VV_OK) break;
        double comm = fsth_trainer_comm_seconds(t);
        /* Every rank stops at the same step: an interrupt any rank saw, summed with the
         * 3D-warp fallbacks (each rank counts its own episodes'). */
        bool stop = cli_interrupted();
        long fallbacks = src.warp3d_fallbacks;
        if (ranks > 1) {
            float flags[2] = {stop ? 1.0f : 0.0f, (float)src.warp3d_fallbacks};
            double c0 = time_now();
            s = train_parallel_sum(&par, flags, 2, 1.0f, NULL);
            comm += time_now() - c0;
            if (s != VV_OK) break;
            stop = flags[0] > 0.0f, fallbacks = (long)flags[1];
        }
        double dt = time_now() - t0;
        long step = fsth_trainer_step(t);
        char line[640];
        snprintf(line, sizeof line,
                 "step %ld/%d | G %.4f (pixel %.4f id %.4f perc %.4f adv %.3f fm %.4f mch %.4f) | D %.4f (r real %.2f fake %.2f) | "
                 "lr %.1e/%.1e | %.0f ms | %.2f samples/s | %.2f GFLOP/s",
                 step, steps, l.g_total, l.pixel, l.identity, l.perceptual, l.adv, l.fm, l.mch, l.d_total, l.r_real, l.r_fake,
                 lr_g, lr_d, dt * 1e3, batch / dt, flops / dt * 1e-9);
        if (ranks > 1) { /* the all-reduces' share of the step */
            size_t used = strlen(line);
            snprintf(line + used, sizeof line - used, " | comm %.1f ms", comm * 1e3);
        }
        if (mesh) { /* episodes whose 3D head fell back to the 2D warp, so far */
            size_t used = strlen(line);
            snprintf(line + used, sizeof line - used, " | 2D-warp fallbacks %ld", fallbacks);
        }
        if (log) {
            fprintf(log, "%s\n", line);
            fflush(log);
        }
        if (!quiet) fprintf(stderr, "%s\n", line);
        if (lead && val_every > 0 && step % val_every == 0) {
            char path[4200];
            snprintf(path, sizeof path, "%s/step_%07ld.png", val_dir, step);
            s = validation_render(&v, m, path);
        }
        if (s == VV_OK && (step % checkpoint_every == 0 || step == steps || stop)) {
            if (ranks > 1) { /* the ranks still hold one model (the all-reduce gave each the same sums) */
                bool same = false;
                s = fsth_trainer_ranks_agree(t, &same);
                if (s == VV_OK && !same)
                    s = vv_fail(VV_ERR_INTERNAL, "the %d ranks' models differ at step %ld (the all-reduce gave them different sums)",
                                ranks, step);
            }
            if (s == VV_OK && lead) s = save_checkpoint(m, t, out, state_path);
            if (s == VV_OK && lead && export_path) s = fsth_model_save(m, export_path, true);
        }
        if (stop) {
            if (!quiet) fprintf(stderr, "train: interrupted at step %ld; checkpoint written (continue with --resume)\n", step);
            break;
        }
    }
    cli_interrupt_catch(false);
    if (s == VV_OK && !quiet) fprintf(stderr, "train: %s at step %ld (state %s, log %s)\n", out, fsth_trainer_step(t), state_path, log_path);
    if (!quiet) cli_device_report(stderr);
    if (log) fclose(log);
    free(v.buffer);
    free(v.batch.videos);
    fsth_trainer_free(t);
    fsth_model_free(m);
    tfjs_model_free(faceres);
    face_mesh_free(mesh);
    dataset_close(ds);
    int code = s == VV_OK ? EXIT_OK : cli_fail(s);
    if (code != EXIT_OK) cli_mpi_abort(code); /* the other ranks may wait in an all-reduce */
    cli_mpi_finish();
    return code;
}

static int finetune_progress(void *data, long done, long total) {
    progress_update(data, done);
    (void)total;
    return 0;
}

/* Shots of one person: each shot's median identity similarity (faceres CSIM of the
 * aligned faces) to the other shots is at least this.  Measured on the six held-out clips
 * (docs/MODEL.md): one person's 8 spread frames >= 0.64, sets with another person's
 * frames <= 0.51. */
#define FINETUNE_SAME_PERSON_CSIM 0.57f

int cli_finetune(int argc, char **argv) {
    const char *out = NULL, *models = NULL;
    const char *device = "cpu";
    int steps = 0, seed = 1, per_video = 8;
    float identity = FINETUNE_IDENTITY_WEIGHT, perceptual = 0.0f, augment = fsth_finetune_default_params(8).augment;
    bool fp16 = false, feed_forward = false, any_person = false;
    const cli_option opts[] = {
        {"output", 'o', OPT_STRING, &out, "PERSON.safetensors", "the fine-tuned model", 0, 0},
        {"k", 'k', OPT_INT, &per_video, "N", "frames taken from each video, spread over head pose and expression (default 8)", 1, 64},
        {"steps", 0, OPT_INT, &steps, "N", "fine-tuning steps (0: 40 epochs over the shots)", 0, 1e7},
        {"ff", 0, OPT_FLAG, &feed_forward, NULL, "feed-forward only: store the person's embedding, no fine-tuning", 0, 0},
        {"seed", 0, OPT_INT, &seed, "N", "order of the frames", 0, 2147483647},
        {"identity", 0, OPT_FLOAT, &identity, "W", "weight of the faceres-feature L1 content term (0: off)", 0, 1000},
        {"perceptual", 0, OPT_FLOAT, &perceptual, "W", "weight of the perceptual term: L1 on five faceres layers (0: off)", 0, 1000},
        {"augment", 0, OPT_FLOAT, &augment, "P", "share of the fine-tuning samples moved at random (zoom 0.8-1.2x, turn, shift) so the face "
         "renders where a zooming driver moves it, not only where the shots hold it; blurs steady clips; a plain model only (0: off)", 0, 1},
        {"any-person", 0, OPT_FLAG, &any_person, NULL, "train even when the shots look like different people", 0, 0},
        {"fp16", 0, OPT_FLAG, &fp16, NULL, "store weights as float16 (half the size)", 0, 0},
        {"models", 0, OPT_STRING, &models, "DIR", "folder with blazeface.json and faceres.json (default: search)", 0, 0},
        {"device", 0, OPT_STRING, &device, "cpu|cuda", CLI_DEVICE_HELP, 0, 0},
    };
    const char *positional[65];
    int npos = 0;
    int r = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), positional, 65, &npos,
                      "usage: vivify finetune BASE.safetensors PHOTOS_OR_VIDEOS... -o PERSON.safetensors [--k N] [--steps N]\n\n"
                      "Few-shot fine-tuning (FT): the person's embedding from the shots (photos with one face each,\n"
                      "or --k frames of each video, picked for the spread of head pose and expression) initialises\n"
                      "G's AdaIN parameters and D's projection, then G and D train on the shots.  Shots that look\n"
                      "like different people (faceres) stop it before training.  The output animates with\n"
                      "--engine fsth|hybrid --model PERSON.safetensors.");
    if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
    if ((r = cli_device_use(device))) return r;
    if (npos < 2 || !out) {
        fprintf(stderr, "vivify: finetune needs a base model, at least one photo or video and -o (see vivify finetune --help)\n");
        return EXIT_USAGE;
    }
    if (feed_forward && steps > 0) {
        fprintf(stderr, "vivify: finetune --ff does no fine-tuning steps; drop --steps %d or --ff\n", steps);
        return EXIT_USAGE;
    }
    int capacity = 0; /* shots: one per photo, --k per video */
    for (int i = 1; i < npos; i++) {
        if (!file_exists(positional[i])) return cli_fail(vv_fail(VV_ERR_NOT_FOUND, "file not found: %s", positional[i]));
        capacity += shot_path_is_image(positional[i]) ? 1 : per_video;
    }
    if (capacity > 256) {
        fprintf(stderr, "vivify: finetune takes at most 256 shots, not %d (fewer videos or a smaller --k)\n", capacity);
        return EXIT_USAGE;
    }
    fsth_model *m = NULL;
    vv_status s = output_folder_check(out);
    if (s == VV_OK) s = model_load_named(&m, positional[0]);
    if (s != VV_OK) return cli_fail(s);
    shot_set shots;
    vv_faces *faces = NULL;
    identity_model *faces_id = NULL;
    vv_faces_params fp = vv_faces_default_params();
    fp.models_dir = models;
    s = shot_set_init(&shots, capacity, m->config.size, !any_person);
    if (s == VV_OK) s = vv_faces_new(&faces, &fp);
    if (s == VV_OK && !any_person && identity_model_load(&faces_id, models) != VV_OK) {
        fprintf(stderr, "note: faceres not available (%s); the shots are not checked for one person\n", vv_last_error());
        s = VV_OK;
    }
    /* Each photo is cropped as soon as it is read (not fsth_finetune_images, which needs
     * all K photos in memory at once: 64 phone photos are gigabytes); a video is read
     * twice (tracked, then its picked frames cropped). */
    for (int i = 1; i < npos && s == VV_OK; i++) {
        if (shot_path_is_image(positional[i])) {
            s = shot_set_add_image(&shots, faces, faces_id, positional[i]);
            continue;
        }
        int before = shots.count, usable = 0;
        s = shot_set_add_video(&shots, faces, faces_id, positional[i], per_video, &usable, true);
        if (s == VV_OK)
            fprintf(stderr, "finetune: %s: %d frames picked of %d with a usable face%s\n", positional[i],
                    shots.count - before, usable, shots.count - before < per_video ? " (fewer than --k)" : "");
    }
    if (s == VV_OK && faces_id) {
        int odd = 0;
        float median = 1.0f;
        s = shot_set_least_typical(&shots, &odd, &median);
        if (s == VV_OK && median < FINETUNE_SAME_PERSON_CSIM)
            s = vv_fail(VV_ERR_INVALID_ARGUMENT, "the shots look like more than one person: %s has identity similarity "
                        "%.2f (median) to the others, one person's shots have at least %.2f; give shots of one person "
                        "or pass --any-person", shots.name[odd], median, FINETUNE_SAME_PERSON_CSIM);
        else if (s == VV_OK && shots.count > 1)
            fprintf(stderr, "finetune: %d shots of one person (lowest median identity similarity %.2f)\n", shots.count,
                    median);
    }
    identity_model_free(faces_id);
    vv_faces_free(faces);
    int k = shots.count;
    fsth_finetune_params p = fsth_finetune_default_params(k > 0 ? k : 1);
    if (steps > 0) p.steps = steps;
    if (feed_forward) p.steps = 0;
    p.seed = (uint64_t)seed;
    p.augment = augment;
    tfjs_model *faceres = s == VV_OK ? load_faceres(identity + perceptual, false) : NULL;
    p.faceres = faceres, p.w_identity = faceres ? identity : 0.0f, p.w_perceptual = faceres ? perceptual : 0.0f;
    face_mesh *mesh = NULL;
    if (s == VV_OK && m->config.warp3d) s = face_mesh_new(&mesh, models);
    p.mesh = mesh;
    progress_bar bar;
    p.progress = finetune_progress, p.progress_data = &bar;
    double t0 = time_now();
    float loss = 0.0f;
    if (s == VV_OK) {
        progress_start(&bar, "finetune", p.steps, "steps");
        s = fsth_finetune(m, shots.frames, (const float (*)[68][2])shots.points, k, &p, &loss);
        progress_finish(&bar);
    }
    if (s == VV_OK) s = fsth_model_save(m, out, fp16);
    if (s == VV_OK)
        fprintf(stderr, "finetune: %d shots, %d steps in %.1f s, pixel L1 %.4f -> %s\n", k, p.steps, time_now() - t0, loss, out);
    shot_set_free(&shots);
    tfjs_model_free(faceres);
    face_mesh_free(mesh);
    fsth_model_free(m);
    return s == VV_OK ? EXIT_OK : cli_fail(s);
}
