/* nn/backend_dnnl: the CPU backend's GEMM and convolutions through oneDNN (the library
 * PyTorch's CPU convolutions use), when the build found it (VV_HAVE_DNNL).
 *
 * Measured on the 2-core AVX-512 build machine, 64ch 64x64 batch 2, one thread: oneDNN's
 * blocked (nChw16c) direct kernels take 2.3 ms forward, 2.3 ms input gradient, 2.5 ms
 * weight gradient against 3.6 / 4.6 / 6.1 ms for oneDNN's own plain-NCHW GEMM kernels and
 * about twice that for im2col + OpenBLAS (whose Debian build runs its Haswell kernels here);
 * its Winograd kernels (3x3 stride 1) take 1.2 / 1.2 / 1.8 ms.  So each call converts NCHW
 * to the blocked layout the primitive asks for and back (a memory pass each, ~0.1 ms at
 * that size) around the blocked kernel, Winograd first where oneDNN has it
 * (nn_conv_winograd), else direct.
 *
 * Callers keep the layers.h contract: NCHW in and out, backward accumulates.  The input and
 * weight gradients come out of oneDNN into scratch and are added by a reorder with a sum
 * post-op (the conversion back to NCHW and the += in one pass).
 *
 * Primitives are built once per convolution shape and cached (a small table); one mutex
 * serialises the calls, which also guards the one growing scratch buffer (convolutions
 * parallelise inside, over oneDNN's OpenMP threads, as many as OpenBLAS uses: nn_blas_threads
 * sets both).  Any oneDNN failure (a shape it refuses, no memory) falls back to the im2col
 * path for that shape, so results never depend on whether oneDNN took a call. */
#include "nn/backend.h"

#ifdef VV_HAVE_DNNL

#include <cblas.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- Loading ----
 * libdnnl is opened on first use, not linked: Debian's runs on OpenMP, whose threads by
 * default spin for a while after each parallel region, and on a shared 2-core machine a
 * spinning thread holds the core its partner waits for at every region's barrier (a whole
 * training step took 7-10 s instead of 0.8 s with another load on the cores).  libgomp reads
 * its wait policy once, when it is loaded, so before opening libdnnl (which loads it) the
 * policy is set to passive (threads sleep at once) unless the user set one or libgomp is
 * already in the process.  Without libdnnl at run time the im2col path serves. */
#define DNNL_FUNCTIONS(X)                                                                         \
    X(dnnl_engine_create) X(dnnl_engine_destroy) X(dnnl_stream_create) X(dnnl_stream_wait)      \
    X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_primitive_execute)                \
    X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query_md) \
    X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy)                                \
    X(dnnl_primitive_attr_set_post_ops) X(dnnl_post_ops_create) X(dnnl_post_ops_destroy)        \
    X(dnnl_post_ops_append_sum) X(dnnl_reorder_primitive_desc_create)                           \
    X(dnnl_memory_desc_init_by_tag) X(dnnl_memory_desc_equal) X(dnnl_memory_desc_get_size)      \
    X(dnnl_memory_create) X(dnnl_memory_destroy) X(dnnl_convolution_forward_desc_init)          \
    X(dnnl_convolution_backward_data_desc_init) X(dnnl_convolution_backward_weights_desc_init)  \
    X(dnnl_sgemm) X(dnnl_primitive_attr_set_scratchpad_mode) X(dnnl_primitive_get_primitive_desc)

#define DNNL_POINTER(name) static __typeof__(&name) p_##name;
DNNL_FUNCTIONS(DNNL_POINTER)
static void (*p_omp_set_num_threads)(int);
static bool dnnl_loaded;
static pthread_once_t dnnl_load_once = PTHREAD_ONCE_INIT;

#define DNNL_STRING2(x) #x
#define DNNL_STRING(x) DNNL_STRING2(x)

static void dnnl_load(void) {
    if (!dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD)) setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    int mode = RTLD_NOW | RTLD_LOCAL;
#ifdef __SANITIZE_ADDRESS__
    /* LeakSanitizer (GCC 12, glibc 2.36) crashes scanning the dynamic TLS of a library opened
     * after start: under it, oneDNN only when the program was linked with it (CMakeLists.txt
     * links it into the sanitizer builds; a program linking the static library alone runs
     * the im2col path). */
    mode |= RTLD_NOLOAD;
#endif
    void *lib = dlopen("libdnnl.so." DNNL_STRING(DNNL_VERSION_MAJOR), mode);
    if (!lib) return;
    bool ok = true;
#define DNNL_RESOLVE(name) ok = ok && (*(void **)&p_##name = dlsym(lib, #name)) != NULL;
    DNNL_FUNCTIONS(DNNL_RESOLVE)
    *(void **)&p_omp_set_num_threads = dlsym(lib, "omp_set_num_threads"); /* from its libgomp */
    dnnl_loaded = ok;
}

static bool dnnl_available(void) {
    pthread_once(&dnnl_load_once, dnnl_load);
    return dnnl_loaded;
}

/* The rest of this file calls oneDNN by its own names, through the pointers. */
#define dnnl_engine_create (*p_dnnl_engine_create)
#define dnnl_engine_destroy (*p_dnnl_engine_destroy)
#define dnnl_stream_create (*p_dnnl_stream_create)
#define dnnl_stream_wait (*p_dnnl_stream_wait)
#define dnnl_primitive_create (*p_dnnl_primitive_create)
#define dnnl_primitive_destroy (*p_dnnl_primitive_destroy)
#define dnnl_primitive_execute (*p_dnnl_primitive_execute)
#define dnnl_primitive_desc_create (*p_dnnl_primitive_desc_create)
#define dnnl_primitive_desc_destroy (*p_dnnl_primitive_desc_destroy)
#define dnnl_primitive_desc_query_md (*p_dnnl_primitive_desc_query_md)
#define dnnl_primitive_attr_create (*p_dnnl_primitive_attr_create)
#define dnnl_primitive_attr_destroy (*p_dnnl_primitive_attr_destroy)
#define dnnl_primitive_attr_set_post_ops (*p_dnnl_primitive_attr_set_post_ops)
#define dnnl_primitive_attr_set_scratchpad_mode (*p_dnnl_primitive_attr_set_scratchpad_mode)
#define dnnl_primitive_get_primitive_desc (*p_dnnl_primitive_get_primitive_desc)
#define dnnl_post_ops_create (*p_dnnl_post_ops_create)
#define dnnl_post_ops_destroy (*p_dnnl_post_ops_destroy)
#define dnnl_post_ops_append_sum (*p_dnnl_post_ops_append_sum)
#define dnnl_reorder_primitive_desc_create (*p_dnnl_reorder_primitive_desc_create)
#define dnnl_memory_desc_init_by_tag (*p_dnnl_memory_desc_init_by_tag)
#define dnnl_memory_desc_equal (*p_dnnl_memory_desc_equal)
#define dnnl_memory_desc_get_size (*p_dnnl_memory_desc_get_size)
#define dnnl_memory_create (*p_dnnl_memory_create)
#define dnnl_memory_destroy (*p_dnnl_memory_destroy)
#define dnnl_convolution_forward_desc_init (*p_dnnl_convolution_forward_desc_init)
#define dnnl_convolution_backward_data_desc_init (*p_dnnl_convolution_backward_data_desc_init)
#define dnnl_convolution_backward_weights_desc_init (*p_dnnl_convolution_backward_weights_desc_init)
#define dnnl_sgemm (*p_dnnl_sgemm)

#define DNNL_CACHE_SIZE 96

typedef struct dnnl_conv {
    conv2d_shape shape;
    bool used, failed;
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_weights_pd;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    bool bwd_tried;
    /* reorders between the user's plain layouts and the primitives' (NULL: same layout) */
    dnnl_primitive_t fwd_src, fwd_weights, fwd_dst;
    dnnl_primitive_t bd_diff_dst, bd_weights, bd_diff_src_sum;
    dnnl_primitive_t bw_src, bw_diff_dst, bw_diff_weights_sum;
    dnnl_memory_desc_t user_src, user_weights, user_dst, user_bias;
} dnnl_conv;

static struct {
    pthread_mutex_t lock;
    bool initialised, broken;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_conv cache[DNNL_CACHE_SIZE];
    int next_evict;
    float *scratch;
    size_t scratch_bytes;
    void *pad;           /* the primitives' own scratchpad (user mode, see scratchpad_attr) */
    size_t pad_bytes;
    bool winograd;       /* try Winograd kernels first (nn_conv_winograd) */
    int taken, refused;  /* shapes built / refused (nn_dnnl_shapes) */
} g_dnnl = {.lock = PTHREAD_MUTEX_INITIALIZER, .winograd = true};

static void destroy_prim(dnnl_primitive_t *p) {
    if (*p) dnnl_primitive_destroy(*p);
    *p = NULL;
}

static void destroy_pd(dnnl_primitive_desc_t *p) {
    if (*p) dnnl_primitive_desc_destroy(*p);
    *p = NULL;
}

static void conv_clear(dnnl_conv *e) {
    destroy_prim(&e->fwd), destroy_prim(&e->bwd_data), destroy_prim(&e->bwd_weights);
    destroy_prim(&e->fwd_src), destroy_prim(&e->fwd_weights), destroy_prim(&e->fwd_dst);
    destroy_prim(&e->bd_diff_dst), destroy_prim(&e->bd_weights), destroy_prim(&e->bd_diff_src_sum);
    destroy_prim(&e->bw_src), destroy_prim(&e->bw_diff_dst), destroy_prim(&e->bw_diff_weights_sum);
    destroy_pd(&e->fwd_pd), destroy_pd(&e->bwd_data_pd), destroy_pd(&e->bwd_weights_pd);
    memset(e, 0, sizeof *e);
}

static bool dnnl_ready(void) {
    if (g_dnnl.initialised) return !g_dnnl.broken;
    g_dnnl.initialised = true;
    if (!dnnl_available()) {
        g_dnnl.broken = true;
        return false;
    }
    if (dnnl_engine_create(&g_dnnl.engine, dnnl_cpu, 0) != dnnl_success) {
        g_dnnl.broken = true;
        return false;
    }
    if (dnnl_stream_create(&g_dnnl.stream, g_dnnl.engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(g_dnnl.engine);
        g_dnnl.broken = true;
        return false;
    }
    return true;
}

/* Every primitive takes its scratchpad from us (user mode): in oneDNN's default mode the
 * scratchpad belongs to the thread that first ran a primitive, and a primitive cached by
 * one thread and run by another (the next job's, a library user's) crashed in its kernel
 * once the first thread was gone. */
static dnnl_primitive_attr_t scratchpad_attr(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

/* A reorder from one layout to another; *out NULL when they are the same and nothing is
 * to be added (the primitive then reads or writes the user's buffer itself).  accumulate:
 * to += from (a sum post-op), built even between equal layouts. */
static bool make_reorder(dnnl_primitive_t *out, const dnnl_memory_desc_t *from,
                         const dnnl_memory_desc_t *to, bool accumulate) {
    *out = NULL;
    if (!accumulate && dnnl_memory_desc_equal(from, to)) return true;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    attr = scratchpad_attr();
    bool ok = attr != NULL;
    if (ok && accumulate)
        ok = dnnl_post_ops_create(&post_ops) == dnnl_success &&
             dnnl_post_ops_append_sum(post_ops, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, post_ops) == dnnl_success;
    ok = ok && dnnl_reorder_primitive_desc_create(&pd, from, g_dnnl.engine, to, g_dnnl.engine, attr) ==
                   dnnl_success;
    ok = ok && dnnl_primitive_create(out, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) *out = NULL;
    return ok;
}

static const dnnl_memory_desc_t *pd_md(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* The convolution descriptors' common part: the user's plain layouts and the "any" ones. */
typedef struct conv_mds {
    dnnl_memory_desc_t src, weights, bias, dst;
    dnnl_dims_t strides, pad_l, pad_r;
} conv_mds;

static bool conv_mds_init(conv_mds *m, dnnl_conv *e, const conv2d_shape *s) {
    dnnl_dims_t src = {s->N, s->C, s->H, s->W}, dst = {s->N, s->OC, s->OH, s->OW}, bias = {s->OC};
    dnnl_dims_t w4 = {s->OC, s->C, s->KH, s->KW};
    dnnl_dims_t w5 = {s->groups, s->OC / s->groups, s->C / s->groups, s->KH, s->KW};
    bool grouped = s->groups > 1;
    int wn = grouped ? 5 : 4;
    const int64_t *wd = grouped ? w5 : w4;
    if (dnnl_memory_desc_init_by_tag(&e->user_src, 4, src, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->user_dst, 4, dst, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->user_bias, 1, bias, dnnl_f32, dnnl_x) ||
        dnnl_memory_desc_init_by_tag(&e->user_weights, wn, wd, dnnl_f32, grouped ? dnnl_goihw : dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&m->src, 4, src, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&m->dst, 4, dst, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&m->weights, wn, wd, dnnl_f32, dnnl_format_tag_any))
        return false;
    m->bias = e->user_bias;
    m->strides[0] = m->strides[1] = s->stride;
    m->pad_l[0] = m->pad_l[1] = s->pad;
    /* right padding so that the output size is exactly OH x OW (a stride that does not
     * divide leaves input rows unread, as im2col does) */
    m->pad_r[0] = (int64_t)(s->OH - 1) * s->stride + s->KH - s->H - s->pad;
    m->pad_r[1] = (int64_t)(s->OW - 1) * s->stride + s->KW - s->W - s->pad;
    return true;
}

/* The algorithms tried, in order (the first oneDNN builds for the shape). */
static int conv_algorithms(dnnl_alg_kind_t algs[2]) {
    int n = 0;
    if (g_dnnl.winograd) algs[n++] = dnnl_convolution_winograd;
    algs[n++] = dnnl_convolution_direct;
    return n;
}

static bool conv_build_forward(dnnl_conv *e) {
    conv_mds m;
    dnnl_convolution_desc_t d;
    dnnl_alg_kind_t algs[2];
    int count = conv_algorithms(algs);
    if (!conv_mds_init(&m, e, &e->shape)) return false;
    dnnl_primitive_attr_t attr = scratchpad_attr();
    for (int i = 0; attr && i < count && !e->fwd_pd; i++)
        if (dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, algs[i], &m.src, &m.weights, &m.bias,
                                               &m.dst, m.strides, m.pad_l, m.pad_r) ||
            dnnl_primitive_desc_create(&e->fwd_pd, &d, attr, g_dnnl.engine, NULL))
            e->fwd_pd = NULL;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!e->fwd_pd || dnnl_primitive_create(&e->fwd, e->fwd_pd)) return false;
    return make_reorder(&e->fwd_src, &e->user_src, pd_md(e->fwd_pd, dnnl_query_src_md), false) &&
           make_reorder(&e->fwd_weights, &e->user_weights, pd_md(e->fwd_pd, dnnl_query_weights_md), false) &&
           make_reorder(&e->fwd_dst, pd_md(e->fwd_pd, dnnl_query_dst_md), &e->user_dst, false);
}

static bool conv_build_backward(dnnl_conv *e) {
    conv_mds m;
    dnnl_convolution_desc_t d;
    dnnl_alg_kind_t algs[2];
    int count = conv_algorithms(algs);
    if (!conv_mds_init(&m, e, &e->shape)) return false;
    dnnl_primitive_attr_t attr = scratchpad_attr();
    for (int i = 0; attr && i < count && !e->bwd_data_pd; i++)
        if (dnnl_convolution_backward_data_desc_init(&d, algs[i], &m.src, &m.weights, &m.dst, m.strides, m.pad_l,
                                                     m.pad_r) ||
            dnnl_primitive_desc_create(&e->bwd_data_pd, &d, attr, g_dnnl.engine, e->fwd_pd))
            e->bwd_data_pd = NULL;
    for (int i = 0; attr && i < count && !e->bwd_weights_pd; i++)
        if (dnnl_convolution_backward_weights_desc_init(&d, algs[i], &m.src, &m.weights, &m.bias, &m.dst,
                                                        m.strides, m.pad_l, m.pad_r) ||
            dnnl_primitive_desc_create(&e->bwd_weights_pd, &d, attr, g_dnnl.engine, e->fwd_pd))
            e->bwd_weights_pd = NULL;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!e->bwd_data_pd || !e->bwd_weights_pd || dnnl_primitive_create(&e->bwd_data, e->bwd_data_pd) ||
        dnnl_primitive_create(&e->bwd_weights, e->bwd_weights_pd))
        return false;
    return make_reorder(&e->bd_diff_dst, &e->user_dst, pd_md(e->bwd_data_pd, dnnl_query_diff_dst_md), false) &&
           make_reorder(&e->bd_weights, &e->user_weights, pd_md(e->bwd_data_pd, dnnl_query_weights_md), false) &&
           make_reorder(&e->bd_diff_src_sum, pd_md(e->bwd_data_pd, dnnl_query_diff_src_md), &e->user_src, true) &&
           make_reorder(&e->bw_src, &e->user_src, pd_md(e->bwd_weights_pd, dnnl_query_src_md), false) &&
           make_reorder(&e->bw_diff_dst, &e->user_dst, pd_md(e->bwd_weights_pd, dnnl_query_diff_dst_md), false) &&
           make_reorder(&e->bw_diff_weights_sum, pd_md(e->bwd_weights_pd, dnnl_query_diff_weights_md),
                        &e->user_weights, true);
}

static bool shape_equal(const conv2d_shape *a, const conv2d_shape *b) {
    return a->N == b->N && a->C == b->C && a->H == b->H && a->W == b->W && a->OC == b->OC &&
           a->KH == b->KH && a->KW == b->KW && a->stride == b->stride && a->pad == b->pad &&
           a->groups == b->groups && a->OH == b->OH && a->OW == b->OW;
}

/* The cache entry for a shape with its forward built; NULL when oneDNN does not take it. */
static dnnl_conv *conv_entry(const conv2d_shape *s) {
    if (!dnnl_ready()) return NULL;
    for (int i = 0; i < DNNL_CACHE_SIZE; i++) {
        dnnl_conv *e = &g_dnnl.cache[i];
        if (e->used && shape_equal(&e->shape, s)) return e->failed ? NULL : e;
    }
    int slot = -1;
    for (int i = 0; i < DNNL_CACHE_SIZE && slot < 0; i++)
        if (!g_dnnl.cache[i].used) slot = i;
    if (slot < 0) {
        slot = g_dnnl.next_evict;
        g_dnnl.next_evict = (g_dnnl.next_evict + 1) % DNNL_CACHE_SIZE;
        conv_clear(&g_dnnl.cache[slot]);
    }
    dnnl_conv *e = &g_dnnl.cache[slot];
    e->shape = *s;
    e->used = true;
    if (!conv_build_forward(e)) {
        conv_clear(e);
        e->shape = *s;
        e->used = e->failed = true;
        g_dnnl.refused++;
        return NULL;
    }
    g_dnnl.taken++;
    return e;
}

/* Scratch of at least `bytes`, 64-byte aligned, kept between calls. */
static float *scratch_get(size_t bytes) {
    if (bytes <= g_dnnl.scratch_bytes) return g_dnnl.scratch;
    mem_free_aligned(g_dnnl.scratch);
    g_dnnl.scratch = mem_alloc_aligned(bytes);
    g_dnnl.scratch_bytes = g_dnnl.scratch ? bytes : 0;
    return g_dnnl.scratch;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Hands out consecutive 64-byte-aligned pieces of one scratch block. */
typedef struct carve {
    char *base;
    size_t used;
} carve;

static void *carve_take(carve *c, size_t bytes) {
    void *p = c->base ? c->base + c->used : NULL;
    c->used += round64(bytes);
    return p;
}

/* Runs a primitive with its scratchpad (g_dnnl.pad, grown as needed; under the lock). */
static bool run(dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args) {
    const_dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_get_primitive_desc(p, &pd) != dnnl_success || n > 7) return false;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    dnnl_exec_arg_t all[8];
    memcpy(all, args, (size_t)n * sizeof *args);
    dnnl_memory_t pad = NULL;
    if (bytes > 0) {
        if (bytes > g_dnnl.pad_bytes) {
            mem_free_aligned(g_dnnl.pad);
            g_dnnl.pad = mem_alloc_aligned(bytes);
            g_dnnl.pad_bytes = g_dnnl.pad ? bytes : 0;
            if (!g_dnnl.pad) return false;
        }
        if (dnnl_memory_create(&pad, md, g_dnnl.engine, g_dnnl.pad) != dnnl_success) return false;
        all[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, pad};
    }
    bool ok = dnnl_primitive_execute(p, g_dnnl.stream, n, all) == dnnl_success;
    if (pad) dnnl_memory_destroy(pad);
    return ok;
}

/* Runs a reorder (from -> to) on raw buffers described by the two descriptors. */
static bool run_reorder(dnnl_primitive_t p, const dnnl_memory_desc_t *from_md, const void *from,
                        const dnnl_memory_desc_t *to_md, void *to) {
    dnnl_memory_t a = NULL, b = NULL;
    bool ok = dnnl_memory_create(&a, from_md, g_dnnl.engine, (void *)from) == dnnl_success &&
              dnnl_memory_create(&b, to_md, g_dnnl.engine, to) == dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    ok = ok && run(p, 2, args);
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    return ok;
}

/* Primitive arguments on raw buffers: up to 6 memories created for one execution. */
typedef struct exec_args {
    dnnl_exec_arg_t args[6];
    int count;
    bool ok;
} exec_args;

static void arg_add(exec_args *a, int kind, const dnnl_memory_desc_t *md, const void *data) {
    dnnl_memory_t m = NULL;
    if (!a->ok || dnnl_memory_create(&m, md, g_dnnl.engine, (void *)data) != dnnl_success) {
        a->ok = false;
        return;
    }
    a->args[a->count++] = (dnnl_exec_arg_t){kind, m};
}

static bool exec_args_run(exec_args *a, dnnl_primitive_t p) {
    bool ok = a->ok && run(p, a->count, a->args);
    for (int i = 0; i < a->count; i++) dnnl_memory_destroy(a->args[i].memory);
    return ok;
}

/* The user buffer converted to the layout `md`, or the buffer itself when no reorder. */
static const void *staged(dnnl_primitive_t reorder, const dnnl_memory_desc_t *user_md, const void *user,
                          const dnnl_memory_desc_t *md, carve *c, bool *ok) {
    if (!reorder || !*ok) return user;
    void *p = carve_take(c, dnnl_memory_desc_get_size(md));
    if (c->base) *ok = run_reorder(reorder, user_md, user, md, p);
    return p;
}

/* oneDNN's OpenMP threads for this thread's next calls: as many as OpenBLAS uses. */
static void set_threads(void) {
    int threads = openblas_get_num_threads();
    if (p_omp_set_num_threads) p_omp_set_num_threads(threads >= 1 ? threads : 1);
}

static bool conv_run_forward(dnnl_conv *e, float *out, const float *in, const float *weight,
                         const float *bias) {
    const dnnl_memory_desc_t *src_md = pd_md(e->fwd_pd, dnnl_query_src_md);
    const dnnl_memory_desc_t *w_md = pd_md(e->fwd_pd, dnnl_query_weights_md);
    const dnnl_memory_desc_t *dst_md = pd_md(e->fwd_pd, dnnl_query_dst_md);
    /* sizes first (a dry carve), then the pieces */
    carve c = {0};
    if (e->fwd_src) carve_take(&c, dnnl_memory_desc_get_size(src_md));
    if (e->fwd_weights) carve_take(&c, dnnl_memory_desc_get_size(w_md));
    if (e->fwd_dst) carve_take(&c, dnnl_memory_desc_get_size(dst_md));
    if (!bias) carve_take(&c, (size_t)e->shape.OC * sizeof(float));
    c = (carve){(char *)scratch_get(c.used ? c.used : 64), 0};
    if (!c.base) return false;
    bool ok = true;
    const void *src = staged(e->fwd_src, &e->user_src, in, src_md, &c, &ok);
    const void *w = staged(e->fwd_weights, &e->user_weights, weight, w_md, &c, &ok);
    void *dst = e->fwd_dst ? carve_take(&c, dnnl_memory_desc_get_size(dst_md)) : out;
    if (!bias) {
        float *zero = carve_take(&c, (size_t)e->shape.OC * sizeof(float));
        memset(zero, 0, (size_t)e->shape.OC * sizeof(float));
        bias = zero;
    }
    if (!ok) return false;
    exec_args a = {.ok = true};
    arg_add(&a, DNNL_ARG_SRC, src_md, src);
    arg_add(&a, DNNL_ARG_WEIGHTS, w_md, w);
    arg_add(&a, DNNL_ARG_BIAS, &e->user_bias, bias);
    arg_add(&a, DNNL_ARG_DST, dst_md, dst);
    ok = exec_args_run(&a, e->fwd);
    if (ok && e->fwd_dst) ok = run_reorder(e->fwd_dst, dst_md, dst, &e->user_dst, out);
    return ok && dnnl_stream_wait(g_dnnl.stream) == dnnl_success;
}

/* *din_done: the input gradient has been added (a later failure must not add it twice). */
static bool conv_run_backward(dnnl_conv *e, float *din, float *dweight, float *dbias, const float *dout,
                          const float *in, const float *weight, bool *din_done) {
    const conv2d_shape *s = &e->shape;
    const dnnl_memory_desc_t *bd_ddst = pd_md(e->bwd_data_pd, dnnl_query_diff_dst_md);
    const dnnl_memory_desc_t *bd_w = pd_md(e->bwd_data_pd, dnnl_query_weights_md);
    const dnnl_memory_desc_t *bd_dsrc = pd_md(e->bwd_data_pd, dnnl_query_diff_src_md);
    const dnnl_memory_desc_t *bw_src = pd_md(e->bwd_weights_pd, dnnl_query_src_md);
    const dnnl_memory_desc_t *bw_ddst = pd_md(e->bwd_weights_pd, dnnl_query_diff_dst_md);
    const dnnl_memory_desc_t *bw_dw = pd_md(e->bwd_weights_pd, dnnl_query_diff_weights_md);
    bool weights_pass = dweight != NULL; /* dbias alone is a sum, done below */
    bool shared_ddst = din && weights_pass && dnnl_memory_desc_equal(bd_ddst, bw_ddst);
    carve c = {0};
    if (din) {
        if (e->bd_diff_dst) carve_take(&c, dnnl_memory_desc_get_size(bd_ddst));
        if (e->bd_weights) carve_take(&c, dnnl_memory_desc_get_size(bd_w));
        carve_take(&c, dnnl_memory_desc_get_size(bd_dsrc));
    }
    if (weights_pass) {
        if (e->bw_src) carve_take(&c, dnnl_memory_desc_get_size(bw_src));
        if (e->bw_diff_dst && !shared_ddst) carve_take(&c, dnnl_memory_desc_get_size(bw_ddst));
        carve_take(&c, dnnl_memory_desc_get_size(bw_dw));
        carve_take(&c, (size_t)s->OC * sizeof(float));
    }
    c = (carve){(char *)scratch_get(c.used ? c.used : 64), 0};
    if (!c.base) return false;
    bool ok = true;
    const void *ddst = NULL;
    if (din) {
        ddst = staged(e->bd_diff_dst, &e->user_dst, dout, bd_ddst, &c, &ok);
        const void *w = staged(e->bd_weights, &e->user_weights, weight, bd_w, &c, &ok);
        void *dsrc = carve_take(&c, dnnl_memory_desc_get_size(bd_dsrc));
        if (!ok) return false;
        exec_args a = {.ok = true};
        arg_add(&a, DNNL_ARG_DIFF_DST, bd_ddst, ddst);
        arg_add(&a, DNNL_ARG_WEIGHTS, bd_w, w);
        arg_add(&a, DNNL_ARG_DIFF_SRC, bd_dsrc, dsrc);
        if (!exec_args_run(&a, e->bwd_data) || !run_reorder(e->bd_diff_src_sum, bd_dsrc, dsrc, &e->user_src, din) ||
            dnnl_stream_wait(g_dnnl.stream) != dnnl_success)
            return false;
        *din_done = true;
    }
    float *db_scratch = NULL;
    if (weights_pass) {
        const void *src = staged(e->bw_src, &e->user_src, in, bw_src, &c, &ok);
        const void *gy = shared_ddst ? ddst : staged(e->bw_diff_dst, &e->user_dst, dout, bw_ddst, &c, &ok);
        void *dw = carve_take(&c, dnnl_memory_desc_get_size(bw_dw));
        db_scratch = carve_take(&c, (size_t)s->OC * sizeof(float));
        if (!ok) return false;
        exec_args a = {.ok = true};
        arg_add(&a, DNNL_ARG_SRC, bw_src, src);
        arg_add(&a, DNNL_ARG_DIFF_DST, bw_ddst, gy);
        arg_add(&a, DNNL_ARG_DIFF_WEIGHTS, bw_dw, dw);
        arg_add(&a, DNNL_ARG_DIFF_BIAS, &e->user_bias, db_scratch);
        if (!exec_args_run(&a, e->bwd_weights) ||
            !run_reorder(e->bw_diff_weights_sum, bw_dw, dw, &e->user_weights, dweight))
            return false;
    }
    if (dnnl_stream_wait(g_dnnl.stream) != dnnl_success) return false;
    if (dbias && db_scratch)
        for (int oc = 0; oc < s->OC; oc++) dbias[oc] += db_scratch[oc];
    return true;
}

/* oneDNN's sgemm: its AVX-512 kernels run 2x OpenBLAS's (whose Debian build picks its
 * Haswell kernels on this CPU) from 64^3 up; below ~16^3 they are even.  Thread-safe, no
 * lock. */
void gemm_dnnl(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C, as the CPU backend */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) c[(size_t)i * ldc + j] *= beta;
        return;
    }
    if (dnnl_available()) {
        set_threads();
        if (dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', M, N, K, alpha, a, lda, b, ldb, beta, c, ldc) ==
            dnnl_success)
            return;
    }
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

vv_status conv2d_forward_dnnl(float *out, const float *in, const float *weight, const float *bias,
                              const conv2d_shape *s) {
    pthread_mutex_lock(&g_dnnl.lock);
    set_threads(); /* building primitives runs parallel regions too */
    dnnl_conv *e = conv_entry(s);
    bool done = false;
    if (e) {
        done = conv_run_forward(e, out, in, weight, bias);
    }
    pthread_mutex_unlock(&g_dnnl.lock);
    return done ? VV_OK : conv2d_forward_cpu(out, in, weight, bias, s);
}

vv_status conv2d_backward_dnnl(float *din, float *dweight, float *dbias, const float *dout,
                               const float *in, const float *weight, const conv2d_shape *s) {
    if (!din && !dweight) return conv2d_backward_cpu(NULL, NULL, dbias, dout, in, weight, s);
    pthread_mutex_lock(&g_dnnl.lock);
    set_threads();
    dnnl_conv *e = conv_entry(s);
    if (e && !e->bwd_tried) {
        e->bwd_tried = true;
        if (!conv_build_backward(e)) {
            destroy_prim(&e->bwd_data), destroy_prim(&e->bwd_weights);
            destroy_pd(&e->bwd_data_pd), destroy_pd(&e->bwd_weights_pd);
            g_dnnl.refused++;
        }
    }
    bool done = false, din_done = false, has_weight_pass_bias = dweight != NULL;
    if (e && e->bwd_data && e->bwd_weights) {
        done = conv_run_backward(e, din, dweight, dbias, dout, in, weight, &din_done);
    }
    pthread_mutex_unlock(&g_dnnl.lock);
    if (!done) return conv2d_backward_cpu(din_done ? NULL : din, dweight, dbias, dout, in, weight, s);
    /* dbias came from the weight pass; without one, sum it here */
    if (dbias && !has_weight_pass_bias) return conv2d_backward_cpu(NULL, NULL, dbias, dout, in, weight, s);
    return VV_OK;
}

void nn_conv_winograd(bool on) {
    pthread_mutex_lock(&g_dnnl.lock);
    if (g_dnnl.winograd != on)
        for (int i = 0; i < DNNL_CACHE_SIZE; i++) conv_clear(&g_dnnl.cache[i]);
    g_dnnl.winograd = on;
    pthread_mutex_unlock(&g_dnnl.lock);
}

const char *nn_dnnl_library(void) {
    return dnnl_available() ? "libdnnl.so." DNNL_STRING(DNNL_VERSION_MAJOR) : NULL;
}

void nn_dnnl_shapes(int *taken, int *refused) {
    pthread_mutex_lock(&g_dnnl.lock);
    *taken = g_dnnl.taken;
    *refused = g_dnnl.refused;
    pthread_mutex_unlock(&g_dnnl.lock);
}

#else

void nn_conv_winograd(bool on) { (void)on; }

void nn_dnnl_shapes(int *taken, int *refused) { *taken = *refused = 0; }

const char *nn_dnnl_library(void) { return NULL; }

#endif
