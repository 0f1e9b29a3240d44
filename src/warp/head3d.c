/* warp/head3d: the 3D head warp engine (see head3d.h). */
#include "warp/head3d.h"
#include "face/pose.h"
#include "face/rigid3d.h"
#include "img/image.h"
#include "warp/delaunay.h"
#include "warp/raster.h"
#include "warp/warp.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Rings beyond the face oval, as factors of the oval's radius in the frontal canonical
 * face (1 = the oval itself): forehead / hair / ears / neck, then a pinned ring. */
#define RING_COUNT 5
static const float ring_factor[RING_COUNT] = {1.2f, 1.5f, 1.9f, 2.5f, 3.3f};
#define POCKET_SPAN 4   /* outline vertices a chord of the strip may pass, plus one */
#define FOLD_MIN 2.0f /* pixels: an outline vertex this far inside the face seen is folded */
#define OVAL FACE_MESH_OVAL_POINTS
#define FACE_VERTICES FACE_MESH_POINTS
/* A frame on the portrait's border, pinned: between it and the head the body follows the
 * driver's translation and scale, fading to nothing at the border, so a driver who moves in
 * the frame moves the person's body too (the stretch spread over the body, not all in the
 * neck), while nothing is ever revealed beyond the picture's edges. */
#define FRAME_SIDE 12
#define FRAME_POINTS (4 * FRAME_SIDE)
#define FRAME_FIRST (FACE_VERTICES + RING_COUNT * OVAL)
/* Between the last ring and the frame, the points of a BODY_GRID x BODY_GRID grid over
 * the frame that lie outside the ring: the body's motion sampled at them (finer than the
 * frame's triangles alone would), and small triangles, most of them all person or all
 * background, which need no alpha (or no texture at all) when drawn. */
#define BODY_GRID 16
#define BODY_POINTS ((BODY_GRID - 1) * (BODY_GRID - 1))
#define BODY_FIRST (FRAME_FIRST + FRAME_POINTS)
#define VERTEX_COUNT (BODY_FIRST + BODY_POINTS) /* at most: h->vertex_count are used */
#define STATIC_MOTION 0.02f /* pixels: a vertex moving less is still */
#define BODY_STILL 0.25f    /* pixels: a body moving less is still */
/* The raster's layer map carries each winner's layer and, in TRANSLUCENT, whether its
 * texture touches the matte's edge (else its alpha is 255: no alpha needed there), in
 * CLEAR whether its texture is all background (alpha 0: the plate shows, nothing to
 * sample), in TWIN (set per frame) whether it takes a share of its mirror twin's texture,
 * in STRETCH (per frame) whether it is painted over where stretched (stretch_fill). */
#define LAYER_MASK 0x07
#define FIRM 0x08 /* the winner drew the firm extra (head3d_render) */
#define STRETCH 0x10
#define TWIN 0x20
#define CLEAR 0x40
#define TRANSLUCENT 0x80
/* A turn stretches the band beside the face on the side it turns to the camera (the ear,
 * the hair over it, the matte's edge): hair translucent over a flag at rest, its colours
 * de-mixed against the plate (a guess at the flag behind, so they keep some of its stripes
 * and fringe, which cancel at rest), became a band as wide as the stretch with the flag's
 * stripes and fringe in it (Grace Hopper turned +25 degrees, a grey smear beside lp_s0's
 * head).  Where a translucent ring triangle is stretched (its larger singular value over the
 * head's scale: FIRM_FROM .. FIRM_FULL, share 0 .. 1), its colours are painted, in that share
 * and as far as they look like the plate under them (FIRM_APART), from the opaque head
 * around them (firm_fill); its alpha stays the matte's (steepened by the stretch, the near
 * ear's edge was cut out sharp: lp_s5 +25, 43 steps against test_head3d's 28). */
#define FIRM_FROM 2.0f
#define FIRM_FULL 4.0f
#define FIRM_APART 100.0f /* levels from the plate under it: painted over up to half this, not from this */
#define OPAQUE 250 /* matte at least this (98%) counts as all person */
#define BACKGROUND 5 /* matte at most this (2%) counts as all background */
#define MAX_YAW 50.0f       /* beyond this the mesh's far side is guesswork */
#define MATTE_BACKGROUND 26
/* The mesh's depth is flatter than a head's (MediaPipe's z is weakly supervised).  Scaled
 * by this, the head's turns on the output measure (dlib + face/pose.h, as the driver's are
 * measured) close to the driver's: over the 6 held-out clips' self-reenactment the yaw /
 * pitch range ratios were 0.97 / 0.89 unscaled and 1.25 / 1.15 at 1.4; on the Mona Lisa
 * turned by hand (test_head3d), yaw +-15 and pitch +-12 read back as 13.3 / 14.3 and
 * 9.3 / 9.2 here. */
#define DEPTH_SCALE 1.15f /* matte under 0.1: background, kept as it is in the plate */

/* Anchors of the expression: dlib points outside the eyes and inner lips, plus the mesh's
 * lid and inner-lip contours. */
#define LID_INNER (FACE_MESH_LID_POINTS - 2)
#define LIP_INNER (FACE_MESH_LIP_POINTS - 2)
#define DLIB_ANCHORS 48
#define ANCHOR_COUNT (DLIB_ANCHORS + 2 * (2 + 2 * LID_INNER) + 2 + 2 * LIP_INNER)
/* Then the skin above each upper lid, two rings of it: the first follows the lid by
 * CREASE_NEAR, the second by CREASE_FAR, so that a closing lid stretches its own skin over
 * the eye while the fold and the shadow above stay (moving them all down with the lid
 * drew a second, dark "lid" above the shut eye). */
#define CREASE_MAX 24
#define ANCHOR_MAX (ANCHOR_COUNT + 2 * CREASE_MAX)
#define CREASE_NEAR 0.95f
#define CREASE_FAR 0.55f
#define MAX_NEIGHBOURS 12
/* How far a shut lower lid rises, from its rim (0) towards the upper lid (1): in a blink the
 * upper lid travels nearly all the way (the lower lid's rim, stretched further up, drew a
 * pale line). */
#define LID_MEET 0.12f
/* The upper lid closes past the lower one's rim (by this share of the eye's height plus
 * LID_OVER eye widths) and in front of it, by LID_NEARER eye widths of depth: shut lids
 * that met edge to edge showed the lower rim's highlight as a pale seam, and the white
 * between them wherever their depths parted. */
#define LID_MEET_UPPER (-0.1f)
/* ... measured not from the lower rim itself but from LID_FLAT of the way from it to the
 * chord between the eye's corners: a shut lid's lash line is a shallow arc (the lid's stiff
 * tarsal plate over the cornea), not the lower rim's U, whose high corners read as a
 * smiling, half-open eye (lp_d3; dlib read her blinks at 0.71 of open against the driver's
 * 0.44, 0.63 with this). */
#define LID_FLAT 0.8f
#define LID_OVER 0.03f
#define LID_NEARER 0.1f
/* Within this many pixels of a shut upper lid's edge the frame is smoothed (the edge is
 * drawn over the lower lid by the depth test, which does not anti-alias: a staircase). */
#define LID_EDGE_SOFT 1.5f
/* How far out of the eye a shut lid's margin takes its texture, in eye widths. */
#define LID_INSET 0.06f
/* A shutting upper lid unfolds skin that the portrait does not show (hidden in the fold,
 * or in the shadow of a hooded lid): stretching the lid it shows drew its lashes and fold
 * over the eye as a dark crescent, or a pale almond ringed by the old margin.  By
 * lid_unfold(open), the lid's band of texture (from the margin up through the two rings
 * above it) gives way to the skin around it filled in smoothly (lid_skin_build), and a
 * lash line LASH_LINE times the portrait's lash depth thick is drawn along the margin,
 * LASH_ALPHA opaque, for the lashes the band took with it. */
/* A shutting lid's fold (lid_skin_build): lifted by FOLD_MAX at the band's top, by nothing
 * FOLD_BROW eye widths under the brow line (1 at the top: nice_clip1's squints lost their
 * fold, and the eval's tracking of them its pose following, yaw r 0.98 -> 0.92). */
#define FOLD_MAX 0.5f
#define FOLD_BROW 0.1f
#define LID_SKIN_DARK 0.8f
#define LID_SKIN_LIT 0.6f
#define LASH_LINE 0.55f
#define LASH_ALPHA 0.85f
static vv_status lid_skin_build(head3d *h, const vv_image *texture, int e);
static vv_status lid_wires(head3d *h);
static float lid_unfold(float open) { return open >= 0.6f ? 0 : open <= 0.15f ? 1 : (0.6f - open) / 0.45f; }

/* How far into the last half of a closing the lids are: 0 while half open or more, 1 shut.
 * LID_MEET_UPPER, LID_OVER, LID_NEARER and the edge's smoothing take effect by this, so that
 * a half-shut lid still sits where it did and shows its lashes. */
static float lid_deep(float open) { return open >= 0.5f ? 0 : open <= 0 ? 1 : (0.5f - open) / 0.5f; }

typedef struct vertex_weights {
    int anchor[3];
    float weight[3]; /* sum <= 1: outside the anchors' hull the weights fall off */
} vertex_weights;

/* An eye's unfolding lid (lid_skin_build): a box of the texture, its own pixels, the shut
 * lid's, and how much of the shut lid each pixel takes (0-255). */
typedef struct lid_skin {
    int x0, y0, width, height;
    uint8_t *own, *shut, *weight;
    /* the skin between the brow and the lid, painted over (gap: its weight, gap_skin: the
     * colours) for as far as a raised brow stretches it (brow_gap_stretch) */
    uint8_t *gap, *gap_skin;
    /* a glasses wire across the skin above the eye (lid_wire): its centre's row in each
     * column from wire_x0 (NAN where not found), and its half-width; NULL: none */
    float *wire_y, wire_half;
    int wire_x0, wire_n;
} lid_skin;

struct head3d {
    head3d_params params;
    vv_image source, plate, matte1; /* plate: the person painted out; matte1: the matte, one channel */
    vv_image foreground;            /* the person's colours, de-mixed from the plate */
    bool have_matte;
    int frame[4];                   /* frame_lines' rows / columns (top, bottom, left, right) */
    int width, height;              /* output: even sides */
    float (*src)[3];                /* source vertices: image x, y, depth (towards the camera) */
    float (*texcoord)[2];           /* this frame's */
    float (*texcoord_rest)[2];      /* where each vertex is in the portrait */
    float (*normal)[3];             /* face vertices' normals at rest (camera coordinates) */
    float (*texcoord_mirror)[2];    /* the twin's place in the portrait (ring vertices: their own) */
    float (*texcoord_share)[2];     /* this frame's: (mirror share x 255, 0) on the ramp */
    vv_image ramp;                  /* 256 x 1, value = x: reads back an interpolated share */
    float (*texcoord_stretch)[2];   /* this frame's: (stretch_fill's share x 255, 0) on ramp1 */
    vv_image ramp1;                 /* ramp, one channel */
    vv_image stretch;               /* this frame's stretch_fill share per pixel */
    float (*texcoord_firm)[2];      /* this frame's: (firm share x 255, 0) on ramp1 (FIRM_FROM) */
    vv_image firm;                  /* this frame's firm share per pixel (FIRM winners) */
    bool *takes_firm;               /* per triangle, this frame: translucent and stretched */
    bool *takes_fill;               /* per triangle, this frame: a face triangle with a
                                       stretch_fill share at a corner */
    vv_image mirrored;              /* this frame's render with the twins' texture */
    vv_image share;                 /* ... and the share of it per pixel */
    float *weight;                  /* rigid-with-head weight 0..1 */
    int (*triangles)[3];
    uint8_t *layer;
    int triangle_count;
    int vertex_count;               /* VERTEX_COUNT less the body points inside the ring */
    float body_reach;               /* pixels from the border at which the body moves fully */
    int face_end;                   /* triangles [0, face_end): the face's own (then the rings) */
    int frame_first;                /* triangles [frame_first, triangle_count): between the last
                                       ring and the frame (drawn only when the body moves) */
    int culled_count;               /* triangles [0, culled_count) face the camera at rest and
                                       are culled when they turn away; the rest (folds of a
                                       turned face, the outer rings) are drawn either way */
    float head_centre[3];           /* the skull's centre in the source (camera coordinates) */
    float *ring_radius;             /* outer vertices: distance from the head centre at rest */
    /* Expression spread: per face vertex, a blend of up to three anchors. */
    vertex_weights spread[FACE_VERTICES];
    vertex_weights brow_spread[FACE_VERTICES]; /* brow_rigid's, where brow_vertex */
    bool brow_vertex[FACE_VERTICES];
    int dlib_anchor[DLIB_ANCHORS];  /* dlib index of each dlib anchor */
    int anchor_vertex[ANCHOR_MAX];  /* mesh vertex of a contour anchor (-1: a dlib anchor) */
    int anchor_total;               /* ANCHOR_COUNT + the crease anchors */
    int crease_eye[2 * CREASE_MAX];   /* crease anchor: its eye, */
    int crease_lid[2 * CREASE_MAX];   /* the upper-lid contour index it follows, */
    float crease_share[2 * CREASE_MAX]; /* and by how much */
    float source68[68][2];          /* the mesh's 68 points in the source */
    float dlib68[68][2];            /* the source's own (dlib) 68 points, the 2D targets' rest */
    float pivot_depth;              /* depth of the pose origin (motion_rigid.origin) */
    float eye_distance;             /* source pixels */
    uint8_t *footprint;             /* pixels the moving part covers at rest */
    int foot_box[4];                /* their bounding box: x0, y0, x1, y1 (inclusive) */
    /* Per-frame buffers. */
    float (*posed)[3];
    float *depth;
    uint8_t *coverage, *raster_layer;
    vv_image color, alpha;
    uint8_t *draw_layer;            /* layer | TRANSLUCENT | CLEAR | TWIN per triangle */
    bool *is_translucent, *is_clear; /* per triangle: draw_layer's bits */
    bool *culls;                    /* per triangle: culled when it faces away ([0, culled_count)) */
    bool *takes_twin;               /* per triangle, this frame: a face triangle with a share of
                                       its twin's texture at a corner (the rest need no twin) */
    float last68[68][2];
    /* Gaze: each eye's iris in the portrait (centre, radius), its eye's axis, the white. */
    float iris_centre[2][2], iris_radius[2], eye_axis[2][2], eye_width[2];
    float iris_moved[2];            /* the disk a glance moves: to the iris's own edge (iris_edge) */
    float sclera[2][3];
    vv_image eye_clean[2];          /* each eye's box of the portrait with its iris painted out (eye_clean_build) */
    int eye_clean_origin[2][2];
    /* The upper lashes (see lashes_measure): each inner upper-lid vertex's dark run above the
     * margin (portrait pixels, along lash_up), and the run's colour. */
    float lash_depth[2][FACE_MESH_LID_POINTS], lash_up[2][2], lash_colour[2][3];
    lid_skin lid_skin[2];           /* each eye's unfolding lid */
    float lid_centre[2][2];         /* each eye's lid contours' mean in the portrait */
    float *strip_k;                 /* strip_smooth's strength per vertex (the most of its triangles') */
    uint8_t *lid_scratch;           /* frame_box_copy's copy of a box of the frame */
    size_t lid_scratch_size;
    float eye_polygon[2][2 * FACE_MESH_LID_POINTS - 2][2]; /* each eye's opening in the portrait */
    bool has_side;                  /* some triangles are HEAD3D_LAYER_SIDE */
    int far_side;                   /* a three-quarter face's far side: -1 the image's left, 1 its right, 0 frontal */
    float side_bridge;              /* this frame's: the nose's bridge's x (side_fill) */
    bool side_twins;                /* the side of the head may take its twin's texture */
    bool *side_own;                 /* per side triangle: its twin differs from it where it lies
                                       (it is painted, never takes the twin) */
    int ear_first, ear_count;       /* triangles of folded outline vertices and their neighbours */
    int (*ear)[3];                  /* their corners (a triangle drawn only while it turns to the camera) */
    bool folded[FACE_VERTICES];     /* outline vertices folded behind the face at rest */
    float twin_reach[FACE_VERTICES]; /* how far a vertex may take its twin: 0 on an open outline */
    float twin_light[FACE_VERTICES]; /* ... and as far as its twin is not much brighter than it */
    vv_image side_box;              /* side_fill's scratch */
    uint8_t *side_known;
    size_t side_known_size;
};

head3d_params head3d_default_params(void) {
    head3d_params p;
    memset(&p, 0, sizeof p);
    p.background_still = true;
    p.eyes = 1;
    p.lips = 1;
    p.mouth_fill = true;
    return p;
}

static float dist2(const float *a, const float *b) {
    float dx = a[0] - b[0], dy = a[1] - b[1];
    return sqrtf(dx * dx + dy * dy);
}

static bool point_in_polygon(const float (*p)[2], int n, float x, float y) {
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((p[i][1] > y) != (p[j][1] > y) && x < (p[j][0] - p[i][0]) * (y - p[i][1]) / (p[j][1] - p[i][1]) + p[i][0])
            in = !in;
    return in;
}

/* Barycentric weights of (x, y) in triangle abc; false when degenerate. */
static bool barycentric(const float *a, const float *b, const float *c, float x, float y, float w[3]) {
    float d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    if (fabsf(d) < 1e-12f) return false;
    w[0] = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / d;
    w[1] = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / d;
    w[2] = 1 - w[0] - w[1];
    return true;
}

/* How far above the brows (and beyond the anchors' hull elsewhere) the skin still follows
 * them: a Gaussian of the distance to the hull, this many (frontal) eye distances wide. */
#define SPREAD_FADE 0.27f
/* Per face vertex: the anchor triangle around it (in the frontal layout) and its
 * barycentric weights; outside the anchors' hull the weights of the nearest point of the
 * nearest anchor triangle, fading with the distance (a vertex far above the brows does not
 * follow them). */
static vv_status spread_build(head3d *h, const float (*frontal)[3], const float (*anchor_pos)[2], float eye) {
    float fade_width = SPREAD_FADE * eye;
    int (*tris)[3] = NULL, count = 0;
    vv_status s = delaunay_triangulate(anchor_pos, h->anchor_total, &tris, &count);
    if (s != VV_OK) return s;
    for (int v = 0; v < FACE_VERTICES; v++) {
        float x = frontal[v][0], y = frontal[v][1];
        vertex_weights *vw = &h->spread[v];
        memset(vw, 0, sizeof *vw);
        float best = INFINITY;
        for (int t = 0; t < count; t++) {
            float w[3];
            if (!barycentric(anchor_pos[tris[t][0]], anchor_pos[tris[t][1]], anchor_pos[tris[t][2]], x, y, w)) continue;
            if (w[0] >= -1e-5f && w[1] >= -1e-5f && w[2] >= -1e-5f) {
                for (int k = 0; k < 3; k++) { vw->anchor[k] = tris[t][k]; vw->weight[k] = w[k]; }
                best = 0;
                break;
            }
            /* outside: the nearest point of the triangle lies on one of its edges */
            for (int k = 0; k < 3; k++) {
                const float *a = anchor_pos[tris[t][k]], *b = anchor_pos[tris[t][(k + 1) % 3]];
                float ex = b[0] - a[0], ey = b[1] - a[1], len2 = ex * ex + ey * ey;
                float u = len2 > 0 ? ((x - a[0]) * ex + (y - a[1]) * ey) / len2 : 0;
                u = u < 0 ? 0 : u > 1 ? 1 : u;
                float d = hypotf(a[0] + u * ex - x, a[1] + u * ey - y);
                if (d < best) {
                    best = d;
                    vw->anchor[0] = tris[t][k]; vw->weight[0] = 1 - u;
                    vw->anchor[1] = tris[t][(k + 1) % 3]; vw->weight[1] = u;
                    vw->anchor[2] = tris[t][(k + 2) % 3]; vw->weight[2] = 0;
                }
            }
        }
        if (best > 0 && isfinite(best)) {
            float fade = expf(-(best * best) / (fade_width * fade_width));
            for (int k = 0; k < 3; k++) vw->weight[k] *= fade;
        }
    }
    free(tris);
    return VV_OK;
}

/* The mesh's brows (both edges) as the dlib brow line above them moves, whole (weights on
 * the two brow points either side, in the frontal layout; vertex_offset takes BROW_RIGID of
 * them): spread between the brow points and the lids' crease anchors, a brow's lower edge
 * followed a raise only part of the way, and the brow was drawn out into tall streaks down
 * to the eye (young Einstein's surprise).  The skin between brow and lid stretches instead
 * (brow_gap_build).  Dlib's brow points are anchors 17-26 (every dlib point before the eyes
 * is an anchor, in order). */
static const int brow_lower[2][5] = {{46, 53, 52, 65, 55}, {276, 283, 282, 295, 285}};
static const int brow_upper[2][5] = {{70, 63, 105, 66, 107}, {300, 293, 334, 296, 336}};
static void brow_rigid(head3d *h, const float (*frontal)[3], const float (*anchor_pos)[2]) {
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 10; i++) {
            int v = i < 5 ? brow_lower[e][i] : brow_upper[e][i - 5], first = e ? 22 : 17;
            float x = frontal[v][0];
            int k = first;
            while (k < first + 3 && (anchor_pos[k + 1][0] - anchor_pos[k][0]) * (x - anchor_pos[k + 1][0]) > 0) k++;
            float span = anchor_pos[k + 1][0] - anchor_pos[k][0], u = fabsf(span) > 1e-6f ? (x - anchor_pos[k][0]) / span : 0;
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            vertex_weights *vw = &h->brow_spread[v];
            h->brow_vertex[v] = true;
            vw->anchor[0] = k, vw->weight[0] = 1 - u;
            vw->anchor[1] = k + 1, vw->weight[1] = u;
            vw->anchor[2] = k, vw->weight[2] = 0;
        }
}

/* Face vertex v's expression offset from the anchors' (d): its spread's, a brow's
 * BROW_RIGID of the way to brow_rigid's.  All the way, the brows came out as thin arcs over
 * pale patches on young Einstein's surprise, and the held-out clips' identity fell (faceres
 * CSIM on sty_style_nice_clip1's raised brows 0.774 -> 0.736 over the same frames; half way
 * 0.770 -> 0.754). */
#define BROW_RIGID 0.5f
static void weights_sum(const vertex_weights *vw, const float (*d)[2], float out[2]) {
    out[0] = out[1] = 0;
    for (int k = 0; k < 3; k++) {
        out[0] += vw->weight[k] * d[vw->anchor[k]][0];
        out[1] += vw->weight[k] * d[vw->anchor[k]][1];
    }
}
static void vertex_offset(const head3d *h, int v, const float (*d)[2], float out[2]) {
    weights_sum(&h->spread[v], d, out);
    if (!h->brow_vertex[v]) return;
    float r[2];
    weights_sum(&h->brow_spread[v], d, r);
    out[0] += BROW_RIGID * (r[0] - out[0]);
    out[1] += BROW_RIGID * (r[1] - out[1]);
}

/* Glasses whose upper rim lies along the brows (a brow-line frame, as Grace Hopper's): dlib
 * puts the brows on the rim, and raised brows lifted and kinked it into two dark arcs, the
 * lenses stretched below.  A frame is rigid: the face's skin along it and a little either
 * side moves with the head only (rim_rigid), the brows' motion taking over above it.  Found
 * by three things brows alone do not show together, measured along each of dlib's brows
 * (RIM_STEPS columns per brow, from 0.3 eye distances above the brow to 0.2 below): a dark
 * band (each column's darkest over its lightest, at most RIM_DARK in 80% of them: brows of
 * the 11 other portraits 0.17-0.60, the rim 0.06-0.07), a strong top edge all along (a luma
 * fall from above of at least RIM_EDGE per pixel in 80% of the columns: a brow thins out
 * towards its ends), and a bridge across the nose between the eyes (one row of the middle
 * half between the inner corners whose mean vertical step is at least RIM_BRIDGE, nearly
 * all of one sign: a nose's skin at most 8.2, the frame's bridge 20). */
#define RIM_STEPS 16
#define RIM_DARK 0.12f
#define RIM_EDGE 25.0f
#define RIM_BRIDGE 12.0f
#define RIM_ABOVE 0.3f  /* eye distances above the rim's top over which the brows' motion comes back */
#define RIM_BELOW 0.08f /* ... and below its dark band, towards the lid */
#define RIM_BEYOND 0.15f /* ... and beyond the brows' outer ends */
typedef struct rim_line {
    float x[2 * RIM_STEPS], top[2 * RIM_STEPS], bottom[2 * RIM_STEPS]; /* by x, image pixels */
    int n;
} rim_line;

static float luma_at(const vv_image *im, int x, int y) {
    x = x < 0 ? 0 : x >= im->width ? im->width - 1 : x;
    y = y < 0 ? 0 : y >= im->height ? im->height - 1 : y;
    const uint8_t *p = im->data + ((size_t)y * im->width + x) * 3;
    return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static bool glasses_rim(const vv_image *im, const float (*l)[2], float eye, rim_line *rim) {
    rim->n = 0;
    for (int b = 0; b < 2; b++) {
        float dark[RIM_STEPS], edge[RIM_STEPS];
        for (int i = 0; i < RIM_STEPS; i++) {
            float s = 4.0f * (float)i / (RIM_STEPS - 1);
            int k = (int)s < 4 ? (int)s : 3;
            float u = s - (float)k;
            const float *p = l[17 + 5 * b + k], *q = l[18 + 5 * b + k];
            int x = (int)lroundf(p[0] + u * (q[0] - p[0]));
            float yc = p[1] + u * (q[1] - p[1]);
            int y0 = (int)lroundf(yc - 0.3f * eye), y1 = (int)lroundf(yc + 0.2f * eye), top = y0;
            float lo = 255, hi = 0, fall = 0;
            for (int y = y0; y <= y1; y++) {
                float v = luma_at(im, x, y), g = (luma_at(im, x, y - 1) - luma_at(im, x, y + 1)) / 2;
                lo = fminf(lo, v);
                hi = fmaxf(hi, v);
                if (g > fall) { fall = g; top = y; }
            }
            dark[i] = lo / fmaxf(hi, 1);
            edge[i] = fall;
            /* the band: from the top edge down while darker than halfway to the skin above */
            float above = luma_at(im, x, top - 2), mid = (above + lo) / 2;
            int bottom = top;
            while (bottom < top + (int)(0.3f * eye) && luma_at(im, x, bottom + 1) < mid) bottom++;
            rim->x[rim->n] = (float)x;
            rim->top[rim->n] = (float)top;
            rim->bottom[rim->n++] = (float)bottom;
        }
        qsort(dark, RIM_STEPS, sizeof *dark, compare_float);
        qsort(edge, RIM_STEPS, sizeof *edge, compare_float);
        if (dark[RIM_STEPS * 4 / 5] > RIM_DARK || edge[RIM_STEPS / 5] < RIM_EDGE) return false;
    }
    float x0 = l[39][0] + 0.25f * (l[42][0] - l[39][0]), x1 = l[42][0] - 0.25f * (l[42][0] - l[39][0]), ytop = INFINITY;
    for (int k = 17; k <= 26; k++) ytop = fminf(ytop, l[k][1]);
    int ya = (int)lroundf(ytop - 0.1f * eye), yb = (int)lroundf((l[39][1] + l[42][1]) / 2 + 0.1f * eye);
    float bridge = 0;
    for (int y = ya; y <= yb; y++) {
        float sum = 0, sum_abs = 0;
        int n = 0;
        for (int x = (int)lroundf(x0); x <= (int)lroundf(x1); x++, n++) {
            float g = (luma_at(im, x, y + 1) - luma_at(im, x, y - 1)) / 2;
            sum += g;
            sum_abs += fabsf(g);
        }
        if (n && fabsf(sum) >= 0.8f * sum_abs) bridge = fmaxf(bridge, fabsf(sum) / (float)n);
    }
    return bridge >= RIM_BRIDGE;
}

/* How rigid a face vertex at (x, y) is on a face with a brow-line frame: 1 on the rim's
 * band, falling to 0 RIM_ABOVE eye distances above it, RIM_BELOW below it and RIM_BEYOND
 * beyond the brows' ends (the line between the brows' inner ends: the bridge). */
static float rim_rigid(const rim_line *rim, float eye, float x, float y) {
    int n = rim->n;
    float top, bottom, out = 0;
    if (x <= rim->x[0]) {
        top = rim->top[0]; bottom = rim->bottom[0]; out = rim->x[0] - x;
    } else if (x >= rim->x[n - 1]) {
        top = rim->top[n - 1]; bottom = rim->bottom[n - 1]; out = x - rim->x[n - 1];
    } else {
        int i = 0;
        while (i + 2 < n && rim->x[i + 1] < x) i++;
        float span = rim->x[i + 1] - rim->x[i], u = span > 0 ? (x - rim->x[i]) / span : 0;
        top = rim->top[i] + u * (rim->top[i + 1] - rim->top[i]);
        bottom = rim->bottom[i] + u * (rim->bottom[i + 1] - rim->bottom[i]);
    }
    float r = y < top ? 1 - (top - y) / (RIM_ABOVE * eye) : y > bottom ? 1 - (y - bottom) / (RIM_BELOW * eye) : 1;
    r *= 1 - out / (RIM_BEYOND * eye);
    r = r < 0 ? 0 : r;
    return r * r * (3 - 2 * r);
}

/* Arc-length positions 0..1 of a chain of points. */
static void chain_params(const float (*p)[2], int n, float *out) {
    float total = 0;
    out[0] = 0;
    for (int i = 1; i < n; i++) {
        total += dist2(p[i - 1], p[i]);
        out[i] = total;
    }
    for (int i = 0; i < n; i++) out[i] = total > 0 ? out[i] / total : (float)i / (float)(n - 1);
}

/* Linear interpolation at s of values given at knots (ascending, 0..1). */
static void interpolate_at(const float *knots, const float (*values)[2], int n, float s, float out[2]) {
    int i = 0;
    while (i < n - 2 && s > knots[i + 1]) i++;
    float span = knots[i + 1] - knots[i], f = span > 0 ? (s - knots[i]) / span : 0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    out[0] = values[i][0] + f * (values[i + 1][0] - values[i][0]);
    out[1] = values[i][1] + f * (values[i + 1][1] - values[i][1]);
}

/* Convex hull (monotone chain) of the points' x, y into out (room for n points),
 * counter-clockwise in image axes; *count: its length. */
static int compare_xy(const void *pa, const void *pb) {
    const float *a = pa, *b = pb;
    return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1];
}
static float cross3(const float *o, const float *a, const float *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}
static vv_status convex_hull(const float (*points)[3], int n, float (*out)[2], int *count) {
    *count = 0;
    float (*p)[2] = malloc((size_t)n * sizeof *p), (*h)[2] = malloc((size_t)(2 * n) * sizeof *h);
    if (!p || !h) {
        free(p);
        free(h);
        return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    }
    for (int i = 0; i < n; i++) { p[i][0] = points[i][0]; p[i][1] = points[i][1]; }
    qsort(p, (size_t)n, sizeof *p, compare_xy);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        memcpy(h[k++], p[i], sizeof *h);
    }
    for (int i = n - 2, lower = k + 1; i >= 0; i--) {
        while (k >= lower && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        memcpy(h[k++], p[i], sizeof *h);
    }
    k = k > 1 ? k - 1 : k;
    memcpy(out, h, (size_t)k * sizeof *out);
    free(p);
    free(h);
    *count = k;
    return VV_OK;
}

/* How far the ray from (x, y) along unit (dx, dy) runs inside a convex polygon (0 when
 * the point is outside). */
static float ray_hull_distance(const float (*hull)[2], int n, float x, float y, float dx, float dy) {
    float best = 0;
    for (int i = 0; i < n; i++) {
        const float *a = hull[i], *b = hull[(i + 1) % n];
        float ex = b[0] - a[0], ey = b[1] - a[1], den = dx * ey - dy * ex;
        if (fabsf(den) < 1e-9f) continue;
        float t = ((a[0] - x) * ey - (a[1] - y) * ex) / den, u = ((a[0] - x) * dy - (a[1] - y) * dx) / den;
        if (t > best && u >= -1e-4f && u <= 1 + 1e-4f) best = t;
    }
    return best;
}

/* What follows from the fixed topology alone, the same for every portrait: made once
 * (head3d_new may run on several threads at a time). */
static struct {
    pthread_once_t once;
    int boundary[FACE_VERTICES]; /* the face triangulation's outline, one loop */
    int boundary_count;          /* 0: not one simple loop */
    int neighbours[FACE_VERTICES][MAX_NEIGHBOURS];
    int neighbour_count[FACE_VERTICES];
    int mirror[FACE_VERTICES];   /* each face vertex's twin across the face's midline */
} topology = {PTHREAD_ONCE_INIT};

/* The boundary of the face's triangulation as one loop of vertices (edges used by one
 * triangle only, chained); returns its length (0 if it is not one simple loop). */
static int face_boundary_loop(int *out, int capacity) {
    int next[FACE_VERTICES];
    for (int v = 0; v < FACE_VERTICES; v++) next[v] = -1;
    int edges = 0, start = -1;
    for (int t = 0; t < face_topology_triangle_count; t++)
        for (int k = 0; k < 3; k++) {
            int a = face_topology_triangles[t][k], b = face_topology_triangles[t][(k + 1) % 3];
            bool shared = false; /* the reverse edge in another triangle */
            for (int u = 0; u < face_topology_triangle_count && !shared; u++)
                for (int q = 0; q < 3 && !shared; q++)
                    shared = face_topology_triangles[u][q] == b && face_topology_triangles[u][(q + 1) % 3] == a;
            if (shared) continue;
            if (next[a] >= 0) return 0;
            next[a] = b;
            start = a;
            edges++;
        }
    int n = 0;
    for (int v = start; v >= 0 && n < capacity; v = next[v]) {
        out[n++] = v;
        if (next[v] == start) break;
    }
    return n == edges ? n : 0;
}

static void topology_init(void) {
    topology.boundary_count = face_boundary_loop(topology.boundary, FACE_VERTICES);
    for (int t = 0; t < face_topology_triangle_count; t++)
        for (int k = 0; k < 3; k++) {
            int a = face_topology_triangles[t][k], b = face_topology_triangles[t][(k + 1) % 3];
            for (int pass = 0; pass < 2; pass++) {
                int x = pass ? b : a, y = pass ? a : b, *n = &topology.neighbour_count[x];
                bool seen = false;
                for (int i = 0; i < *n && !seen; i++) seen = topology.neighbours[x][i] == y;
                if (!seen && *n < MAX_NEIGHBOURS) topology.neighbours[x][(*n)++] = y;
            }
        }
    /* Twins across the midline, in the canonical face: the vertex nearest (-x, y, z). */
    for (int v = 0; v < FACE_VERTICES; v++) {
        const float *c = face_canonical_mesh[v];
        float best = INFINITY;
        for (int u = 0; u < FACE_VERTICES; u++) {
            const float *d = face_canonical_mesh[u];
            float dx = d[0] + c[0], dy = d[1] - c[1], dz = d[2] - c[2], e = dx * dx + dy * dy + dz * dz;
            if (e < best) { best = e; topology.mirror[v] = u; }
        }
    }
}

/* The face vertices' normals at rest (mean of their triangles'), in camera coordinates:
 * how well the portrait shows each part (a turned face's far side is seen edge-on). */
static void face_normals(head3d *h) {
    memset(h->normal, 0, FACE_VERTICES * sizeof *h->normal);
    for (int t = 0; t < face_topology_triangle_count; t++) {
        const int *tri = face_topology_triangles[t];
        const float *a = h->src[tri[0]], *b = h->src[tri[1]], *c = h->src[tri[2]];
        float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        /* image axes x right, y down, depth towards the camera: a face turned to the
         * camera has a positive area, which is this cross product's depth component */
        float n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 3; i++) h->normal[tri[k]][i] += n[i];
    }
    for (int v = 0; v < FACE_VERTICES; v++) {
        float *n = h->normal[v], len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (len > 0)
            for (int i = 0; i < 3; i++) n[i] /= len;
    }
}

/* The two rings of skin above each upper lid (see CREASE_NEAR), as anchors from index a;
 * returns the new anchor count.  Ring one: neighbours of the upper lid's inner vertices that
 * lie above them (frontal layout) and are not on a lid; ring two: the same from ring one. */
static int crease_anchors(head3d *h, const float (*frontal)[3], float (*anchor_pos)[2], int a) {
    int made = 0;
    for (int e = 0; e < 2; e++) {
        bool on_lid[FACE_VERTICES] = {false}, taken[FACE_VERTICES] = {false};
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) on_lid[face_mesh_lid_upper[e][i]] = on_lid[face_mesh_lid_lower[e][i]] = true;
        int ring[CREASE_MAX], ring_lid[CREASE_MAX], ring_count = 0;
        for (int i = 1; i < FACE_MESH_LID_POINTS - 1; i++) {
            int lid = face_mesh_lid_upper[e][i];
            for (int k = 0; k < topology.neighbour_count[lid]; k++) {
                int u = topology.neighbours[lid][k];
                if (on_lid[u] || taken[u] || frontal[u][1] >= frontal[lid][1] || ring_count >= CREASE_MAX / 2) continue;
                taken[u] = true;
                ring_lid[ring_count] = i;
                ring[ring_count++] = u;
            }
        }
        int first_ring = ring_count;
        for (int r = 0; r < first_ring; r++) {
            int u0 = ring[r];
            for (int k = 0; k < topology.neighbour_count[u0]; k++) {
                int u = topology.neighbours[u0][k];
                if (on_lid[u] || taken[u] || frontal[u][1] >= frontal[u0][1] || ring_count >= CREASE_MAX) continue;
                taken[u] = true;
                ring_lid[ring_count] = ring_lid[r];
                ring[ring_count++] = u;
            }
        }
        for (int r = 0; r < ring_count && made < 2 * CREASE_MAX; r++, made++) {
            int idx = a + made;
            h->anchor_vertex[idx] = ring[r];
            h->crease_eye[made] = e;
            h->crease_lid[made] = ring_lid[r];
            h->crease_share[made] = r < first_ring ? CREASE_NEAR : CREASE_FAR;
            anchor_pos[idx][0] = frontal[ring[r]][0];
            anchor_pos[idx][1] = frontal[ring[r]][1];
        }
    }
    return a + made;
}

/* The iris a glance moves: the Iris model's rim sits inside a painted iris's dark edge. */
#define IRIS_CLEAR 1.15f
#define WAS_RAMP 1.5f /* pixels past the rim over which the white blends into what lies beyond */

/* The radius of the disk a glance moves: the iris's own edge where the portrait shows it, along
 * IRIS_RAYS rays within 30 degrees of the eye's axis either way (the lids hide its top and
 * bottom): the outermost point within 1.3 of the model's rim where luma is under IRIS_EDGE_AT
 * of the way from the iris's (its mean within half the rim) to the white's (its mean 1.3-1.6
 * rims out), the rays' median, and half a pixel; between IRIS_CLEAR_LEAST and IRIS_CLEAR rims.  IRIS_CLEAR alone, sized
 * for a painted iris's dark edge, carried a photo's white round the moved iris as a pale ring
 * (lp_d0's first frame); without a clear white (too little contrast on enough rays), that. */
#define IRIS_RAYS 12
#define IRIS_CLEAR_LEAST 0.9f
#define IRIS_CONTRAST 25.0f
#define IRIS_EDGE_AT 0.4f
static float ray_luma(const vv_image *im, const float *c, float dx, float dy, float d) {
    float rgb[3];
    image_sample_rgb(im, c[0] + dx * d, c[1] + dy * d, rgb);
    return 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
}
static float iris_edge(const vv_image *im, const float c[2], float r, const float axis[2]) {
    float edges[IRIS_RAYS];
    int n = 0;
    if (!(r >= 2)) return IRIS_CLEAR * r;
    for (int k = 0; k < IRIS_RAYS; k++) {
        float side = k < IRIS_RAYS / 2 ? 1.0f : -1.0f, a = ((float)(k % (IRIS_RAYS / 2)) / (IRIS_RAYS / 2 - 1) - 0.5f) * 1.047f;
        float dx = side * (axis[0] * cosf(a) - axis[1] * sinf(a)), dy = side * (axis[0] * sinf(a) + axis[1] * cosf(a));
        float inner = 0, outer = 0;
        for (int i = 0; i < 8; i++) {
            inner += ray_luma(im, c, dx, dy, 0.5f * r * (float)i / 7) / 8;
            outer += ray_luma(im, c, dx, dy, r * (1.3f + 0.3f * (float)i / 7)) / 8;
        }
        if (outer - inner < IRIS_CONTRAST) continue;
        /* from the white inwards: a light iris (st_art_13's grey-green) climbs past the mark
         * inside its own dark rim */
        float half = inner + IRIS_EDGE_AT * (outer - inner);
        for (float d = 1.3f * r; d >= 0.75f * r; d -= 0.25f)
            if (ray_luma(im, c, dx, dy, d) < half) {
                edges[n++] = d + 0.25f;
                break;
            }
    }
    if (n < IRIS_RAYS / 3) return IRIS_CLEAR * r;
    qsort(edges, (size_t)n, sizeof *edges, compare_float);
    float edge = edges[n / 2] + 0.5f;
    return edge < IRIS_CLEAR_LEAST * r ? IRIS_CLEAR_LEAST * r : edge > IRIS_CLEAR * r ? IRIS_CLEAR * r : edge;
}

/* An iris of GAZE_IRIS_LEAST pixels' radius or less takes no glance, one of GAZE_IRIS_FULL
 * or more all of it (in between, in proportion): in a small photo's squinting smile (iris
 * radius 2.5-3 px, eyes 12 px wide: three of dlib's landmark photos) the white beside the
 * iris cannot be told from lid and lashes, and the glance painted the old iris's place with
 * a light dot that read as a glowing eye (lp_d3 frames 300-335).  The portraits' irises
 * measure 3.7-14 px. */
#define GAZE_IRIS_LEAST 3.0f
#define GAZE_IRIS_FULL 3.6f

/* Eye e's iris shift in portrait pixels; false when too small to draw or not a number
 * (then the eye is left as rendered). */
static bool gaze_shift(const head3d *h, const head3d_frame *f, int e, float *sx, float *sy) {
    float gx = f->gaze[e][0], gy = f->gaze[e][1], g = hypotf(gx, gy);
    if (g > 0.3f) { gx *= 0.3f / g; gy *= 0.3f / g; }
    float k = (h->iris_radius[e] - GAZE_IRIS_LEAST) / (GAZE_IRIS_FULL - GAZE_IRIS_LEAST);
    k = k < 0 ? 0 : k > 1 ? 1 : k;
    const float *u = h->eye_axis[e];
    *sx = k * (gx * u[0] - gy * u[1]) * h->eye_width[e];
    *sy = k * (gx * u[1] + gy * u[0]) * h->eye_width[e];
    return f->has_gaze && hypotf(*sx, *sy) >= 0.3f;
}

/* Gaze: inside each eye's opening as rendered, the iris moved within the eye by the gaze
 * change (in the portrait's own eye frame: a pixel showing the portrait's point p now shows
 * its point p - shift), and where the iris was, the white beside it (the same p - shift,
 * which there lies just outside the iris; the white's mean colour if that leaves the eye).
 * The lids clip it all: only pixels the eye's own triangles won are touched. */
static void eyes_gaze(head3d *h, const head3d_frame *f, vv_image *out) {
    for (int e = 0; e < 2; e++) {
        float sx, sy;
        if (!gaze_shift(h, f, e, &sx, &sy)) continue;
        const float *c = h->iris_centre[e];
        float r = IRIS_CLEAR * h->iris_radius[e], moved_r = h->iris_moved[e]; /* the old iris cleared to past its dark edge */
        uint8_t layer = (uint8_t)(e ? HEAD3D_LAYER_EYE_LEFT : HEAD3D_LAYER_EYE_RIGHT);
        for (int t = 0; t < h->triangle_count; t++) {
            if (h->layer[t] != layer) continue;
            const int *tri = h->triangles[t];
            const float *p0 = h->posed[tri[0]], *p1 = h->posed[tri[1]], *p2 = h->posed[tri[2]];
            int x0 = (int)floorf(fminf(p0[0], fminf(p1[0], p2[0]))), x1 = (int)ceilf(fmaxf(p0[0], fmaxf(p1[0], p2[0])));
            int y0 = (int)floorf(fminf(p0[1], fminf(p1[1], p2[1]))), y1 = (int)ceilf(fmaxf(p0[1], fmaxf(p1[1], p2[1])));
            if (x0 < 0) x0 = 0;
            if (y0 < 0) y0 = 0;
            if (x1 >= h->width) x1 = h->width - 1;
            if (y1 >= h->height) y1 = h->height - 1;
            for (int y = y0; y <= y1; y++)
                for (int x = x0; x <= x1; x++) {
                    float w3[3];
                    if ((h->raster_layer[(size_t)y * h->source.width + x] & LAYER_MASK) != layer ||
                        !h->coverage[(size_t)y * h->source.width + x])
                        continue;
                    if (!barycentric(p0, p1, p2, (float)x, (float)y, w3) || w3[0] < -1e-4f || w3[1] < -1e-4f || w3[2] < -1e-4f)
                        continue;
                    float px = 0, py = 0;
                    for (int k = 0; k < 3; k++) {
                        px += w3[k] * h->texcoord_rest[tri[k]][0];
                        py += w3[k] * h->texcoord_rest[tri[k]][1];
                    }
                    float qx = px - sx, qy = py - sy;
                    float iris = moved_r + 0.5f - hypotf(qx - c[0], qy - c[1]); /* > 0: the moved iris covers it */
                    float was = (r + WAS_RAMP - hypotf(px - c[0], py - c[1])) / (WAS_RAMP + 0.5f); /* > 0: the iris was here */
                    iris = iris < 0 ? 0 : iris > 1 ? 1 : iris;
                    was = was < 0 ? 0 : was > 1 ? 1 : was;
                    if (iris <= 0 && was <= 0) continue;
                    uint8_t *o = out->data + ((size_t)y * out->width + x) * 3;
                    /* where the iris was, the white without it; over that, the moved iris */
                    float white[3] = {0, 0, 0}, moved[3] = {0, 0, 0};
                    if (was > 0) image_sample_rgb(&h->eye_clean[e], px - (float)h->eye_clean_origin[e][0], py - (float)h->eye_clean_origin[e][1], white);
                    if (iris > 0) image_sample_rgb(&h->source, qx, qy, moved);
                    for (int k = 0; k < 3; k++) {
                        float v = o[k] + was * (white[k] - o[k]);
                        v += iris * (moved[k] - v);
                        o[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                    }
                }
        }
    }
}

/* The point of a lid's margin (FACE_MESH_LID_POINTS points) nearest (x, y): its segment
 * (returned), the fraction along it, the distance, and how far (x, y) lies below the margin,
 * on the eye's side (against the lash line's up direction). */
static int margin_nearest(const float (*line)[2], const float up[2], float x, float y, float *best, float *at, float *below) {
    int seg = 0;
    *best = INFINITY, *at = 0, *below = 0;
    for (int i = 0; i + 1 < FACE_MESH_LID_POINTS; i++) {
        float ax = line[i][0], ay = line[i][1], dx = line[i + 1][0] - ax, dy = line[i + 1][1] - ay;
        float len2 = dx * dx + dy * dy, t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        float px = x - ax - t * dx, py = y - ay - t * dy, d = hypotf(px, py);
        if (d < *best) *best = d, *at = t, seg = i, *below = -(px * up[0] + py * up[1]);
    }
    return seg;
}

/* A copy of the frame's box (x0, y0) w x h in the head's scratch (grown as needed), so that
 * a pass reads the frame as it was while it writes it; NULL without memory. */
static const uint8_t *frame_box_copy(head3d *h, const vv_image *out, int x0, int y0, int w, int hgt) {
    size_t need = (size_t)w * hgt * 3;
    if (need > h->lid_scratch_size) {
        uint8_t *grown = realloc(h->lid_scratch, need);
        if (!grown) return NULL;
        h->lid_scratch = grown;
        h->lid_scratch_size = need;
    }
    for (int y = 0; y < hgt; y++)
        memcpy(h->lid_scratch + (size_t)y * w * 3, out->data + ((size_t)(y0 + y) * out->width + x0) * 3, (size_t)w * 3);
    return h->lid_scratch;
}

/* A shut eye's upper-lid edge, smoothed: within LID_EDGE_SOFT pixels of the posed lid line
 * each pixel moves towards its 3x3 mean, by how far the eye is shut past half. */
static void lids_soften(head3d *h, const head3d_frame *f, vv_image *out) {
    for (int e = 0; e < 2; e++) {
        float open = f->eye_openness[e];
        open = isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1;
        float k = lid_deep(open); /* with the lid in front */
        if (!(k > 0)) continue;
        k = k > 1 ? 1 : k;
        float line[FACE_MESH_LID_POINTS][2], x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
            line[i][0] = h->posed[face_mesh_lid_upper[e][i]][0];
            line[i][1] = h->posed[face_mesh_lid_upper[e][i]][1];
            x0 = fminf(x0, line[i][0]), x1 = fmaxf(x1, line[i][0]), y0 = fminf(y0, line[i][1]), y1 = fmaxf(y1, line[i][1]);
        }
        /* the box, 2 px past the line and one more for the mean, inside the frame */
        int bx0 = (int)fmaxf(floorf(x0) - 2, 1), by0 = (int)fmaxf(floorf(y0) - 2, 1);
        int bx1 = (int)fminf(ceilf(x1) + 2, (float)out->width - 2), by1 = (int)fminf(ceilf(y1) + 2, (float)out->height - 2);
        if (bx1 < bx0 || by1 < by0) continue;
        int bw = bx1 - bx0 + 3, bh = by1 - by0 + 3; /* the copy: the box and a pixel around */
        const uint8_t *copy = frame_box_copy(h, out, bx0 - 1, by0 - 1, bw, bh);
        if (!copy) return; /* only a softening: the frame stands without it */
        for (int y = by0; y <= by1; y++)
            for (int x = bx0; x <= bx1; x++) {
                float d, at, below;
                margin_nearest((const float(*)[2])line, h->lash_up[e], (float)x, (float)y, &d, &at, &below);
                if (d >= LID_EDGE_SOFT) continue;
                float w = k * (1 - d / LID_EDGE_SOFT);
                const uint8_t *c = copy + ((size_t)(y - by0 + 1) * bw + (x - bx0 + 1)) * 3;
                uint8_t *o = out->data + ((size_t)y * out->width + x) * 3;
                for (int ch = 0; ch < 3; ch++) {
                    int sum = 0;
                    for (int j = -1; j <= 1; j++)
                        for (int i = -1; i <= 1; i++) sum += c[(j * bw + i) * 3 + ch];
                    float v = c[ch] + w * (sum / 9.0f - c[ch]);
                    o[ch] = (uint8_t)(v + 0.5f);
                }
            }
    }
}

/* A shut lid is the curved skin over the eyeball: darker towards its lash line and its
 * corners, where it turns away (measured on lp_d3's blinks, dlib's points: 0.05-0.2 eye
 * widths above the lash line the corners read 0.66-0.90 of the lid's middle, mean 0.8; just
 * over the lashes the lid is darker than a third of an eye width up).  The unfolded lid is
 * a smooth fill, flat: each shutting eye's lid, above its posed upper margin, is darkened by
 * lid_unfold times LID_SHADE_CORNER towards the corners (over LID_SHADE_REACH eye widths)
 * and LID_SHADE_LASH towards the margin (over LID_SHADE_NEAR), both fading smoothly. */
#define LID_SHADE_CORNER 0.38f
#define LID_SHADE_LASH 0.3f
#define LID_SHADE_REACH 0.35f
#define LID_SHADE_NEAR 0.15f
static void lids_shade(head3d *h, const head3d_frame *f, vv_image *out) {
    for (int e = 0; e < 2; e++) {
        float open = f->eye_openness[e];
        open = isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1;
        float k = lid_unfold(open);
        if (!(k > 0)) continue;
        const int *upper = face_mesh_lid_upper[e];
        float line[FACE_MESH_LID_POINTS][2], along[FACE_MESH_LID_POINTS], x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
            line[i][0] = h->posed[upper[i]][0];
            line[i][1] = h->posed[upper[i]][1];
            along[i] = i ? along[i - 1] + hypotf(line[i][0] - line[i - 1][0], line[i][1] - line[i - 1][1]) : 0;
            x0 = fminf(x0, line[i][0]), x1 = fmaxf(x1, line[i][0]), y0 = fminf(y0, line[i][1]), y1 = fmaxf(y1, line[i][1]);
        }
        float length = along[FACE_MESH_LID_POINTS - 1], width = hypotf(line[FACE_MESH_LID_POINTS - 1][0] - line[0][0],
                                                                     line[FACE_MESH_LID_POINTS - 1][1] - line[0][1]);
        if (!(length > 1) || !(width > 1)) continue;
        float reach = LID_SHADE_REACH * width, near = LID_SHADE_NEAR * width;
        int bx0 = (int)fmaxf(floorf(x0 - reach), 0), by0 = (int)fmaxf(floorf(y0 - reach), 0);
        int bx1 = (int)fminf(ceilf(x1 + reach), (float)out->width - 1), by1 = (int)fminf(ceilf(y1 + 1), (float)out->height - 1);
        for (int x = bx0; x <= bx1; x++) {
            /* the margin's lowest point at this column (its nearer end beyond it): the pixels
             * more than a pixel and a half below it are under the lid, left as they are */
            float low = -INFINITY;
            for (int i = 0; i + 1 < FACE_MESH_LID_POINTS; i++) {
                float ax = line[i][0], bx = line[i + 1][0], lo = fminf(ax, bx), hi = fmaxf(ax, bx);
                if (x >= lo && x <= hi) {
                    float t = hi > lo ? (x - ax) / (bx - ax) : 0;
                    low = fmaxf(low, line[i][1] + t * (line[i + 1][1] - line[i][1]));
                }
            }
            if (low == -INFINITY) low = fmaxf(line[0][1], line[FACE_MESH_LID_POINTS - 1][1]);
            int ylast = (int)fminf((float)by1, ceilf(low + 1.5f));
            for (int y = by0; y <= ylast; y++) {
                float best, at, below;
                int seg = margin_nearest((const float(*)[2])line, h->lash_up[e], (float)x, (float)y, &best, &at, &below);
                float lid = 0.5f - below; /* the lid side only (1 a pixel above the margin): the lashes and below stay */
                if (best >= reach || !(lid > 0)) continue;
                lid = lid > 1 ? 1 : lid;
                float sa = (along[seg] + at * (along[seg + 1] - along[seg])) / length, taper = 4 * sa * (1 - sa);
                float fr = 1 - best / reach, fn = best < near ? 1 - best / near : 0;
                float shade = k * lid * (LID_SHADE_CORNER * (1 - taper) * fr * fr + LID_SHADE_LASH * fn * fn);
                uint8_t *o = out->data + ((size_t)y * out->width + x) * 3;
                for (int c = 0; c < 3; c++) o[c] = (uint8_t)(o[c] * (1 - shade) + 0.5f);
            }
        }
    }
}

/* A shutting eye's lash line (see LASH_LINE): along the posed upper margin, hanging from
 * it, as thick as the portrait's lashes were deep (times LASH_LINE, by the eye's scale
 * now), thinning to a third at the corners, anti-aliased, by lid_unfold. */
static void lids_lash(head3d *h, const head3d_frame *f, vv_image *out) {
    for (int e = 0; e < 2; e++) {
        float open = f->eye_openness[e];
        open = isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1;
        float k = lid_unfold(open) * LASH_ALPHA;
        if (!(k > 0)) continue;
        const int *upper = face_mesh_lid_upper[e];
        float line[FACE_MESH_LID_POINTS][2], along[FACE_MESH_LID_POINTS], x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
        float scale = hypotf(h->posed[upper[FACE_MESH_LID_POINTS - 1]][0] - h->posed[upper[0]][0],
                             h->posed[upper[FACE_MESH_LID_POINTS - 1]][1] - h->posed[upper[0]][1]) /
                      fmaxf(hypotf(h->src[upper[FACE_MESH_LID_POINTS - 1]][0] - h->src[upper[0]][0],
                                   h->src[upper[FACE_MESH_LID_POINTS - 1]][1] - h->src[upper[0]][1]), 1e-3f);
        float widest = 0;
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
            line[i][0] = h->posed[upper[i]][0];
            line[i][1] = h->posed[upper[i]][1];
            along[i] = i ? along[i - 1] + hypotf(line[i][0] - line[i - 1][0], line[i][1] - line[i - 1][1]) : 0;
            widest = fmaxf(widest, LASH_LINE * scale * h->lash_depth[e][i]);
            x0 = fminf(x0, line[i][0]), x1 = fmaxf(x1, line[i][0]), y0 = fminf(y0, line[i][1]), y1 = fmaxf(y1, line[i][1]);
        }
        float length = along[FACE_MESH_LID_POINTS - 1];
        if (!(length > 1) || !(widest > 0)) continue;
        int bx0 = (int)fmaxf(floorf(x0 - 2), 0), by0 = (int)fmaxf(floorf(y0 - 2), 0);
        int bx1 = (int)fminf(ceilf(x1 + 2), (float)out->width - 1), by1 = (int)fminf(ceilf(y1 + widest + 2), (float)out->height - 1);
        for (int y = by0; y <= by1; y++)
            for (int x = bx0; x <= bx1; x++) {
                /* the nearest point of the margin: how far along it, how thick there */
                float best, at, below;
                int seg = margin_nearest((const float(*)[2])line, h->lash_up[e], (float)x, (float)y, &best, &at, &below);
                float s = (along[seg] + at * (along[seg + 1] - along[seg])) / length;
                float thick = LASH_LINE * scale * (h->lash_depth[e][seg] + at * (h->lash_depth[e][seg + 1] - h->lash_depth[e][seg]));
                float taper = 4 * s * (1 - s); /* 1 mid-eye, 0 at the corners */
                thick = fmaxf(thick * (0.33f + 0.67f * taper), 0.6f);
                /* a band [0, thick] below the margin, its edges a pixel soft */
                float cover = fminf(below + 0.5f, thick + 0.5f - below);
                cover = cover < 0 ? 0 : cover > 1 ? 1 : cover;
                if (best > thick + 1) cover = 0;
                if (!(cover > 0)) continue;
                float a = k * cover * (0.5f + 0.5f * taper);
                uint8_t *o = out->data + ((size_t)y * out->width + x) * 3;
                for (int c = 0; c < 3; c++) o[c] = (uint8_t)(o[c] + a * (h->lash_colour[e][c] - o[c]) + 0.5f);
            }
    }
}

/* A painted-out pixel I over its plate P: the least alpha a with which some colour F in
 * 0..255 gives I = a F + (1 - a) P, per channel, the largest of the three.  At the rim (see
 * plate_rim_unknown) the hair a pixel holds then moves with the head; at the matte's edge a
 * matte too low for the plate no longer clips F; at rest I comes back either way. */
static int least_alpha(const uint8_t *image, const uint8_t *plate) {
    int most = 0;
    for (int c = 0; c < 3; c++) {
        int i = image[c], p = plate[c];
        /* F = 0 below the plate, 255 above: a = (p - i) / p or (i - p) / (255 - p), rounded up */
        int a = i < p ? ((p - i) * 255 + p - 1) / p : i > p ? ((i - p) * 255 + (255 - p) - 1) / (255 - p) : 0;
        most = a > most ? a : most;
    }
    return most > 255 ? 255 : most;
}

/* The lines of a frame drawn round the picture (a scan's white border): up to FRAME_LINES
 * rows or columns from each side, each of one colour (every channel within FRAME_FLAT
 * levels along it) and apart from the next one in by FRAME_APART levels on average.  Their
 * known background pixels are cleared in known; the returned mask (NULL: none, or no
 * memory: the fill then takes them as before) marks those to set back; found: how many
 * on each side (the render samples the picture inside them and puts them back). */
#define FRAME_LINES 4
#define FRAME_FLAT 16
#define FRAME_APART 24.0
static bool line_flat(const vv_image *im, int index, bool row, uint8_t mean[3]) {
    int n = row ? im->width : im->height, lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0};
    long sum[3] = {0, 0, 0};
    for (int k = 0; k < n; k++) {
        const uint8_t *p = im->data + ((size_t)(row ? index : k) * im->width + (row ? k : index)) * 3;
        for (int c = 0; c < 3; c++) {
            lo[c] = p[c] < lo[c] ? p[c] : lo[c];
            hi[c] = p[c] > hi[c] ? p[c] : hi[c];
            sum[c] += p[c];
        }
    }
    for (int c = 0; c < 3; c++) mean[c] = (uint8_t)(sum[c] / n);
    return hi[0] - lo[0] <= FRAME_FLAT && hi[1] - lo[1] <= FRAME_FLAT && hi[2] - lo[2] <= FRAME_FLAT;
}

static double line_apart(const vv_image *im, int index, bool row, const uint8_t mean[3]) {
    int n = row ? im->width : im->height;
    double sum = 0;
    for (int k = 0; k < n; k++) {
        const uint8_t *p = im->data + ((size_t)(row ? index : k) * im->width + (row ? k : index)) * 3;
        sum += (abs(p[0] - mean[0]) + abs(p[1] - mean[1]) + abs(p[2] - mean[2])) / 3.0;
    }
    return sum / n;
}

static uint8_t *frame_lines(const vv_image *source, uint8_t *known, int found[4]) {
    int w = source->width, hh = source->height, depth[4] = {0, 0, 0, 0};
    for (int side = 0; side < 4; side++) { /* top, bottom, left, right */
        bool row = side < 2;
        int n = row ? hh : w;
        for (int k = 0; k < FRAME_LINES && k + 1 < n / 2; k++) {
            int at = side % 2 ? n - 1 - k : k, next = side % 2 ? at - 1 : at + 1;
            uint8_t mean[3];
            if (!line_flat(source, at, row, mean)) break;
            if (line_apart(source, next, row, mean) >= FRAME_APART) { depth[side] = k + 1; break; }
        }
    }
    memcpy(found, depth, sizeof depth);
    if (!depth[0] && !depth[1] && !depth[2] && !depth[3]) return NULL;
    uint8_t *framed = calloc((size_t)w * hh, 1);
    if (!framed) return NULL;
    for (int y = 0; y < hh; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (known[i] && (y < depth[0] || y >= hh - depth[1] || x < depth[2] || x >= w - depth[3])) {
                framed[i] = 1;
                known[i] = 0;
            }
        }
    return framed;
}

/* The plate under the matte's edge, from the edge itself.  The patch plate continues the
 * background from around the person, a guess: where it guesses wrong (a flag's red
 * continued behind the top of the tpsmm portrait's hair, where the wall was grey), the edge
 * de-mixed against it, F = (I - (1 - a) P) / a, takes the difference, scaled by (1 - a) / a:
 * a cyan and white rim along the hair, shown once the head moves off its own background.
 * The edge's own pixels say what lies behind them where they are mostly background
 * (a <= EDGE_SEEN): B = (I - a N) / (1 - a), N the person's colour nearby (the opaque
 * person's pixels filled smoothly into the edge).  Those and the background's own pixels,
 * filled smoothly, give the plate over the edge (a < OPAQUE) and, fading out over
 * EDGE_REACH eye distances, a little way inside the person, where they differ from the
 * patch plate by EDGE_AGREE levels or more (fully at twice that: a smaller difference is as
 * likely the strands' own colour, and taking it drew the hair's outline into the plate as a
 * ghost on lp_s3 and Grace Hopper).  Only runs of such pixels that reach the known
 * background: an island inside the hole is a few mostly-background pixels in a strip the
 * matte counts as person (the tpsmm portrait's red flag between ear and collar, filled white
 * by the patches), and painted back it was a red dot standing beside the moved head.  The
 * edge is then de-mixed against that plate (head3d_new), so at rest a F + (1 - a) P is still I. */
#define EDGE_SEEN 64 /* half (128) took hair de-mixed against a wrong N: dark specks in the plate */
#define EDGE_AGREE 50.0f
#define EDGE_REACH 0.15f
static inline uint8_t blend255(int p, int q, int a);

/* Zeroes each 8-connected run of nonzero weight that touches no known pixel (queue: room
 * for w * h pixel indices; seen: w * h zeroes). */
static void drop_islands(uint8_t *weight, const uint8_t *known, int w, int hh, size_t *queue, uint8_t *seen) {
    size_t pixels = (size_t)w * hh;
    for (size_t start = 0; start < pixels; start++) {
        if (!weight[start] || seen[start]) continue;
        size_t n = 0, head = 0;
        bool reaches = false;
        queue[n++] = start;
        seen[start] = 1;
        while (head < n) {
            size_t i = queue[head++];
            int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int u = x + dx, v = y + dy;
                    if (u < 0 || v < 0 || u >= w || v >= hh) continue;
                    size_t j = (size_t)v * w + u;
                    reaches = reaches || known[j];
                    if (weight[j] && !seen[j]) {
                        seen[j] = 1;
                        queue[n++] = j;
                    }
                }
        }
        for (size_t k = 0; !reaches && k < n; k++) weight[queue[k]] = 0;
    }
}

static vv_status plate_edge(head3d *h, const vv_image *source, const uint8_t *matte, const uint8_t *known) {
    int w = source->width, hh = source->height;
    size_t pixels = (size_t)w * hh, person = 0, edge = 0;
    uint8_t *mask = malloc(pixels), *weight = malloc(pixels);
    int32_t (*nearest)[2] = malloc(pixels * sizeof *nearest);
    size_t *queue = malloc(pixels * sizeof *queue);
    vv_image near = {0}, behind = {0};
    vv_status s = mask && weight && nearest && queue ? image_copy(&near, source) : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    if (s == VV_OK) s = image_copy(&behind, source);
    for (size_t i = 0; s == VV_OK && i < pixels; i++) {
        mask[i] = matte[i] >= OPAQUE;
        person += mask[i];
        edge += !known[i] && matte[i] < OPAQUE;
    }
    if (s == VV_OK && person && edge) s = image_fill_holes(&near, mask, h->params.threads);
    if (s == VV_OK && person && edge) {
        /* what lies behind: the background's pixels, and the edge's where mostly background */
        for (size_t i = 0; i < pixels; i++) {
            int a = matte[i];
            mask[i] = known[i];
            if (known[i] || a >= OPAQUE || a > EDGE_SEEN) continue;
            const uint8_t *in = source->data + i * 3, *n = near.data + i * 3;
            float b[3];
            bool fits = true;
            for (int c = 0; c < 3; c++) {
                b[c] = ((float)in[c] * 255 - (float)a * n[c]) / (float)(255 - a);
                fits = fits && b[c] > -8 && b[c] < 263;
            }
            if (!fits) continue;
            for (int c = 0; c < 3; c++) behind.data[i * 3 + c] = (uint8_t)(b[c] < 0 ? 0 : b[c] > 255 ? 255 : b[c] + 0.5f);
            mask[i] = 1;
        }
        s = image_fill_holes(&behind, mask, h->params.threads);
    }
    if (s == VV_OK && person && edge) {
        /* the plate: that over the edge, fading into the patch plate inside the person */
        for (size_t i = 0; i < pixels; i++) mask[i] = !known[i] && matte[i] < OPAQUE;
        image_nearest_known(mask, w, hh, nearest);
        float reach = fmaxf(2, EDGE_REACH * h->eye_distance);
        for (size_t i = 0; i < pixels; i++) {
            weight[i] = 0;
            if (known[i] || nearest[i][0] < 0) continue;
            int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
            float d = hypotf((float)(nearest[i][0] - x), (float)(nearest[i][1] - y)), k = 1 - d / reach;
            if (!(k > 0)) continue;
            /* only where the edge says the patch plate is wrong: where they agree, its grain stays */
            const uint8_t *b = behind.data + i * 3, *q = h->plate.data + i * 3;
            float apart = fmaxf(fabsf((float)b[0] - q[0]), fmaxf(fabsf((float)b[1] - q[1]), fabsf((float)b[2] - q[2])));
            k *= fminf(1, fmaxf(0, (apart - EDGE_AGREE) / EDGE_AGREE));
            weight[i] = (uint8_t)lroundf(255 * fmaxf(0, k));
        }
        memset(mask, 0, pixels);
        drop_islands(weight, known, w, hh, queue, mask);
        for (size_t i = 0; i < pixels; i++)
            for (int c = 0; weight[i] && c < 3; c++) h->plate.data[i * 3 + c] = blend255(behind.data[i * 3 + c], h->plate.data[i * 3 + c], weight[i]);
    }
    image_free(&near);
    image_free(&behind);
    free(nearest);
    free(queue);
    free(weight);
    free(mask);
    return s;
}

/* The background pixels within PLATE_RIM of the person (scaled with the portrait's larger
 * side, per 256 pixels) are painted out with the person: the matte's edge leaves some hair
 * and skin in them, which the plate kept as a dark dotted outline of the head at rest,
 * shown wherever the head moved away.  What they hold of the person moves with it instead
 * (least_alpha). */
#define PLATE_RIM 2
static vv_status plate_rim_unknown(uint8_t *known, int w, int h) {
    int larger = w > h ? w : h, r = (PLATE_RIM * larger + 128) / 256;
    if (r < 1) r = 1;
    int *sum = malloc((size_t)(larger + 1) * sizeof *sum);
    uint8_t *near = malloc((size_t)w * h);
    if (!sum || !near) {
        free(sum);
        free(near);
        return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory for a %dx%d matte", w, h);
    }
    /* a box dilation of the person (not known), rows then columns, by prefix sums */
    for (int y = 0; y < h; y++) {
        const uint8_t *k = known + (size_t)y * w;
        sum[0] = 0;
        for (int x = 0; x < w; x++) sum[x + 1] = sum[x] + !k[x];
        for (int x = 0; x < w; x++) {
            int a = x - r < 0 ? 0 : x - r, b = x + r + 1 > w ? w : x + r + 1;
            near[(size_t)y * w + x] = sum[b] > sum[a];
        }
    }
    for (int x = 0; x < w; x++) {
        sum[0] = 0;
        for (int y = 0; y < h; y++) sum[y + 1] = sum[y] + near[(size_t)y * w + x];
        for (int y = 0; y < h; y++) {
            int a = y - r < 0 ? 0 : y - r, b = y + r + 1 > h ? h : y + r + 1;
            if (sum[b] > sum[a]) known[(size_t)y * w + x] = 0;
        }
    }
    free(sum);
    free(near);
    return VV_OK;
}

/* Beside an outline that is not folded, the strip beyond it (hair, ears, background) keeps
 * its own texture as the face turns; a far cheek taking its twin's texture right up to that
 * outline drew it as a hard curved seam from temple to jaw (a frontal photo turned 25
 * degrees: lit skin against the shaded band beyond), and the twins of the outline's own
 * vertices lie on the near outline, in the ear and hair; the shaded side of his nose took
 * the lit one's, a pale flat patch.  A frontal portrait (yaw up to TWIN_FRONTAL degrees)
 * shows its far side well enough: it takes no twin (what a turn stretches too far is
 * painted over instead: stretch_fill).  From there to TWIN_TURNED degrees the twins come
 * in, and their share fades in over TWIN_REACH rings of the face's triangulation from an
 * outline that is not folded, less and less; folded outlines keep theirs (the side of the
 * head beyond them takes its twin or is painted over), and so do three-quarter portraits,
 * whose far outline is their silhouette: without the twin its edge came back inside the
 * turned face as a second contour. */
#define TWIN_REACH 3
#define TWIN_BRIGHTER 25.0f /* levels: a twin this much brighter fades out, gone at twice */
#define FACE_MESH_NOSE_BRIDGE 6 /* MediaPipe's vertex on the nose's bridge */
#define SIDE_APART 30.0 /* levels: a side triangle takes no twin that differs more (head3d_new) */
#define TWIN_FRONTAL 15.0f
#define TWIN_TURNED 25.0f
/* A face vertex that a turn shows STRETCH_FROM .. STRETCH_FULL times wider than the
 * portrait did (its normal's depth component, now over then) has next to no texture of its
 * own: a band a few pixels wide drawn as horizontal streaks, a torn patch at a frontal
 * face's far cheek.  Where its twin does not stand in, it is painted over from around
 * (stretch_fill), in proportion. */
#define STRETCH_FROM 2.5f
#define STRETCH_FULL 5.0f
/* On a frontal portrait (no twin to stand in) a flank that a turn about the vertical brings
 * round (its rest normal pointing sideways, not up or down) is painted over sooner, from
 * FLANK_FROM .. FLANK_FULL times wider: young Einstein's shaded nose side, a few pixels wide
 * at rest, drew a dark band down the nose at +25 degrees, and his far cheek horizontal
 * streaks.  Only as far as the turn is a yaw: a pitch that widens them less was read by
 * dlib's points as less pitch (the Mona Lisa's -12 degrees measured -8.2 against the test's bound of 8.4 then). */
#define FLANK_FROM 1.6f
#define FLANK_FULL 2.4f
static void twin_reach_build(head3d *h, const bool *folded, float yaw) {
    int ring[FACE_VERTICES];
    for (int v = 0; v < FACE_VERTICES; v++) ring[v] = TWIN_REACH;
    for (int i = 0; i < topology.boundary_count; i++)
        if (!folded[topology.boundary[i]]) ring[topology.boundary[i]] = 0;
    for (int r = 0; r + 1 < TWIN_REACH; r++) /* breadth first, one ring a pass */
        for (int v = 0; v < FACE_VERTICES; v++) {
            if (ring[v] != r) continue;
            for (int k = 0; k < topology.neighbour_count[v]; k++) {
                int u = topology.neighbours[v][k];
                if (ring[u] > r + 1) ring[u] = r + 1;
            }
        }
    float frontal = (TWIN_TURNED - fabsf(yaw)) / (TWIN_TURNED - TWIN_FRONTAL);
    frontal = frontal < 0 ? 0 : frontal > 1 ? 1 : frontal;
    for (int v = 0; v < FACE_VERTICES; v++) h->twin_reach[v] = (1 - frontal) * (1 - frontal * (1 - (float)ring[v] / TWIN_REACH));
}

/* How far from p along unit (dx, dy) the face's own triangles (folds included) still
 * cover the portrait at rest: 0 when p is on the face's edge as it is seen. */
static float face_exit_distance(const head3d *h, float dx, float dy, const float *p) {
    float limit = h->eye_distance, step = 0.5f, d = 0;
    for (; d < limit; d += step) {
        float x = p[0] + d * dx, y = p[1] + d * dy;
        bool inside = false;
        for (int t = 0; t < h->face_end && !inside; t++) {
            const float *a = h->src[h->triangles[t][0]], *b = h->src[h->triangles[t][1]], *c = h->src[h->triangles[t][2]];
            if (x < fminf(a[0], fminf(b[0], c[0])) || x > fmaxf(a[0], fmaxf(b[0], c[0])) ||
                y < fminf(a[1], fminf(b[1], c[1])) || y > fmaxf(a[1], fmaxf(b[1], c[1])))
                continue;
            float w[3];
            inside = barycentric(a, b, c, x, y, w) && w[0] >= 0 && w[1] >= 0 && w[2] >= 0;
        }
        if (!inside) break;
    }
    return d;
}

/* The portrait's upper lashes of eye e: along the normal of the eye's axis, upwards from
 * each inner upper-lid vertex, luminance over 0.3 eye widths; the lashes are the dark run
 * from the margin up to where it has climbed 70 % of the way from its darkest (within 0.12
 * widths) to the skin's level (the median over 0.15-0.3 widths).  Without that much
 * contrast (soft painted lids) the run is taken as 0.03 widths.  Depths are clamped to
 * 0.02-0.15 widths and each taken as the median of it and its neighbours. */
#define LASH_SAMPLES 48
static void lashes_measure(head3d *h, const float mesh[][3], int e) {
    float w = h->eye_width[e], ux = h->eye_axis[e][1], uy = -h->eye_axis[e][0];
    h->lash_up[e][0] = ux;
    h->lash_up[e][1] = uy;
    float depth[FACE_MESH_LID_POINTS], colour[3] = {0, 0, 0}, weight = 0;
    for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
        depth[i] = 0.03f * w;
        if (i == 0 || i == FACE_MESH_LID_POINTS - 1) continue;
        const float *m = mesh[face_mesh_lid_upper[e][i]];
        float lum[LASH_SAMPLES], step = 0.3f * w / (LASH_SAMPLES - 1), rgb[LASH_SAMPLES][3];
        for (int k = 0; k < LASH_SAMPLES; k++) {
            image_sample_rgb(&h->source, m[0] + ux * step * k, m[1] + uy * step * k, rgb[k]);
            lum[k] = 0.299f * rgb[k][0] + 0.587f * rgb[k][1] + 0.114f * rgb[k][2];
        }
        float upper[LASH_SAMPLES];
        int n = 0, dark_at = 0;
        for (int k = LASH_SAMPLES / 2; k < LASH_SAMPLES; k++) upper[n++] = lum[k];
        for (int a = 1; a < n; a++) /* insertion sort: a median of 24 */
            for (int b = a; b > 0 && upper[b - 1] > upper[b]; b--) { float t = upper[b]; upper[b] = upper[b - 1]; upper[b - 1] = t; }
        float skin = upper[n / 2];
        for (int k = 1; k * step <= 0.12f * w && k < LASH_SAMPLES; k++)
            if (lum[k] < lum[dark_at]) dark_at = k;
        float dark = lum[dark_at];
        if (skin - dark < 12) continue;
        int k = dark_at;
        while (k + 1 < LASH_SAMPLES && lum[k] < dark + 0.7f * (skin - dark)) k++;
        depth[i] = k * step;
        for (int j = 0; j <= dark_at + 1 && j < LASH_SAMPLES; j++) {
            float d = (skin - lum[j]) / (skin - dark); /* the darker, the more it counts */
            if (d <= 0) continue;
            for (int c = 0; c < 3; c++) colour[c] += d * rgb[j][c];
            weight += d;
        }
    }
    for (int i = 1; i < FACE_MESH_LID_POINTS - 1; i++) {
        float a = depth[i - 1], b = depth[i], c = depth[i + 1];
        float median = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
        median = median < 0.02f * w ? 0.02f * w : median > 0.15f * w ? 0.15f * w : median;
        h->lash_depth[e][i] = median;
    }
    h->lash_depth[e][0] = h->lash_depth[e][FACE_MESH_LID_POINTS - 1] = 0;
    /* no dark run found: the lid's own darkest tone, the sclera's colour darkened */
    for (int c = 0; c < 3; c++) h->lash_colour[e][c] = weight > 0 ? colour[c] / weight : 0.35f * h->sclera[e][c];
}


/* Eye e's white without its iris (head3d_new): a box of the portrait round the eye's opening
 * (poly) with the iris's disk, out to IRIS_CLEAR times the model's rim and a pixel more,
 * painted smoothly (push-pull) from the brighter part of the opening's pixels around it (the
 * white beside it, not the lashes; its mean where the opening shows too little of it).  A glance uncovers this where the iris was: painted
 * from the white's mean colour and what lay a shift away, it left a grey arc of the old iris
 * beside the moved one on a dark-eyed driver and on small painted eyes. */
#define WHITE_SHARE 0.75f /* the brighter three quarters of the opening beside the iris: its white */
static vv_status eye_clean_build(head3d *h, const vv_image *source, int e, const float (*poly)[2], int n) {
    const float *c = h->iris_centre[e];
    float r = IRIS_CLEAR * h->iris_radius[e] + 1, x0 = c[0] - r, x1 = c[0] + r, y0 = c[1] - r, y1 = c[1] + r;
    for (int i = 0; i < n; i++) {
        x0 = fminf(x0, poly[i][0]); x1 = fmaxf(x1, poly[i][0]);
        y0 = fminf(y0, poly[i][1]); y1 = fmaxf(y1, poly[i][1]);
    }
    /* clamped as floats first: a finite mesh may still lie far outside */
    int bx0 = (int)fminf(fmaxf(floorf(x0) - 2, 0), (float)source->width - 1), by0 = (int)fminf(fmaxf(floorf(y0) - 2, 0), (float)source->height - 1);
    int bx1 = (int)fminf(fmaxf(ceilf(x1) + 2, 0), (float)source->width - 1), by1 = (int)fminf(fmaxf(ceilf(y1) + 2, 0), (float)source->height - 1);
    int w = bx1 - bx0 + 1, hh = by1 - by0 + 1;
    h->eye_clean_origin[e][0] = bx0;
    h->eye_clean_origin[e][1] = by0;
    vv_status s = image_create(&h->eye_clean[e], w, hh, 3);
    uint8_t *known = s == VV_OK ? malloc((size_t)w * hh) : NULL;
    if (s == VV_OK && !known) s = vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    if (s != VV_OK) return s;
    /* the opening's pixels beside the iris, and of those the brighter part (the rest is lash,
     * lid margin and the corners' shade, which drew a grey ring into a white eye) */
    int count = 0, histogram[256] = {0};
    for (int y = 0; y < hh; y++) {
        memcpy(h->eye_clean[e].data + (size_t)y * w * 3, source->data + ((size_t)(by0 + y) * source->width + bx0) * 3, (size_t)w * 3);
        for (int x = 0; x < w; x++) {
            float px = (float)(bx0 + x), py = (float)(by0 + y);
            bool beside = point_in_polygon(poly, n, px, py) && hypotf(px - c[0], py - c[1]) >= r;
            const uint8_t *q = h->eye_clean[e].data + ((size_t)y * w + x) * 3;
            int luma = (77 * q[0] + 150 * q[1] + 29 * q[2]) >> 8;
            known[(size_t)y * w + x] = beside ? (uint8_t)(luma + 1) : 0; /* 0: not beside; else luma + 1 for now */
            if (beside) {
                histogram[luma]++;
                count++;
            }
        }
    }
    int least = 0;
    for (int v = 255, seen = 0; v >= 0; v--) {
        seen += histogram[v];
        if (seen >= WHITE_SHARE * count) {
            least = v;
            break;
        }
    }
    count = 0;
    for (size_t i = 0; i < (size_t)w * hh; i++) {
        known[i] = known[i] > least; /* luma + 1 > least: luma >= least */
        count += known[i];
    }
    if (count >= 6) {
        s = image_fill_holes(&h->eye_clean[e], known, 1);
    } else { /* too little white to paint from: its mean colour */
        for (size_t i = 0; i < (size_t)w * hh; i++)
            for (int k = 0; k < 3; k++) h->eye_clean[e].data[i * 3 + k] = (uint8_t)(h->sclera[e][k] + 0.5f);
    }
    free(known);
    return s;
}

static const int dlib_eye[2][6] = {{36, 37, 38, 39, 40, 41}, {42, 43, 44, 45, 46, 47}};

vv_status head3d_new(head3d **out, const vv_image *source, const float landmarks[68][2], const float mesh[][3],
                     const uint8_t *matte, const head3d_params *params) {
    *out = NULL;
    if (!source || !source->data || source->channels != 3 || source->width < 2 || source->height < 2 || !mesh)
        return vv_fail(VV_ERR_INVALID_ARGUMENT, "head3d: need an RGB portrait and its mesh");
    pthread_once(&topology.once, topology_init);
    head3d *h = calloc(1, sizeof *h);
    if (!h) return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    h->params = params ? *params : head3d_default_params();
    h->width = source->width & ~1;
    h->height = source->height & ~1;
    vv_status s = image_copy(&h->source, source);

    size_t pixels = (size_t)source->width * source->height;
    int max_tris = face_topology_triangle_count + 2 * RING_COUNT * OVAL + 2 * (OVAL + FRAME_POINTS + BODY_POINTS) + 128 +
                   POCKET_SPAN * POCKET_SPAN * FACE_MESH_OVAL_POINTS; /* + the pockets' fans */
    h->src = calloc(VERTEX_COUNT, sizeof *h->src);
    h->texcoord = calloc(VERTEX_COUNT, sizeof *h->texcoord);
    h->texcoord_rest = calloc(VERTEX_COUNT, sizeof *h->texcoord_rest);
    h->normal = calloc(FACE_VERTICES, sizeof *h->normal);
    h->texcoord_mirror = calloc(VERTEX_COUNT, sizeof *h->texcoord_mirror);
    h->texcoord_share = calloc(VERTEX_COUNT, sizeof *h->texcoord_share);
    h->texcoord_stretch = calloc(VERTEX_COUNT, sizeof *h->texcoord_stretch);
    h->texcoord_firm = calloc(VERTEX_COUNT, sizeof *h->texcoord_firm);
    h->weight = calloc(VERTEX_COUNT, sizeof *h->weight);
    h->posed = calloc(VERTEX_COUNT, sizeof *h->posed);
    h->triangles = calloc((size_t)max_tris, sizeof *h->triangles);
    h->layer = calloc((size_t)max_tris, 1);
    h->draw_layer = calloc((size_t)max_tris, 1);
    h->is_translucent = calloc((size_t)max_tris, sizeof *h->is_translucent);
    h->is_clear = calloc((size_t)max_tris, sizeof *h->is_clear);
    h->culls = calloc((size_t)max_tris, sizeof *h->culls);
    h->takes_twin = calloc((size_t)max_tris, sizeof *h->takes_twin);
    h->takes_fill = calloc((size_t)max_tris, sizeof *h->takes_fill);
    h->takes_firm = calloc((size_t)max_tris, sizeof *h->takes_firm);
    h->side_own = calloc((size_t)max_tris, sizeof *h->side_own);
    h->depth = malloc(pixels * sizeof *h->depth);
    h->coverage = malloc(pixels);
    h->raster_layer = malloc(pixels);
    h->footprint = calloc(pixels, 1);
    h->ring_radius = calloc(VERTEX_COUNT - FACE_VERTICES, sizeof *h->ring_radius);
    if (s == VV_OK && (!h->src || !h->texcoord || !h->texcoord_rest || !h->normal || !h->texcoord_mirror || !h->texcoord_share || !h->texcoord_stretch || !h->texcoord_firm || !h->weight || !h->posed || !h->triangles ||
                       !h->layer || !h->draw_layer || !h->is_translucent || !h->is_clear || !h->culls || !h->takes_twin || !h->takes_fill || !h->takes_firm || !h->side_own || !h->depth || !h->coverage ||
                       !h->raster_layer || !h->footprint || !h->ring_radius))
        s = vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory for a %dx%d portrait", source->width, source->height);
    if (s != VV_OK) {
        head3d_free(h);
        return s;
    }
    for (int v = 0; v < FACE_MESH_ALL; v++) /* the irises too: the gaze reads them */
        for (int k = 0; k < 3; k++)
            if (!isfinite(mesh[v][k])) {
                head3d_free(h);
                return vv_fail(VV_ERR_INVALID_ARGUMENT, "head3d: mesh point %d is not finite", v);
            }
    /* The source mesh in camera coordinates (depth towards the camera). */
    for (int v = 0; v < FACE_VERTICES; v++) {
        h->src[v][0] = mesh[v][0];
        h->src[v][1] = mesh[v][1];
        h->src[v][2] = -mesh[v][2] * DEPTH_SCALE;
    }
    for (int e = 0; e < 2; e++) {
        float cx = 0, cy = 0;
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
            cx += (h->src[face_mesh_lid_upper[e][i]][0] + h->src[face_mesh_lid_lower[e][i]][0]) / (2 * FACE_MESH_LID_POINTS);
            cy += (h->src[face_mesh_lid_upper[e][i]][1] + h->src[face_mesh_lid_lower[e][i]][1]) / (2 * FACE_MESH_LID_POINTS);
        }
        h->lid_centre[e][0] = cx;
        h->lid_centre[e][1] = cy;
    }
    face_mesh_to_landmarks68(mesh, h->source68);
    memcpy(h->dlib68, landmarks, sizeof h->dlib68);
    h->eye_distance = dist2(h->source68[36], h->source68[45]);
    if (!(h->eye_distance >= 40)) {
        float eye = h->eye_distance;
        head3d_free(h);
        return vv_fail(VV_ERR_NO_FACE, "the face is too small to animate in 3D (%.0f px between the eyes' outer corners; 40 needed)",
                       eye);
    }
    /* Gaze: the portrait's irises (mesh points 468.. with the iris model), the white of each
     * eye (the mean colour in the lids away from the iris; a lightened skin if too little
     * shows). */
    for (int e = 0; e < 2; e++) {
        int first = e ? FACE_MESH_IRIS_LEFT : FACE_MESH_IRIS_RIGHT;
        h->iris_centre[e][0] = mesh[first][0];
        h->iris_centre[e][1] = mesh[first][1];
        float r = 0;
        for (int k = 1; k < 5; k++) r += hypotf(mesh[first + k][0] - mesh[first][0], mesh[first + k][1] - mesh[first][1]) / 4;
        h->iris_radius[e] = r;
        const float *a = h->source68[e ? 42 : 36], *b = h->source68[e ? 45 : 39];
        h->eye_width[e] = hypotf(b[0] - a[0], b[1] - a[1]);
        h->eye_axis[e][0] = h->eye_width[e] > 0 ? (b[0] - a[0]) / h->eye_width[e] : 1;
        h->eye_axis[e][1] = h->eye_width[e] > 0 ? (b[1] - a[1]) / h->eye_width[e] : 0;
        h->iris_moved[e] = iris_edge(source, h->iris_centre[e], r, h->eye_axis[e]);
        float poly[2 * FACE_MESH_LID_POINTS][2], sum[3] = {0, 0, 0}, x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
        int n = 0, count = 0;
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) { poly[n][0] = mesh[face_mesh_lid_upper[e][i]][0]; poly[n++][1] = mesh[face_mesh_lid_upper[e][i]][1]; }
        for (int i = FACE_MESH_LID_POINTS - 2; i > 0; i--) { poly[n][0] = mesh[face_mesh_lid_lower[e][i]][0]; poly[n++][1] = mesh[face_mesh_lid_lower[e][i]][1]; }
        memcpy(h->eye_polygon[e], poly, sizeof h->eye_polygon[e]);
        for (int i = 0; i < n; i++) {
            x0 = fminf(x0, poly[i][0]); x1 = fmaxf(x1, poly[i][0]);
            y0 = fminf(y0, poly[i][1]); y1 = fmaxf(y1, poly[i][1]);
        }
        /* the box, one pixel past its far sides, in the image (clamped as floats first: a
         * finite mesh may still lie far outside) */
        int ix0 = (int)fminf(fmaxf(x0, 0), (float)source->width), iy0 = (int)fminf(fmaxf(y0, 0), (float)source->height);
        int ix1 = (int)fminf(fmaxf(x1, -2), (float)(source->width - 2)) + 1;
        int iy1 = (int)fminf(fmaxf(y1, -2), (float)(source->height - 2)) + 1;
        for (int y = iy0; y <= iy1; y++)
            for (int x = ix0; x <= ix1; x++) {
                if (!point_in_polygon((const float(*)[2])poly, n, (float)x, (float)y)) continue;
                if (hypotf(x - h->iris_centre[e][0], y - h->iris_centre[e][1]) < 1.5f * r) continue;
                const uint8_t *p = source->data + ((size_t)y * source->width + x) * 3;
                for (int c = 0; c < 3; c++) sum[c] += p[c];
                count++;
            }
        for (int c = 0; c < 3; c++) {
            float skin = source->data[((size_t)(int)fminf(fmaxf(h->source68[30][1], 0), source->height - 1) * source->width +
                                       (int)fminf(fmaxf(h->source68[30][0], 0), source->width - 1)) * 3 + c];
            h->sclera[e][c] = count >= 12 ? sum[c] / count : 0.6f * skin + 0.4f * 235;
        }
        if (s == VV_OK) s = eye_clean_build(h, source, e, (const float(*)[2])poly, n);
        lashes_measure(h, mesh, e);
    }
    if (s != VV_OK) {
        head3d_free(h);
        return s;
    }
    /* Canonical -> source similarity: the source's head pose in 3D. */
    rigid3d pose, inverse;
    if (!rigid3d_fit(face_canonical_mesh, (const float(*)[3])h->src, NULL, FACE_VERTICES, &pose)) {
        head3d_free(h);
        return vv_fail(VV_ERR_NO_FACE, "head3d: the face mesh is degenerate");
    }
    float yaw, pitch, roll;
    double rotation[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) rotation[i][j] = pose.rotation[i][j];
    head_pose_angles((const double(*)[3])rotation, &yaw, &pitch, &roll);
    if (fabsf(yaw) > MAX_YAW || fabsf(pitch) > MAX_YAW) {
        head3d_free(h);
        return vv_fail(VV_ERR_NO_FACE, "the face is turned too far to animate in 3D (yaw %.0f, pitch %.0f degrees; %.0f at most)",
                       yaw, pitch, MAX_YAW);
    }
    rigid3d_invert(&pose, &inverse);
    float (*frontal)[3] = calloc(FACE_VERTICES, sizeof *frontal);
    if (!frontal) {
        head3d_free(h);
        return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    }
    for (int v = 0; v < FACE_VERTICES; v++) rigid3d_apply(&inverse, h->src[v], frontal[v]);
    /* Rings beyond the face, laid out in the portrait itself so that at rest they lie
     * outside the face as it is seen (their texture is hair, ears, neck, background, never
     * the face): along each oval vertex's direction from the face's centre, from where that
     * ray leaves the face's outline (the convex hull of the projected mesh), outwards by
     * the oval's own frontal radius times (factor - 1), so the far side of a turned face
     * is not squeezed.  Depth: the first ring halfway between the face's edge and the
     * skull's centre depth, the others at the skull's centre depth (a head's outline
     * is its widest part, which a turn moves least). */
    float centre[2] = {0, 0};
    for (int i = 0; i < OVAL; i++) {
        centre[0] += frontal[face_mesh_face_oval[i]][0] / OVAL;
        centre[1] += frontal[face_mesh_face_oval[i]][1] / OVAL;
    }
    {
        float c3[3] = {centre[0], centre[1] + 0.25f, -1.3f};
        rigid3d_apply(&pose, c3, h->head_centre);
    }
    float centre_image[3];
    {
        float c3[3] = {centre[0], centre[1], 0};
        rigid3d_apply(&pose, c3, centre_image);
    }
    float (*hull)[2] = malloc(FACE_VERTICES * sizeof *hull);
    int hull_count = 0;
    s = hull ? convex_hull((const float(*)[3])h->src, FACE_VERTICES, hull, &hull_count) : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    for (int i = 0; s == VV_OK && i < OVAL; i++) {
        const float *o = frontal[face_mesh_face_oval[i]];
        float step[3] = {o[0] - centre[0], o[1] - centre[1], 0}, tip[3], base[3] = {centre[0], centre[1], 0};
        float frontal_radius = hypotf(step[0], step[1]) * pose.scale;
        float reach[3] = {centre[0] + step[0], centre[1] + step[1], 0};
        rigid3d_apply(&pose, reach, tip);
        rigid3d_apply(&pose, base, base);
        float dx = tip[0] - base[0], dy = tip[1] - base[1], len = hypotf(dx, dy);
        if (!(len > 1e-3f)) { dx = 0; dy = -1; len = 1; }
        dx /= len;
        dy /= len;
        float edge = ray_hull_distance((const float(*)[2])hull, hull_count, centre_image[0], centre_image[1], dx, dy);
        /* The skull in this direction: through the oval vertex, round to the skull centre's
         * depth at the outline (radius: the oval vertex's 3D distance from the centre). */
        const float *ov = h->src[face_mesh_face_oval[i]];
        float skull = sqrtf((ov[0] - h->head_centre[0]) * (ov[0] - h->head_centre[0]) +
                            (ov[1] - h->head_centre[1]) * (ov[1] - h->head_centre[1]) +
                            (ov[2] - h->head_centre[2]) * (ov[2] - h->head_centre[2]));
        for (int r = 0; r < RING_COUNT; r++) {
            int v = FACE_VERTICES + r * OVAL + i;
            float d = edge + (ring_factor[r] - 1) * frontal_radius;
            h->src[v][0] = centre_image[0] + dx * d;
            h->src[v][1] = centre_image[1] + dy * d;
            float off = hypotf(h->src[v][0] - h->head_centre[0], h->src[v][1] - h->head_centre[1]);
            float rise = skull * skull - off * off;
            h->src[v][2] = h->head_centre[2] + (rise > 0 ? sqrtf(rise) : 0);
            /* Motion weight: the head carries forehead, hair and ears; the neck less, the
             * last ring not at all.  below: 0 at the top of the head .. 1 under the chin. */
            float below = step[1] / sqrtf(step[0] * step[0] + step[1] * step[1] + 1e-12f);
            below = below < 0 ? 0 : below;
            float f0 = 1.6f - 0.55f * below, f1 = 3.3f - 1.3f * below; /* weight 1 up to f0, 0 from f1 */
            float wt = (f1 - ring_factor[r]) / (f1 - f0);
            h->weight[v] = r == RING_COUNT - 1 ? 0 : wt < 0 ? 0 : wt > 1 ? 1 : wt;
        }
    }
    free(hull);
    if (s != VV_OK) {
        free(frontal);
        head3d_free(h);
        return s;
    }
    for (int v = 0; v < FACE_VERTICES; v++) h->weight[v] = 1;
    /* The skull's centre (above: behind the face by 1.3 eye distances, a quarter below the
     * oval's middle): the outer rings keep their distance from it as the head turns (a
     * head's outline stays where it is when it turns; a flat ring of hair would shrink). */
    {
        for (int v = FACE_VERTICES; v < FRAME_FIRST; v++)
            h->ring_radius[v - FACE_VERTICES] = hypotf(h->src[v][0] - h->head_centre[0], h->src[v][1] - h->head_centre[1]);
    }
    /* The frame: the portrait's border, or beyond it where the rings reach further. */
    {
        float fx0 = -0.5f, fy0 = -0.5f, fx1 = (float)source->width - 0.5f, fy1 = (float)source->height - 0.5f;
        for (int v = FACE_VERTICES; v < FRAME_FIRST; v++) {
            fx0 = fminf(fx0, h->src[v][0] - 1); fx1 = fmaxf(fx1, h->src[v][0] + 1);
            fy0 = fminf(fy0, h->src[v][1] - 1); fy1 = fmaxf(fy1, h->src[v][1] + 1);
        }
        h->body_reach = 0.25f * fmaxf((float)source->width, (float)source->height);
        for (int side = 0; side < 4; side++)
            for (int i = 0; i < FRAME_SIDE; i++) {
                float t = (float)i / FRAME_SIDE, *p = h->src[FRAME_FIRST + side * FRAME_SIDE + i];
                p[0] = side == 0 ? fx0 + t * (fx1 - fx0) : side == 1 ? fx1 : side == 2 ? fx1 - t * (fx1 - fx0) : fx0;
                p[1] = side == 0 ? fy0 : side == 1 ? fy0 + t * (fy1 - fy0) : side == 2 ? fy1 : fy1 - t * (fy1 - fy0);
                p[2] = h->head_centre[2];
                h->weight[FRAME_FIRST + side * FRAME_SIDE + i] = 0;
            }
        /* The body points: outside the last ring and half a cell clear of its vertices;
         * flat and pinned to nothing, like the last ring and the frame. */
        float ring[OVAL][2], cell_x = (fx1 - fx0) / BODY_GRID, cell_y = (fy1 - fy0) / BODY_GRID;
        for (int i = 0; i < OVAL; i++) {
            ring[i][0] = h->src[FACE_VERTICES + (RING_COUNT - 1) * OVAL + i][0];
            ring[i][1] = h->src[FACE_VERTICES + (RING_COUNT - 1) * OVAL + i][1];
        }
        h->vertex_count = BODY_FIRST;
        for (int gy = 1; gy < BODY_GRID; gy++)
            for (int gx = 1; gx < BODY_GRID; gx++) {
                float x = fx0 + gx * cell_x, y = fy0 + gy * cell_y;
                bool keep = !point_in_polygon((const float(*)[2])ring, OVAL, x, y);
                for (int i = 0; keep && i < OVAL; i++)
                    keep = fabsf(ring[i][0] - x) > 0.5f * cell_x || fabsf(ring[i][1] - y) > 0.5f * cell_y;
                if (!keep) continue;
                float *p = h->src[h->vertex_count];
                p[0] = x;
                p[1] = y;
                p[2] = h->head_centre[2];
                h->weight[h->vertex_count++] = 0;
            }
    }
    for (int v = 0; v < h->vertex_count; v++) { h->texcoord[v][0] = h->src[v][0]; h->texcoord[v][1] = h->src[v][1]; }
    memcpy(h->texcoord_rest, h->texcoord, (size_t)h->vertex_count * sizeof *h->texcoord);
    for (int v = 0; v < h->vertex_count; v++) {
        int twin = v < FACE_VERTICES ? topology.mirror[v] : v;
        if (v >= FACE_VERTICES && v < FRAME_FIRST) { /* a ring's twin: the same ring, the mirrored oval vertex */
            int i = (v - FACE_VERTICES) % OVAL, ring = (v - FACE_VERTICES) / OVAL, o = topology.mirror[face_mesh_face_oval[i]];
            for (int j = 0; j < OVAL; j++)
                if (face_mesh_face_oval[j] == o) twin = FACE_VERTICES + ring * OVAL + j;
        }
        h->texcoord_mirror[v][0] = h->texcoord_rest[twin][0];
        h->texcoord_mirror[v][1] = h->texcoord_rest[twin][1];
    }
    /* A face vertex takes no more of its twin than the twin's light allows: a twin much
     * brighter than the vertex itself (the near side lit, the far side in shade) drew pale
     * patches and the near side's contour inside a turned face (La Velata: her twins read
     * 86 levels brighter on average; the Mona Lisa's and the Pearl's 23-59 darker). */
    for (int v = 0; v < FACE_VERTICES; v++) {
        float own = 0, twin = 0;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                float a[3], b[3];
                image_sample_rgb(source, h->texcoord_rest[v][0] + dx, h->texcoord_rest[v][1] + dy, a);
                image_sample_rgb(source, h->texcoord_mirror[v][0] + dx, h->texcoord_mirror[v][1] + dy, b);
                own += (0.299f * a[0] + 0.587f * a[1] + 0.114f * a[2]) / 9;
                twin += (0.299f * b[0] + 0.587f * b[1] + 0.114f * b[2]) / 9;
            }
        float gate = 1 - (twin - own - TWIN_BRIGHTER) / TWIN_BRIGHTER;
        h->twin_light[v] = gate < 0 ? 0 : gate > 1 ? 1 : gate;
    }
    s = image_create(&h->ramp, 256, 1, 3);
    for (int x = 0; s == VV_OK && x < 256; x++) h->ramp.data[x * 3] = h->ramp.data[x * 3 + 1] = h->ramp.data[x * 3 + 2] = (uint8_t)x;
    if (s == VV_OK) s = image_create(&h->ramp1, 256, 1, 1);
    for (int x = 0; s == VV_OK && x < 256; x++) h->ramp1.data[x] = (uint8_t)x;
    if (s == VV_OK) face_normals(h);
    if (s != VV_OK) {
        free(frontal);
        head3d_free(h);
        return s;
    }
    /* Triangles: the face's fixed topology, then strips between the rings, oriented in the
     * canonical frontal layout (front faces positive). */
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int t = 0; t < face_topology_triangle_count; t++) {
            const int *tri = face_topology_triangles[t];
            const float *a = h->src[tri[0]], *b = h->src[tri[1]], *c = h->src[tri[2]];
            float area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
            if ((area > 0) != (pass == 0)) continue;
            for (int k = 0; k < 3; k++) h->triangles[n][k] = tri[k];
            h->layer[n++] = (uint8_t)tri[3];
        }
        if (pass == 0) h->culled_count = n;
    }
    h->face_end = n;
    for (int t = 0; t < h->culled_count; t++) h->culls[t] = true;
    /* Between the face's oval and the first ring: a Delaunay triangulation of the two in
     * the portrait, less what lies inside the face (its triangulation's boundary loop, close
     * to MediaPipe's oval; an oval that zigzags near the ears would
     * fold a strip of quads into a bow tie, leaving holes; and its pockets, between three
     * oval vertices, are covered here, not by the face). */
    {
        const int *boundary = topology.boundary;
        int nb = topology.boundary_count;
        float (*pts)[2] = malloc((size_t)(nb + OVAL) * sizeof *pts), (*oval_poly)[2] = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *oval_poly);
        int *ids = malloc((size_t)(nb + OVAL) * sizeof *ids);
        if (!pts || !oval_poly || !ids || nb < 3) {
            free(pts); free(oval_poly); free(ids);
            free(frontal);
            head3d_free(h);
            return nb < 3 ? vv_fail(VV_ERR_INTERNAL, "head3d: the face topology has no boundary loop")
                          : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
        }
        for (int i = 0; i < nb; i++) ids[i] = boundary[i];
        for (int i = 0; i < OVAL; i++) ids[nb + i] = FACE_VERTICES + i;
        for (int i = 0; i < nb + OVAL; i++) { pts[i][0] = h->src[ids[i]][0]; pts[i][1] = h->src[ids[i]][1]; }
        memcpy(oval_poly, pts, (size_t)nb * sizeof *oval_poly);
        int (*tris)[3] = NULL, count = 0;
        s = delaunay_triangulate((const float(*)[2])pts, nb + OVAL, &tris, &count);
        /* Where the outline folds behind the cheek (a turned face's far side: the ray from
         * the face's centre through it runs on over the face), the strip between it and the
         * first ring lies under the face at rest, and its texture is the far cheek and eye:
         * uncovered when the face turns to the camera, it drew them again beside the face.
         * Those triangles are the side of the head, which the portrait never showed: tagged,
         * and painted smoothly from around them (side_fill). */
        bool *folded = h->folded;
        for (int i = 0; i < nb; i++) {
            const float *b = h->src[boundary[i]];
            float dx = b[0] - centre_image[0], dy = b[1] - centre_image[1], len = hypotf(dx, dy);
            folded[boundary[i]] = len > 1e-3f && face_exit_distance(h, dx / len, dy / len, b) > FOLD_MIN;
        }
        twin_reach_build(h, folded, yaw);
        if (fabsf(yaw) > TWIN_FRONTAL) /* the jaw side nearer the nose */
            h->far_side = fabsf(h->source68[2][0] - h->source68[30][0]) < fabsf(h->source68[14][0] - h->source68[30][0]) ? -1 : 1;
        for (int t = 0; s == VV_OK && t < count && n < max_tris; t++) {
            float cx = (pts[tris[t][0]][0] + pts[tris[t][1]][0] + pts[tris[t][2]][0]) / 3;
            float cy = (pts[tris[t][0]][1] + pts[tris[t][1]][1] + pts[tris[t][2]][1]) / 3;
            if (point_in_polygon((const float(*)[2])oval_poly, nb, cx, cy)) continue;
            bool side = false;
            for (int k = 0; k < 3; k++) {
                h->triangles[n][k] = ids[tris[t][k]];
                side |= ids[tris[t][k]] < FACE_VERTICES && folded[ids[tris[t][k]]];
            }
            h->has_side |= side;
            h->layer[n++] = side ? HEAD3D_LAYER_SIDE : HEAD3D_LAYER_OUTER;
        }
        /* Outline vertices that bulge out at rest, the outline joined past them by a chord
         * of the strip: where a turn dents the outline in there, between it and the chord
         * the plate showed through, a small grey triangle at an ear (lp_s0, lp_s5 turned
         * 12 and 25 degrees).  A fan of triangles from the chord's end over them covers it,
         * drawn always (at rest it lies under the face, which is nearer). */
        int strip_end = n;
        for (int span = 2; span <= POCKET_SPAN; span++) /* the chord past span - 1 vertices: a fan over them */
            for (int i = 0; s == VV_OK && i < nb; i++) {
                int a = boundary[i], c = boundary[(i + span) % nb];
                bool chord = false;
                for (int j = 1; j < span; j++) chord |= folded[boundary[(i + j) % nb]];
                if (chord) continue; /* a fold: the ears below */
                for (int t = h->face_end; t < strip_end && !chord; t++)
                    for (int k = 0; k < 3 && !chord; k++) {
                        int u = h->triangles[t][k], v = h->triangles[t][(k + 1) % 3];
                        chord = (u == a && v == c) || (u == c && v == a);
                    }
                for (int j = 1; chord && j < span && n < max_tris; j++) {
                    h->triangles[n][0] = a;
                    h->triangles[n][1] = boundary[(i + j) % nb];
                    h->triangles[n][2] = boundary[(i + j + 1) % nb];
                    h->layer[n++] = HEAD3D_LAYER_OUTER;
                }
            }
        /* A folded outline vertex and its two neighbours on the outline: turned to the
         * camera, the face's own triangles there fold over, and the strip, which joins the
         * neighbours past the vertex, does not cover the fold (a crack of plate down the
         * cheek).  This triangle does; it is drawn only while its vertex turns to the
         * camera (turning away, it would show the cheek's edge again where the face
         * uncovers it).  It is the side of the head (painted over with it) until that
         * takes its twin's texture (below); then it is skin with its own, the cheek's edge:
         * painted from the hair around it, or with its twin's (the near outline's hair), it
         * was a dark notch in the Mona Lisa's cheek turned +12/+25. */
        h->ear = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *h->ear);
        h->ear_first = n;
        if (!h->ear) s = vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
        for (int i = 0; s == VV_OK && i < nb && n < max_tris; i++) {
            int a = boundary[(i + nb - 1) % nb], b = boundary[i], c = boundary[(i + 1) % nb];
            if (!folded[b]) continue;
            int *ear = h->ear[h->ear_count++];
            ear[0] = a;
            ear[1] = b;
            ear[2] = c;
            h->triangles[n][0] = h->triangles[n][1] = h->triangles[n][2] = b; /* not drawn (until turned) */
            h->layer[n++] = HEAD3D_LAYER_SIDE;
            h->has_side = true;
        }
        free(tris);
        free(pts);
        free(oval_poly);
        free(ids);
        if (s != VV_OK) {
            free(frontal);
            head3d_free(h);
            return s;
        }
        /* The twin's side of the head stands in for this one only where it continues what
         * lies beyond this one's strip (the mean colour at the first ring's corners of the
         * side's triangles, own and mirrored, within 40 levels): hair beside hair, not a
         * cheek and an ear beside a veil (in shards) or a lit collar beside a dark ground. */
        double own[3] = {0, 0, 0}, twin[3] = {0, 0, 0};
        int samples = 0;
        for (int t = h->face_end; t < h->ear_first; t++) {
            if (h->layer[t] != HEAD3D_LAYER_SIDE) continue;
            for (int k = 0; k < 3; k++) {
                int v = h->triangles[t][k];
                if (v < FACE_VERTICES) continue;
                const float *a = h->texcoord_rest[v], *b = h->texcoord_mirror[v];
                int ax = (int)fminf(fmaxf(a[0], 0), source->width - 1), ay = (int)fminf(fmaxf(a[1], 0), source->height - 1);
                int bx = (int)fminf(fmaxf(b[0], 0), source->width - 1), by = (int)fminf(fmaxf(b[1], 0), source->height - 1);
                for (int c = 0; c < 3; c++) {
                    own[c] += source->data[((size_t)ay * source->width + ax) * 3 + c];
                    twin[c] += source->data[((size_t)by * source->width + bx) * 3 + c];
                }
                samples++;
            }
        }
        double apart = 0;
        for (int c = 0; samples && c < 3; c++) apart += (own[c] - twin[c]) * (own[c] - twin[c]) / ((double)samples * samples);
        h->side_twins = samples > 0 && sqrt(apart) < 40;
        /* ... and each side triangle only where its twin continues what lies beyond it
         * there: the mean colour over a patch at each of its outer corners, own and
         * mirrored, within SIDE_APART levels (the strip's mean let a triangle on light hair
         * at the Mona Lisa's temple take its twin's dark hair: a dark square). */
        int patch = (int)fmaxf(2, 0.04f * h->eye_distance);
        for (int t = h->face_end; h->side_twins && t < h->ear_first; t++) {
            if (h->layer[t] != HEAD3D_LAYER_SIDE) continue;
            double o[3] = {0, 0, 0}, m[3] = {0, 0, 0};
            int pc = 0;
            for (int k = 0; k < 3; k++) {
                int v = h->triangles[t][k];
                if (v < FACE_VERTICES) continue;
                for (int side = 0; side < 2; side++) {
                    const float *a = side ? h->texcoord_mirror[v] : h->texcoord_rest[v];
                    double *sum = side ? m : o;
                    for (int dy = -patch; dy <= patch; dy++)
                        for (int dx = -patch; dx <= patch; dx++) {
                            int x = (int)fminf(fmaxf(a[0] + dx, 0), source->width - 1), y = (int)fminf(fmaxf(a[1] + dy, 0), source->height - 1);
                            for (int c = 0; c < 3; c++) sum[c] += source->data[((size_t)y * source->width + x) * 3 + c];
                            pc += side == 0;
                        }
                }
            }
            double d = 0;
            for (int c = 0; pc && c < 3; c++) d += (o[c] - m[c]) * (o[c] - m[c]) / ((double)pc * pc);
            h->side_own[t] = pc > 0 && sqrt(d) >= SIDE_APART;
        }
        for (int k = 0; h->side_twins && k < h->ear_count; k++) h->layer[h->ear_first + k] = HEAD3D_LAYER_SKIN;
        /* Beyond a folded outline the first rings are drawn towards the outline's depth: a
         * turn then carries them out with the face's edge, and the side of the head it
         * uncovers stays as narrow as it was at rest (on the skull's round the rings turned
         * less than the face, and the strip between opened into a wide, jagged region that
         * nothing in the portrait shows).  (Doing so beyond a frontal face's open outline
         * too, 0.7 of the way, kept the hair beside young Einstein's far cheek from turning
         * into horizontal streaks at +25 degrees, but the held-out self-reenactment's head
         * pose error rose 3.17 -> 3.41 degrees, and 3.46 with it only on yaws past 12-22
         * degrees (sty_style_nice_clip1's far-turned frames): not done.) */
        for (int i = 0; i < OVAL; i++) {
            const float *b = h->src[face_mesh_face_oval[i]];
            float dx = b[0] - centre_image[0], dy = b[1] - centre_image[1], len = hypotf(dx, dy);
            float fold = len > 1e-3f ? face_exit_distance(h, dx / len, dy / len, b) : 0;
            float k = (fold - FOLD_MIN) / (0.05f * h->eye_distance);
            k = k < 0 ? 0 : k > 1 ? 1 : k;
            for (int r = 0; r < 2; r++) {
                float *v = h->src[FACE_VERTICES + r * OVAL + i], kr = r == 0 ? k : 0.5f * k;
                if (b[2] > v[2]) v[2] += kr * (b[2] - v[2]);
            }
        }
    }
    for (int r = 1; r < RING_COUNT && n + 2 * OVAL <= max_tris; r++)
        for (int i = 0; i < OVAL; i++) {
            int j = (i + 1) % OVAL;
            int a = FACE_VERTICES + (r - 1) * OVAL + i, b = FACE_VERTICES + (r - 1) * OVAL + j;
            int c = FACE_VERTICES + r * OVAL + i, d = FACE_VERTICES + r * OVAL + j;
            int quad[2][3] = {{a, b, d}, {a, d, c}};
            for (int q = 0; q < 2; q++) {
                float p[3][2];
                for (int k = 0; k < 3; k++) {
                    p[k][0] = h->src[quad[q][k]][0];
                    p[k][1] = h->src[quad[q][k]][1];
                }
                float area = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[1][1] - p[0][1]) * (p[2][0] - p[0][0]);
                h->triangles[n][0] = quad[q][0];
                h->triangles[n][1] = area > 0 ? quad[q][1] : quad[q][2];
                h->triangles[n][2] = area > 0 ? quad[q][2] : quad[q][1];
                h->layer[n++] = HEAD3D_LAYER_OUTER;
            }
        }
    /* Between the last ring and the frame: Delaunay, less what lies inside the ring. */
    h->frame_first = n;
    {
        int ids[OVAL + FRAME_POINTS + BODY_POINTS], total = OVAL + (h->vertex_count - FRAME_FIRST);
        float pts[OVAL + FRAME_POINTS + BODY_POINTS][2], ring_poly[OVAL][2];
        for (int i = 0; i < OVAL; i++) ids[i] = FACE_VERTICES + (RING_COUNT - 1) * OVAL + i;
        for (int i = OVAL; i < total; i++) ids[i] = FRAME_FIRST + (i - OVAL); /* the frame, then the body points */
        for (int i = 0; i < total; i++) { pts[i][0] = h->src[ids[i]][0]; pts[i][1] = h->src[ids[i]][1]; }
        memcpy(ring_poly, pts, sizeof ring_poly);
        int (*tris)[3] = NULL, count = 0;
        s = delaunay_triangulate((const float(*)[2])pts, total, &tris, &count);
        for (int t = 0; s == VV_OK && t < count && n < max_tris; t++) {
            float cx = (pts[tris[t][0]][0] + pts[tris[t][1]][0] + pts[tris[t][2]][0]) / 3;
            float cy = (pts[tris[t][0]][1] + pts[tris[t][1]][1] + pts[tris[t][2]][1]) / 3;
            if (point_in_polygon((const float(*)[2])ring_poly, OVAL, cx, cy)) continue;
            for (int k = 0; k < 3; k++) h->triangles[n][k] = ids[tris[t][k]];
            h->layer[n++] = HEAD3D_LAYER_OUTER;
        }
        free(tris);
        if (s != VV_OK) {
            free(frontal);
            head3d_free(h);
            return s;
        }
    }
    h->triangle_count = n;
    /* Pose origin depth: where the 68-point pose's origin (face/pose.h) lies in the mesh's
     * depth, from the mesh's own 68 points. */
    float mesh68_depth[68];
    {
        /* depth of each dlib point: the nearest face vertex in 2D */
        for (int k = 0; k < 68; k++) {
            float best = INFINITY;
            for (int v = 0; v < FACE_VERTICES; v++) {
                float d = dist2(h->src[v], h->source68[k]);
                if (d < best) { best = d; mesh68_depth[k] = h->src[v][2]; }
            }
        }
        head_pose hp = head_pose_estimate((const float(*)[2])h->source68);
        double sum = 0;
        for (int k = 0; k < 68; k++) {
            const float *m = face_mean_shape_3d()[k];
            float z = hp.scale * (hp.rotation[2][0] * m[0] + hp.rotation[2][1] * m[1] + hp.rotation[2][2] * m[2]);
            sum += mesh68_depth[k] - z;
        }
        h->pivot_depth = (float)(sum / 68);
    }
    /* Expression anchors in the frontal layout: the dlib points (not eyes, not inner lips)
     * where the mesh has them, then the lid and inner-lip contour vertices. */
    float anchor_pos[ANCHOR_MAX][2];
    float frontal68[68][2];
    face_mesh_to_landmarks68((const float(*)[3])frontal, frontal68);
    int a = 0;
    for (int k = 0; k < 68; k++) {
        if ((k >= 36 && k <= 47) || k >= 60) continue;
        h->dlib_anchor[a] = k;
        h->anchor_vertex[a] = -1;
        anchor_pos[a][0] = frontal68[k][0];
        anchor_pos[a][1] = frontal68[k][1];
        a++;
    }
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) h->anchor_vertex[a + i] = face_mesh_lid_upper[e][i];
        for (int i = 1; i < FACE_MESH_LID_POINTS - 1; i++) h->anchor_vertex[a + FACE_MESH_LID_POINTS + i - 1] = face_mesh_lid_lower[e][i];
        a += FACE_MESH_LID_POINTS + LID_INNER;
    }
    for (int i = 0; i < FACE_MESH_LIP_POINTS; i++) h->anchor_vertex[a + i] = face_mesh_lips_inner_upper[i];
    for (int i = 1; i < FACE_MESH_LIP_POINTS - 1; i++) h->anchor_vertex[a + FACE_MESH_LIP_POINTS + i - 1] = face_mesh_lips_inner_lower[i];
    a += FACE_MESH_LIP_POINTS + LIP_INNER;
    for (int i = DLIB_ANCHORS; i < ANCHOR_COUNT; i++) {
        anchor_pos[i][0] = frontal[h->anchor_vertex[i]][0];
        anchor_pos[i][1] = frontal[h->anchor_vertex[i]][1];
    }
    h->anchor_total = crease_anchors(h, (const float(*)[3])frontal, anchor_pos, ANCHOR_COUNT);
    float eye_frontal = hypotf(frontal68[45][0] - frontal68[36][0], frontal68[45][1] - frontal68[36][1]);
    s = a == ANCHOR_COUNT ? spread_build(h, (const float(*)[3])frontal, (const float(*)[2])anchor_pos, eye_frontal)
                          : vv_fail(VV_ERR_INTERNAL, "head3d: %d anchors, expected %d", a, ANCHOR_COUNT);
    if (s == VV_OK) brow_rigid(h, (const float(*)[3])frontal, (const float(*)[2])anchor_pos);
    free(frontal);
    rim_line rim;
    if (s == VV_OK && glasses_rim(source, landmarks, h->eye_distance, &rim)) {
        bool on_lid[FACE_VERTICES] = {false};
        for (int e = 0; e < 2; e++)
            for (int i = 0; i < FACE_MESH_LID_POINTS; i++) on_lid[face_mesh_lid_upper[e][i]] = on_lid[face_mesh_lid_lower[e][i]] = true;
        for (int v = 0; v < FACE_VERTICES; v++) {
            float keep = on_lid[v] ? 1 : 1 - rim_rigid(&rim, h->eye_distance, h->src[v][0], h->src[v][1]);
            for (int k = 0; k < 3; k++) h->spread[v].weight[k] *= keep, h->brow_spread[v].weight[k] *= keep;
        }
    }
    if (s == VV_OK) s = lid_wires(h);
    /* Matte: the plate (the person painted out, once), the person's own colours and the
     * matte as a texture.  A pixel I = a F + (1 - a) B mixes person F and background B by
     * the matte a; with the plate P as B, F = (I - (1 - a) P) / a, so that drawing F over P
     * by a gives back I exactly wherever nothing moved (no halo where hair meets sky). */
    if (s == VV_OK && matte && h->params.background_still) {
        h->have_matte = true;
        uint8_t *known = malloc(pixels);
        s = known ? image_copy(&h->plate, source) : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
        if (s == VV_OK) s = image_create(&h->matte1, source->width, source->height, 1);
        if (s == VV_OK) s = image_copy(&h->foreground, source);
        if (s == VV_OK) {
            for (size_t i = 0; i < pixels; i++) known[i] = matte[i] < MATTE_BACKGROUND;
            s = plate_rim_unknown(known, source->width, source->height);
            /* with the background's structure and grain (a flag's stripes, canvas, foliage):
             * a smooth fill showed as a fogged patch (red and white: pink) wherever the head
             * moved away, and tinted the hair's edge de-mixed against it */
            int larger = source->width > source->height ? source->width : source->height, grain = (larger + 128) / 256;
            /* a frame line round the picture (st_art_10's white rows at the top and bottom) is
             * no background to copy patches from: below the top one, the patches drew it again
             * inside the plate along the hair's top, a white and dark line left standing above
             * the moved head.  Out of the fill's sources; kept as it is. */
            uint8_t *framed = s == VV_OK ? frame_lines(source, known, h->frame) : NULL;
            if (s == VV_OK) s = image_fill_holes_structured(&h->plate, known, grain < 1 ? 1 : grain, h->params.threads);
            for (size_t i = 0; framed && i < pixels; i++)
                if (framed[i]) {
                    known[i] = 1;
                    memcpy(h->plate.data + i * 3, source->data + i * 3, 3);
                }
            free(framed);
            if (s == VV_OK) s = plate_edge(h, source, matte, known);
            for (size_t i = 0; s == VV_OK && i < pixels; i++) {
                int alpha = matte[i];
                if (!known[i]) { /* no less than I needs over P (the matte's own may clip F) */
                    int least = least_alpha(source->data + i * 3, h->plate.data + i * 3);
                    alpha = least > alpha ? least : alpha;
                }
                h->matte1.data[i] = (uint8_t)alpha;
                if (alpha == 0 || (alpha < MATTE_BACKGROUND && known[i])) continue;
                for (int c = 0; c < 3; c++) {
                    float v = ((float)source->data[i * 3 + c] * 255 - (float)(255 - alpha) * h->plate.data[i * 3 + c]) / (float)alpha;
                    h->foreground.data[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                }
            }
        }
        free(known);
    }
    for (int e = 0; e < 2 && s == VV_OK; e++) s = lid_skin_build(h, h->have_matte ? &h->foreground : &h->source, e);
    /* lid_wires: the skin under a rim holds as the lid shuts (after lid_skin_build, which
     * reads the shares) */
    for (int c = 0; ANCHOR_COUNT + c < h->anchor_total; c++)
        if (h->lid_skin[h->crease_eye[c]].wire_y) h->crease_share[c] = 0;
    /* Footprint: what the moving part covers at rest (uncovered later: background). */
    if (s == VV_OK) {
        vv_image scratch = {0};
        int (*moving)[3] = calloc((size_t)h->triangle_count + 1, sizeof *moving), m = 0;
        s = moving ? image_create(&scratch, source->width, source->height, 3)
                   : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory for %d triangles", h->triangle_count);
        for (int t = 0; s == VV_OK && t < h->triangle_count; t++) { /* the moving part's triangles */
            const int *tri = h->triangles[t];
            if (h->weight[tri[0]] > 0 || h->weight[tri[1]] > 0 || h->weight[tri[2]] > 0) memcpy(moving[m++], tri, sizeof *moving);
        }
        for (size_t i = 0; i < pixels; i++) h->depth[i] = -INFINITY;
        raster_mesh rm = {.position = (const float(*)[3])h->src, .texcoord = (const float(*)[2])h->texcoord,
                          .triangles = (const int(*)[3])moving, .vertex_count = h->vertex_count, .triangle_count = m};
        raster_target rt = {.color = &scratch, .depth = h->depth, .coverage = h->footprint};
        raster_params rp = {false, h->params.threads};
        if (s == VV_OK) s = raster_draw(&rt, h->have_matte ? &h->foreground : &h->source, &rm, &rp);
        image_free(&scratch);
        free(moving);
        h->foot_box[0] = source->width; h->foot_box[1] = source->height; h->foot_box[2] = h->foot_box[3] = -1;
        for (int y = 0; y < source->height; y++)
            for (int x = 0; x < source->width; x++)
                if (h->footprint[(size_t)y * source->width + x]) {
                    if (x < h->foot_box[0]) h->foot_box[0] = x;
                    if (x > h->foot_box[2]) h->foot_box[2] = x;
                    if (y < h->foot_box[1]) h->foot_box[1] = y;
                    if (y > h->foot_box[3]) h->foot_box[3] = y;
                }
        if (h->foot_box[2] < 0) h->foot_box[0] = h->foot_box[1] = h->foot_box[2] = h->foot_box[3] = 0;
        /* Which triangles' texture is all person (matte >= OPAQUE over their texture box):
         * their pixels need no alpha; and which all background (matte <= BACKGROUND: the
         * plate shows). */
        for (int t = 0; t < h->triangle_count; t++) {
            bool opaque = h->have_matte, clear = h->have_matte;
            float tx0 = 1e30f, ty0 = 1e30f, tx1 = -1e30f, ty1 = -1e30f;
            for (int k = 0; k < 3; k++) {
                const float *c = h->texcoord_rest[h->triangles[t][k]];
                tx0 = fminf(tx0, c[0]); tx1 = fmaxf(tx1, c[0]);
                ty0 = fminf(ty0, c[1]); ty1 = fmaxf(ty1, c[1]);
            }
            int ix0 = (int)floorf(tx0) - 1, iy0 = (int)floorf(ty0) - 1, ix1 = (int)ceilf(tx1) + 1, iy1 = (int)ceilf(ty1) + 1;
            if (ix0 < 0 || iy0 < 0 || ix1 >= source->width || iy1 >= source->height) opaque = false;
            /* clamped sampling reaches no further than the box, edges included */
            ix0 = ix0 < 0 ? 0 : ix0;
            iy0 = iy0 < 0 ? 0 : iy0;
            ix1 = ix1 >= source->width ? source->width - 1 : ix1;
            iy1 = iy1 >= source->height ? source->height - 1 : iy1;
            if (ix0 > ix1 || iy0 > iy1) opaque = clear = false; /* a texture box off the portrait */
            for (int y = iy0; (opaque || clear) && y <= iy1; y++)
                for (int x = ix0; (opaque || clear) && x <= ix1; x++) {
                    uint8_t person = h->matte1.data[(size_t)y * source->width + x]; /* least_alpha included */
                    opaque = opaque && person >= OPAQUE;
                    clear = clear && person <= BACKGROUND;
                }
            h->draw_layer[t] = (uint8_t)(h->layer[t] | (opaque ? 0 : clear ? CLEAR : TRANSLUCENT));
            h->is_translucent[t] = !opaque && !clear;
            h->is_clear[t] = clear;
        }
    }
    if (s != VV_OK) {
        head3d_free(h);
        return s;
    }
    memcpy(h->last68, h->source68, sizeof h->last68);
    *out = h;
    return VV_OK;
}

void head3d_set_gains(head3d *h, float eyes, float lips) {
    h->params.eyes = eyes;
    h->params.lips = lips;
}

void head3d_free(head3d *h) {
    if (!h) return;
    free(h->lid_scratch);
    for (int e = 0; e < 2; e++) {
        free(h->lid_skin[e].own);
        free(h->lid_skin[e].shut);
        free(h->lid_skin[e].gap);
        free(h->lid_skin[e].gap_skin);
        free(h->lid_skin[e].weight);
        free(h->lid_skin[e].wire_y);
    }
    for (int e = 0; e < 2; e++) image_free(&h->eye_clean[e]);
    image_free(&h->source);
    image_free(&h->plate);
    image_free(&h->matte1);
    image_free(&h->foreground);
    image_free(&h->color);
    image_free(&h->alpha);
    free(h->src);
    free(h->texcoord);
    free(h->texcoord_rest);
    free(h->normal);
    free(h->texcoord_mirror);
    free(h->texcoord_share);
    image_free(&h->ramp);
    free(h->strip_k);
    free(h->texcoord_stretch);
    free(h->texcoord_firm);
    image_free(&h->firm);
    free(h->takes_firm);
    image_free(&h->ramp1);
    image_free(&h->stretch);
    free(h->takes_fill);
    image_free(&h->mirrored);
    image_free(&h->share);
    free(h->weight);
    free(h->posed);
    free(h->triangles);
    free(h->layer);
    free(h->draw_layer);
    free(h->is_translucent);
    free(h->is_clear);
    free(h->culls);
    free(h->takes_twin);
    free(h->side_own);
    free(h->depth);
    free(h->coverage);
    free(h->raster_layer);
    free(h->side_known);
    free(h->ear);
    image_free(&h->side_box);
    free(h->footprint);
    free(h->ring_radius);
    free(h);
}

void head3d_output_size(const head3d *h, int *width, int *height) {
    *width = h->width;
    *height = h->height;
}

void head3d_mesh(const head3d *h, const float (**posed)[3], int *vertex_count, const int (**triangles)[3],
                 const uint8_t **layers, int *triangle_count) {
    *posed = (const float(*)[3])h->posed;
    *vertex_count = h->vertex_count;
    *triangles = (const int(*)[3])h->triangles;
    *layers = h->layer;
    *triangle_count = h->triangle_count;
}

void head3d_last_landmarks(const head3d *h, float out[68][2]) { memcpy(out, h->last68, sizeof h->last68); }

/* Inner-lip anchors from a displacement of each of dlib's inner-lip points (times gain):
 * along each lip by arc length, from index a; returns the next index. */
static int inner_lip_anchors(const head3d *h, const float (*moves)[2], float gain, float (*d)[2], int a) {
    static const int dlib_upper[5] = {60, 61, 62, 63, 64}, dlib_lower[5] = {60, 67, 66, 65, 64};
    for (int lip = 0; lip < 2; lip++) {
        const int *dl = lip ? dlib_lower : dlib_upper;
        const int *chain = lip ? face_mesh_lips_inner_lower : face_mesh_lips_inner_upper;
        float knots_pos[5][2], knots[5], values[5][2], chain_pos[FACE_MESH_LIP_POINTS][2], s[FACE_MESH_LIP_POINTS];
        for (int i = 0; i < 5; i++) {
            knots_pos[i][0] = h->source68[dl[i]][0];
            knots_pos[i][1] = h->source68[dl[i]][1];
            values[i][0] = moves[dl[i]][0] * gain;
            values[i][1] = moves[dl[i]][1] * gain;
        }
        chain_params((const float(*)[2])knots_pos, 5, knots);
        for (int i = 0; i < FACE_MESH_LIP_POINTS; i++) {
            chain_pos[i][0] = h->src[chain[i]][0];
            chain_pos[i][1] = h->src[chain[i]][1];
        }
        chain_params((const float(*)[2])chain_pos, FACE_MESH_LIP_POINTS, s);
        for (int i = lip ? 1 : 0; i < (lip ? FACE_MESH_LIP_POINTS - 1 : FACE_MESH_LIP_POINTS); i++)
            interpolate_at(knots, (const float(*)[2])values, 5, s[i], d[a++]);
    }
    return a;
}

/* A glance carries the upper lid's arch with it: the lid rides on the cornea, so its
 * highest point follows the iris (lp_d0 frames 21-60, glances of 0.2-0.3 eye widths: the
 * arch over the iris, the lid low and flat over the white; moving the iris alone under a
 * lid that kept its shape squeezed it into the corner's narrow end).  Each inner vertex of
 * eye e's upper lid takes the height over the corners' line that the lid had LID_FOLLOW
 * of the iris's shift behind it, the shift fading to nothing at the corners; times
 * `open` (a shut lid keeps its line).  d: the eye's upper-lid anchors, added to. */
#define LID_FOLLOW 0.7f
static void lid_follow_gaze(const head3d *h, const head3d_frame *f, int e, float open, float (*d)[2]) {
    float sx, sy;
    if (!gaze_shift(h, f, e, &sx, &sy) || !(open > 0)) return;
    enum { N = FACE_MESH_LID_POINTS };
    const float *u = h->eye_axis[e], *up = h->lash_up[e];
    const float *first = h->src[face_mesh_lid_upper[e][0]], *last = h->src[face_mesh_lid_upper[e][N - 1]];
    float span = (last[0] - first[0]) * u[0] + (last[1] - first[1]) * u[1];
    if (!(fabsf(span) > 1)) return;
    float t[N], height[N][2]; /* along the lid (0..1), and the height over the corners' line */
    for (int i = 0; i < N; i++) {
        const float *p = h->src[face_mesh_lid_upper[e][i]];
        float along = ((p[0] - first[0]) * u[0] + (p[1] - first[1]) * u[1]) / span;
        t[i] = along;
        float lx = first[0] + along * (last[0] - first[0]), ly = first[1] + along * (last[1] - first[1]);
        height[i][0] = (p[0] - lx) * up[0] + (p[1] - ly) * up[1];
        height[i][1] = 0;
    }
    float glance = (sx * u[0] + sy * u[1]) / span; /* the iris's shift, in t */
    for (int i = 1; i < N - 1; i++) {
        float was[2];
        interpolate_at(t, (const float(*)[2])height, N, t[i] - LID_FOLLOW * glance * 4 * t[i] * (1 - t[i]), was);
        float rise = open * (was[0] - height[i][0]);
        d[i][0] += rise * up[0];
        d[i][1] += rise * up[1];
    }
}

/* The anchors' displacements this frame (source pixels, at the source's pose). */
static void anchors_move(const head3d *h, const head3d_frame *f, float (*d)[2]) {
    float lips = h->params.lips;
    for (int a = 0; a < DLIB_ANCHORS; a++) {
        int k = h->dlib_anchor[a];
        float g = k >= 48 ? lips : 1;
        d[a][0] = f->expression[k][0] * g;
        d[a][1] = f->expression[k][1] * g;
    }
    int a = DLIB_ANCHORS;
    for (int e = 0; e < 2; e++) {
        /* The eye as a whole moves with its corners (the lids' own dlib points would
         * count the blink twice); the lids then close towards a line LID_MEET of the way up
         * from the lower lid, by the retargeted openness. */
        float shift[2] = {0, 0};
        for (int i = 0; i < 2; i++) {
            shift[0] += f->expression[dlib_eye[e][i * 3]][0] / 2;
            shift[1] += f->expression[dlib_eye[e][i * 3]][1] / 2;
        }
        float open = f->eye_openness[e];
        if (!isfinite(open)) open = 1;
        open = 1 + h->params.eyes * (open - 1);
        open = open < 0 ? 0 : open > 1.6f ? 1.6f : open;
        float deep = lid_deep(open);
        /* the lids meet LID_FLAT of the way from the lower rim to the corners' chord */
        const float *c0 = h->src[face_mesh_lid_lower[e][0]], *c1 = h->src[face_mesh_lid_lower[e][FACE_MESH_LID_POINTS - 1]];
        float chord[2] = {c1[0] - c0[0], c1[1] - c0[1]}, chord2 = chord[0] * chord[0] + chord[1] * chord[1];
        for (int i = 0; i < FACE_MESH_LID_POINTS; i++) {
            const float *up = h->src[face_mesh_lid_upper[e][i]], *lo0 = h->src[face_mesh_lid_lower[e][i]];
            bool inner = i > 0 && i < FACE_MESH_LID_POINTS - 1;
            float lo[2] = {lo0[0], lo0[1]};
            if (inner && chord2 > 1e-6f) {
                float t = ((lo0[0] - c0[0]) * chord[0] + (lo0[1] - c0[1]) * chord[1]) / chord2;
                lo[0] += LID_FLAT * (c0[0] + t * chord[0] - lo0[0]);
                lo[1] += LID_FLAT * (c0[1] + t * chord[1] - lo0[1]);
            }
            float meet_up = inner ? LID_MEET + deep * (LID_MEET_UPPER - LID_MEET) : LID_MEET;
            float closed[2] = {lo[0] + meet_up * (up[0] - lo[0]), lo[1] + meet_up * (up[1] - lo[1])};
            if (inner) {
                float gx = up[0] - lo[0], gy = up[1] - lo[1], g = hypotf(gx, gy), over = deep * LID_OVER * h->eye_width[e];
                if (g > 1e-3f) { closed[0] -= over * gx / g; closed[1] -= over * gy / g; }
            }
            d[a + i][0] = shift[0] + (closed[0] + open * (up[0] - closed[0])) - up[0];
            d[a + i][1] = shift[1] + (closed[1] + open * (up[1] - closed[1])) - up[1];
            if (i > 0 && i < FACE_MESH_LID_POINTS - 1) {
                float *dl = d[a + FACE_MESH_LID_POINTS + i - 1];
                float low[2] = {lo[0] + LID_MEET * (up[0] - lo[0]), lo[1] + LID_MEET * (up[1] - lo[1])};
                dl[0] = shift[0] + (low[0] + open * (lo0[0] - low[0])) - lo0[0];
                dl[1] = shift[1] + (low[1] + open * (lo0[1] - low[1])) - lo0[1];
            }
        }
        lid_follow_gaze(h, f, e, open > 1 ? 1 : open, d + a);
        a += FACE_MESH_LID_POINTS + LID_INNER;
    }
    a = inner_lip_anchors(h, (const float(*)[2])f->expression, lips, d, a);
    /* The skin above the lids: a share of its lid vertex's motion beyond the eye's shift. */
    for (int c = 0; a + c < h->anchor_total; c++) {
        int e = h->crease_eye[c], lid_anchor = DLIB_ANCHORS + e * (FACE_MESH_LID_POINTS + LID_INNER) + h->crease_lid[c];
        float shift[2] = {0, 0};
        for (int i = 0; i < 2; i++) {
            shift[0] += f->expression[dlib_eye[e][i * 3]][0] / 2;
            shift[1] += f->expression[dlib_eye[e][i * 3]][1] / 2;
        }
        float share = h->crease_share[c];
        d[a + c][0] = shift[0] + share * (d[lid_anchor][0] - shift[0]);
        d[a + c][1] = shift[1] + share * (d[lid_anchor][1] - shift[1]);
    }
}

/* Where the 3D head's brows, nose and lips land differs from where the 68-point retargeting
 * puts them (the driver's pose is fitted to a mean face whose depth is not this mesh's, and
 * the expression is measured against it): each such landmark's own displacement since rest
 * is made the target's, the difference spread over the face by the expression's anchors
 * (2D, after the head's motion), at most MAX_CORRECTION eye distances.  The jaw (an outline
 * that slides as the head turns: the 3D head is right there) and the eyes (the lids follow
 * their own openness) are left as they are. */
#define MAX_CORRECTION 0.08f
static void landmarks_correct(head3d *h, const head3d_frame *f) {
    float now68[68][2], c[68][2];
    face_mesh_to_landmarks68((const float(*)[3])h->posed, now68);
    float limit = MAX_CORRECTION * h->eye_distance;
    for (int k = 0; k < 68; k++) {
        c[k][0] = c[k][1] = 0;
        if (k < 17 || (k >= 36 && k <= 47)) continue;
        float g = k >= 48 ? h->params.lips : 1; /* the lips' gain applies to the target too */
        float cx = g * (f->target68[k][0] - h->dlib68[k][0]) - (now68[k][0] - h->source68[k][0]);
        float cy = g * (f->target68[k][1] - h->dlib68[k][1]) - (now68[k][1] - h->source68[k][1]);
        float m = hypotf(cx, cy);
        if (!(m == m)) continue;
        if (m > limit) { cx *= limit / m; cy *= limit / m; }
        c[k][0] = cx;
        c[k][1] = cy;
    }
    float d[ANCHOR_MAX][2];
    memset(d, 0, sizeof d);
    for (int a = 0; a < DLIB_ANCHORS; a++) {
        d[a][0] = c[h->dlib_anchor[a]][0];
        d[a][1] = c[h->dlib_anchor[a]][1];
    }
    inner_lip_anchors(h, (const float(*)[2])c, 1, d, DLIB_ANCHORS + 2 * (FACE_MESH_LID_POINTS + LID_INNER));
    for (int v = 0; v < FACE_VERTICES; v++) {
        float o[2];
        vertex_offset(h, v, (const float(*)[2])d, o);
        h->posed[v][0] += o[0];
        h->posed[v][1] += o[1];
    }
}

typedef struct composite_job {
    const head3d *h;
    vv_image *out;
    uint8_t *canvas; /* the raster's colour (source-sized rows): out's own pixels when the sizes agree */
    bool mirror, body_moves;
    int box[4], face_box[4]; /* the work's box and the face's (mirror), inclusive */
} composite_job;

/* (p a + q (255 - a) + 127) / 255, rounded down: p over q by a, to the nearest level.  The
 * numerator is at most 65152, where (n + 1 + (n >> 8)) >> 8 is exactly n / 255 (checked
 * for every n). */
static inline uint8_t blend255(int p, int q, int a) {
    int n = p * a + q * (255 - a) + 127;
    return (uint8_t)((n + 1 + (n >> 8)) >> 8);
}

/* The skin of eye e's own face, for its shut lid: the median colour of the known pixels
 * under the eye's middle, LID_CHEEK_NEAR to LID_CHEEK_FAR eye widths below the lower lid
 * (box: the texture's pixels from (bx0, by0)); false where too few are known. */
#define LID_CHEEK_NEAR 0.12f
#define LID_CHEEK_FAR 0.3f
static int compare_u8(const void *a, const void *b) { return *(const uint8_t *)a - *(const uint8_t *)b; }
static bool lid_cheek(const head3d *h, const vv_image *box, const uint8_t *known, int bx0, int by0, int e, float skin[3]) {
    enum { SAMPLES = 5 * 12 };
    uint8_t cheek[3][SAMPLES];
    int n = 0, w = box->width, hh = box->height;
    float down[2] = {-h->lash_up[e][0], -h->lash_up[e][1]}, ew = h->eye_width[e];
    for (int i = 2; i <= FACE_MESH_LID_POINTS - 3; i++) /* the lower lid's middle */
        for (int j = 0; j < 12; j++) {
            const float *p = h->src[face_mesh_lid_lower[e][i]];
            float d = (LID_CHEEK_NEAR + (LID_CHEEK_FAR - LID_CHEEK_NEAR) * (float)j / 11) * ew;
            int x = (int)lroundf(p[0] + d * down[0]) - bx0, y = (int)lroundf(p[1] + d * down[1]) - by0;
            if (x < 0 || y < 0 || x >= w || y >= hh || !known[(size_t)y * w + x] || n >= SAMPLES) continue;
            for (int c = 0; c < 3; c++) cheek[c][n] = box->data[((size_t)y * w + x) * 3 + c];
            n++;
        }
    if (n < 8) return false;
    float sum = 0;
    for (int c = 0; c < 3; c++) {
        qsort(cheek[c], (size_t)n, 1, compare_u8);
        skin[c] = cheek[c][n / 2];
        sum += skin[c];
    }
    return sum > 30;
}

/* The known pixels of a lid box whose hue is not the skin's are made unknown, with a pixel
 * round them: a pixel's hue (its share of red and of blue in R + G + B) further than
 * LID_SKIN_HUE from the skin's is something else (a metal rim: lp_d9's grey 0.05-0.07 away,
 * its skin above and below the eye within 0.01).  Left as they are if that would leave
 * under half the known pixels (a face lit in another colour). */
#define LID_SKIN_HUE 0.035f
static void lid_skin_unlike(const uint8_t *box_pixels, int w, int hh, uint8_t *known, const float skin[3]) {
    float sum = skin[0] + skin[1] + skin[2];
    float skin_r = skin[0] / sum, skin_b = skin[2] / sum;
    size_t count = (size_t)w * hh, known_count = 0, unlike_count = 0;
    uint8_t *unlike = calloc(count, 1);
    if (!unlike) return; /* only a refinement */
    for (size_t i = 0; i < count; i++) {
        if (!known[i]) continue;
        known_count++;
        const uint8_t *p = box_pixels + i * 3;
        float s = (float)p[0] + p[1] + p[2];
        if (s < 30) continue; /* too dark to have a hue: the brows' and lashes' rule takes it */
        if (fmaxf(fabsf(p[0] / s - skin_r), fabsf(p[2] / s - skin_b)) > LID_SKIN_HUE) unlike[i] = 1;
    }
    for (int y = 0; y < hh; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!known[i]) continue;
            bool near = false;
            for (int j = -1; j <= 1 && !near; j++)
                for (int k = -1; k <= 1 && !near; k++) {
                    int xx = x + k, yy = y + j;
                    near = xx >= 0 && yy >= 0 && xx < w && yy < hh && (unlike[(size_t)yy * w + xx] & 1);
                }
            if (near) unlike[i] |= 2, unlike_count++;
        }
    if (2 * unlike_count <= known_count)
        for (size_t i = 0; i < count; i++)
            if (unlike[i] & 2) known[i] = 0;
    free(unlike);
}

/* A thin glasses rim (a wire frame, as lp_d9's silver one) crossing the skin between the
 * upper lid and the brow: the skin above a shutting lid followed it down (CREASE_NEAR /
 * CREASE_FAR), bending the rim into waves and dragging the brows' lower edge down, and the
 * lid's fill took the rim's grey.  Found per column over the upper lid's width and WIRE_SIDE
 * eye widths beyond, between the brow (dlib's points) and the lid: the strongest thin ridge
 * of luma (brighter or darker than both pixels WIRE_REACH eye widths above and below it, by
 * WIRE_RIDGE levels or more); a rim is one unbroken run of them (a step of at most 2 pixels
 * a column, one polarity) over WIRE_RUN of the columns, on both eyes (lp_d9 0.92 and 0.98;
 * the 12 portraits without one 0.06-0.60, Grace Hopper's brow-line frame 0.33, which
 * glasses_rim takes).  Where found, the skin above that lid holds still as it shuts (the lid
 * alone stretches over the eye, with its fill) and the wire's pixels are no part of the
 * fill and keep their own texture.  The skin under the wire still follows the expression:
 * held out of it (as rim_rigid holds a brow-line frame), lowered brows were squeezed into a
 * dark jagged line against the held band (lp_d9 frame 307) and eval's lag estimate read the
 * output late (sub-frame 0.83 held 0.12 eye distances above the wire, 0.47 at 0.05, 0.41
 * not held; 0.11 before). */
#define WIRE_SIDE 0.2f
#define WIRE_REACH 0.06f
#define WIRE_RIDGE 15.0f
#define WIRE_RUN 0.75f
static float lid_row_at(const head3d *h, int e, float x) { /* the upper lid's margin at column x */
    const int *upper = face_mesh_lid_upper[e];
    float best = NAN, nearest = INFINITY;
    for (int i = 0; i + 1 < FACE_MESH_LID_POINTS; i++) {
        const float *a = h->src[upper[i]], *b = h->src[upper[i + 1]];
        float lo = fminf(a[0], b[0]), hi = fmaxf(a[0], b[0]);
        if (x >= lo && x <= hi && hi > lo) return a[1] + (x - a[0]) / (b[0] - a[0]) * (b[1] - a[1]);
        for (int k = 0; k < 2; k++) {
            const float *p = k ? b : a;
            if (fabsf(p[0] - x) < nearest) nearest = fabsf(p[0] - x), best = p[1];
        }
    }
    return best;
}

static float brow_row_at(const head3d *h, int e, float x) { /* dlib's brow (17-21 or 22-26) at column x */
    const float (*l)[2] = (const float(*)[2])h->dlib68 + (e ? 22 : 17);
    int first = l[0][0] < l[4][0] ? 0 : 4, last = 4 - first, step = first ? -1 : 1;
    if (x <= l[first][0]) return l[first][1];
    if (x >= l[last][0]) return l[last][1];
    for (int i = first; i != last; i += step) {
        const float *a = l[i], *b = l[i + step];
        if (x >= a[0] && x <= b[0]) return b[0] > a[0] ? a[1] + (x - a[0]) / (b[0] - a[0]) * (b[1] - a[1]) : a[1];
    }
    return l[last][1];
}

static vv_status lid_wire(head3d *h, int e, bool *found) {
    *found = false;
    float ew = h->eye_width[e], xa = INFINITY, xb = -INFINITY;
    for (int i = 0; i < FACE_MESH_LID_POINTS; i++)
        xa = fminf(xa, h->src[face_mesh_lid_upper[e][i]][0]), xb = fmaxf(xb, h->src[face_mesh_lid_upper[e][i]][0]);
    int x0 = (int)floorf(xa - WIRE_SIDE * ew), x1 = (int)ceilf(xb + WIRE_SIDE * ew), n = x1 - x0 + 1;
    int r = (int)lroundf(WIRE_REACH * ew);
    r = r < 2 ? 2 : r;
    if (!(ew > 0) || n < 8) return VV_OK;
    float *ys = malloc((size_t)n * sizeof *ys);
    signed char *polarity = malloc((size_t)n);
    if (!ys || !polarity) {
        free(ys);
        free(polarity);
        return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    }
    for (int i = 0; i < n; i++) {
        int x = x0 + i;
        float lid = lid_row_at(h, e, (float)x), brow = brow_row_at(h, e, (float)x), best = 0;
        ys[i] = NAN;
        polarity[i] = 0;
        if (!isfinite(lid) || !isfinite(brow)) continue;
        for (int y = (int)floorf(brow); y < (int)(lid - 0.05f * ew); y++) {
            float up = luma_at(&h->source, x, y - r), at = luma_at(&h->source, x, y), down = luma_at(&h->source, x, y + r);
            float ridge = (at - up) * (at - down) > 0 ? fminf(fabsf(at - up), fabsf(at - down)) : 0;
            if (ridge >= WIRE_RIDGE && ridge > best) best = ridge, ys[i] = (float)y, polarity[i] = at > up ? 1 : -1;
        }
    }
    int run = 0, longest = 0, end = -1;
    for (int i = 0; i < n; i++) {
        bool joins = i > 0 && polarity[i] && polarity[i] == polarity[i - 1] && fabsf(ys[i] - ys[i - 1]) <= 2;
        run = joins ? run + 1 : polarity[i] ? 1 : 0;
        if (run > longest) longest = run, end = i;
    }
    free(polarity);
    if (longest < WIRE_RUN * n) {
        free(ys);
        return VV_OK;
    }
    for (int i = 0; i < n; i++) /* the run only */
        if (i > end || i <= end - longest) ys[i] = NAN;
    lid_skin *l = &h->lid_skin[e];
    l->wire_y = ys;
    l->wire_x0 = x0;
    l->wire_n = n;
    l->wire_half = (float)r;
    *found = true;
    return VV_OK;
}

/* Both eyes' wires (lid_wire), kept only where both have one: a pair of glasses. */
static vv_status lid_wires(head3d *h) {
    bool found[2] = {false, false};
    vv_status s = VV_OK;
    for (int e = 0; e < 2 && s == VV_OK; e++) s = lid_wire(h, e, &found[e]);
    if (s != VV_OK || !found[0] || !found[1])
        for (int e = 0; e < 2; e++) {
            free(h->lid_skin[e].wire_y);
            h->lid_skin[e].wire_y = NULL;
        }
    return s;
}

/* How far pixel (x, y) of the texture is from eye e's wire, in its half-widths (INFINITY
 * without one there). */
static float lid_wire_distance(const head3d *h, int e, int x, int y) {
    const lid_skin *l = &h->lid_skin[e];
    int i = x - l->wire_x0;
    if (!l->wire_y || i < 0 || i >= l->wire_n || !isfinite(l->wire_y[i])) return INFINITY;
    return fabsf((float)y - l->wire_y[i]) / l->wire_half;
}

/* A shut lid is the skin of the face it is on: the cheek's colour under the eye (lp_d9's
 * real shut lids: 0.99-1.02 of it per channel, before lids_shade's darkening at the lash line
 * and corners).  The fill, from the skin round the eye (on lp_d9 the brows' side, darker and
 * greyer: 0.8-0.9 of the cheek), is scaled per channel so that its mean where the lid
 * applies (weight over half) takes LID_HUE_SHARE of the way to the cheek's hue (all of it
 * made lp_s8's lid a rosy patch among the muted skin round it), and at least LID_TONE of its
 * luma, never darker than the fill was (the cheek right under a painted eye is often its
 * shadow: lp_s0 and lp_s8 went darker than the cheek further down), by at most
 * LID_TONE_MOST either way; fading out with the weight towards the band's edge, to meet
 * the skin round it smoothly. */
#define LID_TONE 0.97f
#define LID_HUE_SHARE 0.5f
#define LID_TONE_MOST 1.3f
static void lid_skin_tone(uint8_t *shut, const uint8_t *weight, size_t n, const float cheek[3], float hue_share, float most) {
    double sum[3] = {0, 0, 0};
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (weight[i] >= 128) {
            for (int c = 0; c < 3; c++) sum[c] += shut[i * 3 + c];
            count++;
        }
    if (!count) return;
    float gain[3], mean[3];
    for (int c = 0; c < 3; c++) mean[c] = (float)(sum[c] / (double)count);
    float luma = 0.299f * mean[0] + 0.587f * mean[1] + 0.114f * mean[2];
    float skin = 0.299f * cheek[0] + 0.587f * cheek[1] + 0.114f * cheek[2];
    if (!(luma > 1) || !(skin > 1)) return;
    float target = fmaxf(luma, LID_TONE * skin), mix[3]; /* never darker than the fill was */
    for (int c = 0; c < 3; c++) mix[c] = hue_share * cheek[c] / skin + (1 - hue_share) * mean[c] / luma;
    float mix_luma = 0.299f * mix[0] + 0.587f * mix[1] + 0.114f * mix[2];
    for (int c = 0; c < 3; c++) {
        gain[c] = mean[c] > 1 ? target * mix[c] / mix_luma / mean[c] : 1;
        gain[c] = gain[c] > most ? most : gain[c] < 1 / most ? 1 / most : gain[c];
    }
    for (size_t i = 0; i < n; i++) {
        float k = weight[i] >= 128 ? 1 : weight[i] / 128.0f;
        for (int c = 0; c < 3; c++) {
            float v = shut[i * 3 + c] * (1 + k * (gain[c] - 1));
            shut[i * 3 + c] = (uint8_t)(v > 255 ? 255 : v + 0.5f);
        }
    }
}

/* 2 x pairs passes of a 3x3 mean over mask a (w x hh), b the scratch; the result in a. */
static void mask_soften(uint8_t *a, uint8_t *b, int w, int hh, int pairs) {
    for (int pass = 0; pass < 2 * pairs; pass++) {
        uint8_t *from = pass % 2 ? b : a, *to = pass % 2 ? a : b;
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < w; x++) {
                int sum = 0, count = 0;
                for (int j = -1; j <= 1; j++)
                    for (int i = -1; i <= 1; i++) {
                        int xx = x + i, yy = y + j;
                        if (xx < 0 || yy < 0 || xx >= w || yy >= hh) continue;
                        sum += from[(size_t)yy * w + xx];
                        count++;
                    }
                to[(size_t)y * w + x] = (uint8_t)((sum + count / 2) / count);
            }
    }
}

/* The y of polyline pts (n points, any x order) at x; false outside its x span. */
static bool polyline_y(const float (*pts)[2], int n, float x, float *y) {
    for (int i = 0; i + 1 < n; i++) {
        float x0 = pts[i][0], x1 = pts[i + 1][0];
        if ((x < x0 && x < x1) || (x > x0 && x > x1) || !(fabsf(x1 - x0) > 1e-3f)) continue;
        *y = pts[i][1] + (x - x0) / (x1 - x0) * (pts[i + 1][1] - pts[i][1]);
        return true;
    }
    return false;
}

/* Eye e's brow gap (lid_skin.gap): the skin between the brow's lower edge (the mesh's)
 * and the lid, down to BROW_GAP_LASH eye widths over the lid's margin (its lashes stay),
 * painted over from the lit skin round it (not the brow, the lashes or the fold's shadow:
 * darker than BROW_GAP_LIT of the median known pixel round the lid), in the cheek's tone.
 * A raised brow
 * stretches that skin, which under a low brow is a few pixels of the brow's edge and the
 * fold's shadow: stretched, a dark band from the brow down to the eye (young Einstein's
 * surprise, Obama's raised brows over narrowed eyes). */
#define BROW_GAP_LASH 0.08f
#define BROW_GAP_TONE_MOST 2.0f
#define BROW_GAP_LIT 0.9f
#define BROW_GAP_DARKER 0.3f
static vv_status brow_gap_build(head3d *h, int e, int bx0, int by0, int w, int hh, int median) {
    lid_skin *l = &h->lid_skin[e];
    float brow[5][2], lid[FACE_MESH_LID_POINTS][2];
    for (int i = 0; i < 5; i++) brow[i][0] = h->src[brow_lower[e][i]][0], brow[i][1] = h->src[brow_lower[e][i]][1];
    for (int i = 0; i < FACE_MESH_LID_POINTS; i++)
        lid[i][0] = h->src[face_mesh_lid_upper[e][i]][0], lid[i][1] = h->src[face_mesh_lid_upper[e][i]][1];
    size_t n = (size_t)w * hh;
    uint8_t *zone = calloc(n, 1), *scratch = malloc(n), *known = malloc(n);
    vv_image skin = {0};
    vv_status s = zone && scratch && known ? image_create(&skin, w, hh, 3) : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    int count = 0;
    for (int x = 0; s == VV_OK && x < w; x++) {
        float px = (float)(x + bx0), top, bottom;
        if (!polyline_y((const float(*)[2])brow, 5, px, &top)) continue;
        /* beyond the eye's corners (a brow's ends reach past them): the corner's height */
        float lx0 = fminf(lid[0][0], lid[FACE_MESH_LID_POINTS - 1][0]), lx1 = fmaxf(lid[0][0], lid[FACE_MESH_LID_POINTS - 1][0]);
        if (!polyline_y((const float(*)[2])lid, FACE_MESH_LID_POINTS, fminf(fmaxf(px, lx0 + 0.5f), lx1 - 0.5f), &bottom)) continue;
        bottom -= BROW_GAP_LASH * h->eye_width[e];
        for (int y = (int)ceilf(top) - by0; y <= (int)floorf(bottom) - by0; y++)
            if (y >= 0 && y < hh) zone[(size_t)y * w + x] = 255, count++;
    }
    for (int y = 0; s == VV_OK && y < hh; y++) {
        memcpy(skin.data + (size_t)y * w * 3, l->own + (size_t)y * w * 3, (size_t)w * 3);
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            const uint8_t *p = l->own + i * 3;
            bool opening = point_in_polygon((const float(*)[2])h->eye_polygon[e], 2 * FACE_MESH_LID_POINTS - 2, (float)(x + bx0), (float)(y + by0));
            scratch[i] = !zone[i] && !opening && (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000 >= BROW_GAP_LIT * median;
        }
    }
    /* a pixel in from the brow's and the lashes' edges: their half-dark pixels drew a grey
     * rim round the fill */
    for (int y = 0; s == VV_OK && y < hh; y++)
        for (int x = 0; x < w; x++) {
            bool all = true;
            for (int j = -1; j <= 1 && all; j++)
                for (int i = -1; i <= 1 && all; i++) {
                    int xx = x + i, yy = y + j;
                    all = xx < 0 || yy < 0 || xx >= w || yy >= hh || scratch[(size_t)yy * w + xx];
                }
            known[(size_t)y * w + x] = all;
        }
    if (s == VV_OK && count > 0) {
        int larger = h->source.width > h->source.height ? h->source.width : h->source.height, grain = (larger + 128) / 256;
        s = image_fill_holes_textured(&skin, known, grain < 1 ? 1 : grain, 1);
        if (s == VV_OK) {
            /* soft over about a tenth of the eye's width (sharp, its sides drew a box) */
            mask_soften(zone, scratch, w, hh, 1 + (int)(h->eye_width[e] / 20));
            /* the cheek's tone (lid_skin_tone): the skin round a low brow is its shadow */
            float cheek[3];
            vv_image own = {w, hh, 3, l->own};
            if (lid_cheek(h, &own, known, bx0, by0, e, cheek)) lid_skin_tone(skin.data, zone, n, cheek, 1, BROW_GAP_TONE_MOST);
            /* only where the portrait's own is darker than that (the brow's edge, the fold's
             * shadow): a lid's lit skin keeps its own (filled, lp_d3's raised brows lost her
             * lids' look: CSIM 0.821 -> 0.803) */
            for (size_t i = 0; i < n; i++) {
                const uint8_t *o = l->own + i * 3, *f = skin.data + i * 3;
                float lo = 0.299f * o[0] + 0.587f * o[1] + 0.114f * o[2], lf = 0.299f * f[0] + 0.587f * f[1] + 0.114f * f[2];
                float dark = lf > 1 ? (lf - lo) / (BROW_GAP_DARKER * lf) : 0;
                zone[i] = (uint8_t)(zone[i] * (dark < 0 ? 0 : dark > 1 ? 1 : dark) + 0.5f);
            }
            l->gap = zone;
            l->gap_skin = skin.data;
            zone = NULL;
            skin.data = NULL;
        }
    }
    image_free(&skin);
    free(zone);
    free(scratch);
    free(known);
    return s;
}

/* How far eye e's brow gap is painted over: by how far the expression (anchors' offsets d,
 * before the head's motion) raises its brow (the upper edge's middle, which follows the
 * brow points most) above the eye's corners, in eye widths: none up to BROW_GAP_FROM, all
 * from BROW_GAP_FULL.  From the expression, not the posed mesh: a head tilted back moved the
 * posed brow away from the corners (lp_d3 looking up: pale boxes over her eyes); from the
 * corners, not the lid: a shutting lid stretches its own skin (lid_unfold), and filled as a
 * gap too, the shut lids of the Mona Lisa and lp_s0 went pale. */
#define BROW_GAP_FROM 0.08f
#define BROW_GAP_FULL 0.25f
static float brow_gap_stretch(const head3d *h, int e, const float (*d)[2]) {
    const int *lid = face_mesh_lid_upper[e];
    float brow[2], c0[2], c1[2];
    vertex_offset(h, brow_upper[e][2], d, brow);
    vertex_offset(h, lid[0], d, c0);
    vertex_offset(h, lid[FACE_MESH_LID_POINTS - 1], d, c1);
    float raise = ((c0[1] + c1[1]) / 2 - brow[1]) / fmaxf(h->eye_width[e], 1e-3f);
    float k = (raise - BROW_GAP_FROM) / (BROW_GAP_FULL - BROW_GAP_FROM);
    return k < 0 ? 0 : k > 1 ? 1 : k;
}

/* Eye e's shut lid (see lid_unfold), in the texture: the band of the upper lid's
 * triangles (those with all corners on the upper lid or the two rings above it), and the
 * eye's opening, filled smoothly from the skin around them (brow above, lower lid below,
 * the corners); the band, a pixel wider and softened, is where it applies: the lid and
 * both rings above it, whose fold unfolds into the lid a shut eye shows.  (Kept to the first
 * ring, fading out towards the second, a deep-set eye's dark fold stood over the shut lid as
 * a second, open-looking eye: lp_d3's blinks read 0.77 of open by dlib, the driver's 0.44.) */
static vv_status lid_skin_build(head3d *h, const vv_image *texture, int e) {
    bool in_band[FACE_VERTICES] = {false}, on_ring[FACE_VERTICES] = {false};
    for (int i = 0; i < FACE_MESH_LID_POINTS; i++) in_band[face_mesh_lid_upper[e][i]] = true;
    for (int c = 0; ANCHOR_COUNT + c < h->anchor_total; c++)
        if (h->crease_eye[c] == e) {
            int v = h->anchor_vertex[ANCHOR_COUNT + c];
            in_band[v] = on_ring[v] = true;
        }
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (int v = 0; v < FACE_VERTICES; v++)
        if (in_band[v]) x0 = fminf(x0, h->src[v][0]), x1 = fmaxf(x1, h->src[v][0]), y0 = fminf(y0, h->src[v][1]), y1 = fmaxf(y1, h->src[v][1]);
    for (int i = 0; i < 2 * FACE_MESH_LID_POINTS - 2; i++)
        x0 = fminf(x0, h->eye_polygon[e][i][0]), x1 = fmaxf(x1, h->eye_polygon[e][i][0]),
        y0 = fminf(y0, h->eye_polygon[e][i][1]), y1 = fmaxf(y1, h->eye_polygon[e][i][1]);
    float margin = 0.3f * h->eye_width[e] + 2, fill_y0 = y0 - margin;
    for (int k = e ? 22 : 17; k <= (e ? 26 : 21); k++) y0 = fminf(y0, h->source68[k][1]); /* up to the brow (the fold) */
    int bx0 = (int)fmaxf(x0 - margin, 0), by0 = (int)fmaxf(y0 - margin, 0);
    int bx1 = (int)fminf(x1 + margin, (float)texture->width - 1), by1 = (int)fminf(y1 + margin, (float)texture->height - 1);
    if (bx1 - bx0 < 4 || by1 - by0 < 4) return VV_OK; /* off the picture: the lid just stretches */
    int w = bx1 - bx0 + 1, hh = by1 - by0 + 1;
    size_t n = (size_t)w * hh;
    uint8_t *band = calloc(n, 1), *wide = calloc(n, 1), *known = malloc(n), *fold = calloc(n, 1);
    int *fold_top = malloc((size_t)w * sizeof *fold_top);
    vv_image shut = {0};
    float cheek[3];
    bool have_cheek = false;
    int median = 0; /* luma of the median known pixel round the lid */
    vv_status s = band && wide && known && fold && fold_top ? image_create(&shut, w, hh, 3) : vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    h->lid_skin[e].own = s == VV_OK ? malloc(n * 3) : NULL;
    h->lid_skin[e].weight = s == VV_OK ? malloc(n) : NULL;
    if (s == VV_OK && (!h->lid_skin[e].own || !h->lid_skin[e].weight)) s = vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
    for (int t = 0; s == VV_OK && t < h->face_end; t++) {
        const int *tri = h->triangles[t];
        if (!in_band[tri[0]] || !in_band[tri[1]] || !in_band[tri[2]] || !(on_ring[tri[0]] || on_ring[tri[1]] || on_ring[tri[2]])) continue;
        const float *a = h->src[tri[0]], *b = h->src[tri[1]], *c = h->src[tri[2]];
        int tx0 = (int)fmaxf(floorf(fminf(a[0], fminf(b[0], c[0]))), (float)bx0), tx1 = (int)fminf(ceilf(fmaxf(a[0], fmaxf(b[0], c[0]))), (float)bx1);
        int ty0 = (int)fmaxf(floorf(fminf(a[1], fminf(b[1], c[1]))), (float)by0), ty1 = (int)fminf(ceilf(fmaxf(a[1], fmaxf(b[1], c[1]))), (float)by1);
        for (int y = ty0; y <= ty1; y++)
            for (int x = tx0; x <= tx1; x++) {
                float bw[3];
                if (barycentric(a, b, c, (float)x, (float)y, bw) && bw[0] >= -0.01f && bw[1] >= -0.01f && bw[2] >= -0.01f)
                    band[(size_t)(y - by0) * w + (x - bx0)] = 255;
            }
    }
    /* Above the band, up to the brow: the fold, whose shadow a shutting lid lifts (the skin
     * tucked into it comes out over the eye), FOLD_MAX at the band's top fading to nothing
     * FOLD_BROW eye widths under the brow line, towards the shut lid's colour at the band's
     * top.  Kept (the band alone), a deep-set eye's dark fold stood over the shut lid as a
     * second, open-looking eye (lp_d3's first frame). */
    for (int x = 0; s == VV_OK && x < w; x++) {
        int top = -1;
        for (int y = 0; y < hh && top < 0; y++)
            if (band[(size_t)y * w + x]) top = y;
        fold_top[x] = top;
        float px = (float)(x + bx0);
        int k = e ? 22 : 17;
        while (k < (e ? 25 : 20) && h->source68[k + 1][0] < px) k++;
        const float *p = h->source68[k], *q = h->source68[k + 1];
        if (top < 0 || !(fabsf(q[0] - p[0]) > 1e-3f) || px < fminf(p[0], q[0]) - 1 || px > fmaxf(p[0], q[0]) + 1) continue;
        float brow = p[1] + (px - p[0]) / (q[0] - p[0]) * (q[1] - p[1]) + FOLD_BROW * h->eye_width[e] - (float)by0;
        for (int y = brow > 0 ? (int)ceilf(brow) : 0; y < top; y++)
            fold[(size_t)y * w + x] = (uint8_t)(255 * FOLD_MAX * ((float)y - brow) / ((float)top - brow) + 0.5f);
    }
    if (s == VV_OK) {
        /* a pixel wider (the lashes' edge), then the hole: that and the opening */
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < w; x++) {
                int most = 0;
                for (int j = -1; j <= 1; j++)
                    for (int i = -1; i <= 1; i++) {
                        int xx = x + i, yy = y + j;
                        if (xx >= 0 && yy >= 0 && xx < w && yy < hh && band[(size_t)yy * w + xx] > most) most = band[(size_t)yy * w + xx];
                    }
                bool any = most > 0;
                wide[(size_t)y * w + x] = (uint8_t)most;
                bool opening = point_in_polygon((const float(*)[2])h->eye_polygon[e], 2 * FACE_MESH_LID_POINTS - 2, (float)(x + bx0), (float)(y + by0));
                known[(size_t)y * w + x] = !any && !opening && !(lid_wire_distance(h, e, x + bx0, y + by0) <= 1) &&
                                           (float)(y + by0) >= fill_y0; /* the fill sees what it saw without the fold */
            }
        for (int y = 0; y < hh; y++) {
            memcpy(shut.data + (size_t)y * w * 3, texture->data + ((size_t)(y + by0) * texture->width + bx0) * 3, (size_t)w * 3);
            memcpy(h->lid_skin[e].own + (size_t)y * w * 3, shut.data + (size_t)y * w * 3, (size_t)w * 3);
        }
        /* nor, behind a wire rim, what is not skin-coloured: the metal (grey) filled the shut
         * lid grey-brown (lp_d9); skin is what the cheek under the eye is.  Only there (with
         * lid_skin_tone): on every face, brighter shut lids read shallower to dlib (test_eval's
         * talk clip, Grace Hopper: closure 0.46 -> 0.66) and its lag estimate went late. */
        have_cheek = h->lid_skin[e].wire_y && lid_cheek(h, &shut, known, bx0, by0, e, cheek);
        if (have_cheek) lid_skin_unlike(shut.data, w, hh, known, cheek);
        /* only lit skin around it gives its colour: not the brows, lashes, a glasses frame or
         * the fold's shadow (darker than LID_SKIN_DARK of the box's median known pixel) */
        int histogram[256] = {0}, known_count = 0, lit_count = 0;
        for (size_t i = 0; i < n; i++)
            if (known[i]) {
                const uint8_t *p = shut.data + i * 3;
                histogram[(299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000]++;
                known_count++;
            }
        for (int sum = 0; median < 255 && (sum += histogram[median]) * 2 < known_count;) median++;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = shut.data + i * 3;
            band[i] = known[i] && (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000 >= LID_SKIN_DARK * median;
            lit_count += band[i];
        }
        int larger = texture->width > texture->height ? texture->width : texture->height, grain = (larger + 128) / 256;
        /* ... mostly: LID_SKIN_LIT of the lit skin's fill, the rest all the skin's (a lid in
         * the light alone came out paler than the cheek) */
        vv_image all = {0};
        if (lit_count * 10 >= known_count && (s = image_copy(&all, &shut)) == VV_OK) s = image_fill_holes(&all, known, 1);
        if (s == VV_OK) s = image_fill_holes_textured(&shut, lit_count * 10 >= known_count ? band : known, grain < 1 ? 1 : grain, 1);
        for (size_t i = 0; s == VV_OK && all.data && i < n * 3; i++)
            shut.data[i] = (uint8_t)(LID_SKIN_LIT * shut.data[i] + (1 - LID_SKIN_LIT) * all.data[i] + 0.5f);
        image_free(&all);
        for (int x = 0; s == VV_OK && x < w; x++) /* the fold: the shut lid's colour at the band's top, */
            for (int y = 0; fold_top[x] > 0 && y < fold_top[x]; y++) {
                size_t i = (size_t)y * w + x;
                const uint8_t *lid = shut.data + ((size_t)fold_top[x] * w + x) * 3, *own = h->lid_skin[e].own + i * 3;
                /* only where that lifts it (a lit fold, the Mona Lisa's, went darker) */
                if (!fold[i] || 299 * lid[0] + 587 * lid[1] + 114 * lid[2] <= 299 * own[0] + 587 * own[1] + 114 * own[2]) continue;
                memcpy(shut.data + i * 3, lid, 3);
                if (fold[i] > wide[i]) wide[i] = fold[i];
            }
    }
    if (s == VV_OK) { /* the weight: the wide band's reach, softened twice by a 3x3 mean */
        uint8_t *a = wide;
        mask_soften(wide, band, w, hh, 1);
        if (h->lid_skin[e].wire_y) /* the wire keeps its own pixels, a pixel soft at its edges */
            for (int y = 0; y < hh; y++)
                for (int x = 0; x < w; x++) {
                    float d = lid_wire_distance(h, e, x + bx0, y + by0), keep = (d - 1) * h->lid_skin[e].wire_half;
                    if (keep < 1) a[(size_t)y * w + x] = (uint8_t)(a[(size_t)y * w + x] * (keep < 0 ? 0 : keep) + 0.5f);
                }
        memcpy(h->lid_skin[e].weight, a, n);
        if (have_cheek) lid_skin_tone(shut.data, a, n, cheek, LID_HUE_SHARE, LID_TONE_MOST);
        h->lid_skin[e].shut = shut.data; /* kept */
        shut.data = NULL;
        s = brow_gap_build(h, e, bx0, by0, w, hh, median);
        h->lid_skin[e].x0 = bx0;
        h->lid_skin[e].y0 = by0;
        h->lid_skin[e].width = w;
        h->lid_skin[e].height = hh;
    }
    image_free(&shut);
    free(band);
    free(wide);
    free(known);
    free(fold);
    free(fold_top);
    return s;
}

/* The texture's lids as far as each eye is shut (lid_unfold) and its brow gap as far as
 * it is stretched (brow_gap_stretch), or as they are (both 0). */
static void lid_skin_apply(head3d *h, vv_image *texture, const float unfold[2], const float gap[2]) {
    for (int e = 0; e < 2; e++) {
        const lid_skin *l = &h->lid_skin[e];
        if (!l->shut) continue;
        int k = (int)(unfold[e] * 256 + 0.5f), kg = l->gap ? (int)(gap[e] * 256 + 0.5f) : 0;
        for (int y = 0; y < l->height; y++) {
            uint8_t *o = texture->data + ((size_t)(y + l->y0) * texture->width + l->x0) * 3;
            const uint8_t *own = l->own + (size_t)y * l->width * 3, *shut = l->shut + (size_t)y * l->width * 3;
            const uint8_t *wt = l->weight + (size_t)y * l->width;
            if (k == 0 && kg == 0) {
                memcpy(o, own, (size_t)l->width * 3);
                continue;
            }
            const uint8_t *skin = kg ? l->gap_skin + (size_t)y * l->width * 3 : NULL, *gw = kg ? l->gap + (size_t)y * l->width : NULL;
            for (int x = 0; x < l->width; x++) {
                int a = (wt[x] * k + 128) >> 8;
                for (int c = 0; c < 3; c++) o[x * 3 + c] = blend255(shut[x * 3 + c], own[x * 3 + c], a);
                int g = kg ? (gw[x] * kg + 128) >> 8 : 0;
                for (int c = 0; g && c < 3; c++) o[x * 3 + c] = blend255(skin[x * 3 + c], o[x * 3 + c], g);
            }
        }
    }
}

/* Rows [y0, y1) of the frame from the raster's canvas, in place (the raster's rows_done,
 * as soon as it has drawn them): the drawn pixels are already there (with
 * the plate where background-only triangles won: the raster's backdrop), so only the few
 * that need more are touched: the twins blended in, a translucent winner over the plate,
 * and what no triangle covered (background where the moving part was at rest, else the
 * portrait).  Outside the box: the portrait. */
static void composite_band(void *ctx, int y0, int y1) {
    const composite_job *j = ctx;
    const head3d *h = j->h;
    int w = h->source.width, bx0 = j->box[0], by0 = j->box[1], bx1 = j->box[2], by1 = j->box[3];
    int fx0 = j->face_box[0], fy0 = j->face_box[1], fx1 = j->face_box[2], fy1 = j->face_box[3];
    bool direct = j->canvas == j->out->data;
    for (int y = y0; y < y1 && y < h->height; y++) {
        uint8_t *o = j->out->data + (size_t)y * h->width * 3;
        const uint8_t *src = h->source.data + (size_t)y * w * 3;
        if (y < by0 || y > by1) {
            memcpy(o, src, (size_t)h->width * 3);
            continue;
        }
        int x0 = bx0 < h->width ? bx0 : h->width, x1 = bx1 + 1 < h->width ? bx1 + 1 : h->width;
        memcpy(o, src, (size_t)x0 * 3);
        memcpy(o + x1 * 3, src + x1 * 3, (size_t)(h->width - x1) * 3);
        uint8_t *c = j->canvas + (size_t)y * w * 3;
        const uint8_t *plate = h->have_matte ? h->plate.data + (size_t)y * w * 3 : src;
        const uint8_t *alpha = h->have_matte ? h->alpha.data + (size_t)y * w : NULL;
        const uint8_t *cov = h->coverage + (size_t)y * w, *foot = h->footprint + (size_t)y * w;
        if (h->have_matte && y + 1 <= by1 && y + 1 < h->height) /* the next row's plate, out of cache: its loads stalled */
            for (int k = x0 * 3; k < x1 * 3; k += 64) __builtin_prefetch(plate + (size_t)w * 3 + k);
        bool twins = j->mirror && y >= fy0 && y <= fy1;
        const uint8_t *twin = twins ? h->mirrored.data + (size_t)y * w * 3 : NULL;
        const uint8_t *share = twins ? h->share.data + (size_t)y * w * 3 : NULL;
        const uint8_t *won = h->raster_layer + (size_t)y * w;
        /* Pixels needing nothing more: covered, by a winner neither translucent nor taking
         * its twin's share (eight at a time). */
        const uint64_t ones = 0x0101010101010101ull;
        uint64_t mask = ones * (uint8_t)((twins ? TWIN : 0) | (alpha ? TRANSLUCENT : 0));
        uint64_t kind = ones * (uint8_t)(TRANSLUCENT | CLEAR | (twins ? TWIN : 0));
        for (int x = x0; x < x1;) {
#ifdef RASTER_RGB16
            /* Sixteen at a time, the same integers as the loop below: translucent winners
             * over the plate, and what no triangle covered, through byte masks; a twin's
             * pixels go the scalar way. */
            if (x + 16 <= x1) {
                __m128i cov16 = _mm_loadu_si128((const __m128i *)(cov + x)), won16 = _mm_loadu_si128((const __m128i *)(won + x));
                __mmask16 bare = _mm_testn_epi8_mask(cov16, cov16);
                __mmask16 drawn = (__mmask16)~bare & _mm_testn_epi8_mask(won16, _mm_set1_epi8(CLEAR));
                if (!(twins && (drawn & _mm_test_epi8_mask(won16, _mm_set1_epi8(TWIN))))) {
                    __mmask16 over = alpha ? drawn & _mm_test_epi8_mask(won16, _mm_set1_epi8((char)TRANSLUCENT)) : 0;
                    if (bare || over) {
                        uint8_t *p = c + x * 3;
                        __m512i px = _mm512_maskz_loadu_epi8(RASTER_RGB16_BYTES, p);
                        __m512i under = _mm512_maskz_loadu_epi8(RASTER_RGB16_BYTES, plate + x * 3);
                        if (over)
                            px = _mm512_mask_blend_epi8(raster_rgb16_mask(over), px,
                                                        raster_rgb16_blend255(px, under, _mm_loadu_si128((const __m128i *)(alpha + x))));
                        if (bare) {
                            __m128i foot16 = _mm_loadu_si128((const __m128i *)(foot + x));
                            __mmask16 from_plate = j->body_moves ? bare : bare & _mm_test_epi8_mask(foot16, foot16);
                            __mmask16 from_src = bare & (__mmask16)~from_plate;
                            px = _mm512_mask_blend_epi8(raster_rgb16_mask(from_plate), px, under);
                            if (from_src)
                                px = _mm512_mask_blend_epi8(raster_rgb16_mask(from_src), px,
                                                            _mm512_maskz_loadu_epi8(RASTER_RGB16_BYTES, src + x * 3));
                        }
                        _mm512_mask_storeu_epi8(p, RASTER_RGB16_BYTES, px);
                    }
                    x += 16;
                    continue;
                }
            }
#endif
            if (x + 8 <= x1) {
                uint64_t c8, w8;
                memcpy(&c8, cov + x, 8);
                memcpy(&w8, won + x, 8);
                if (c8 == ~0ull && !(w8 & mask)) {
                    x += 8;
                    continue;
                }
                if (alpha && c8 == ~0ull && (w8 & kind) == ones * TRANSLUCENT) { /* eight translucent winners */
                    uint8_t *p = c + x * 3, a3[24];
                    const uint8_t *q = plate + x * 3;
                    for (int k = 0; k < 8; k++) a3[3 * k] = a3[3 * k + 1] = a3[3 * k + 2] = alpha[x + k];
                    for (int k = 0; k < 24; k++) p[k] = blend255(p[k], q[k], a3[k]);
                    x += 8;
                    continue;
                }
            }
            uint8_t *p = c + x * 3;
            if (!cov[x]) {
                memcpy(p, foot[x] || j->body_moves ? plate + x * 3 : src + x * 3, 3);
            } else if (!(won[x] & CLEAR)) { /* CLEAR: the raster put the plate there */
                if (twins && (won[x] & TWIN) && x >= fx0 && x <= fx1) { /* share and twin: this frame's only with TWIN */
                    int k = share[x * 3];
                    if (k)
                        for (int ch = 0; ch < 3; ch++) p[ch] = (uint8_t)((p[ch] * (255 - k) + twin[x * 3 + ch] * k + 127) / 255);
                }
                if (alpha && (won[x] & TRANSLUCENT))
                    for (int ch = 0; ch < 3; ch++) p[ch] = blend255(p[ch], plate[x * 3 + ch], alpha[x]);
            }
            x++;
        }
        if (!direct) memcpy(o + x0 * 3, c + x0 * 3, (size_t)(x1 - x0) * 3);
    }
}

/* The side of the head a turn uncovered (HEAD3D_LAYER_SIDE winners inside box): its twin's
 * texture (twins: drawn this frame) in the twin's share, over a fill painted smoothly from
 * the pixels around it (the face's edge, hair, background) where no twin is seen better; so
 * it reads as more of the head rather than a copy of the cheek. */
/* A pixel side_fill paints (the side of the head), one stretch_fill paints (a stretched face). */
static bool pixel_side(const head3d *h, size_t i) { return h->coverage[i] && (h->raster_layer[i] & LAYER_MASK) == HEAD3D_LAYER_SIDE; }
static bool pixel_stretched(const head3d *h, size_t i) {
    return h->coverage[i] && (h->raster_layer[i] & STRETCH) && h->stretch.data[i];
}

/* The region a fill paints: the box round the marked pixels of scan (inside box), padded
 * by `pad` eye distances, copied from out into side_box, with side_known 0 where marked.
 * region: x0, y0, width, height; width 0 when nothing is marked. */
static vv_status fill_region(head3d *h, const vv_image *out, const int box[4], const int scan[4],
                             bool (*marked)(const head3d *, size_t), float pad_eyes, int region[4]) {
    int w = h->source.width, x0 = INT32_MAX, y0 = INT32_MAX, x1 = -1, y1 = -1;
    int bx1 = box[2] < h->width - 1 ? box[2] : h->width - 1, by1 = box[3] < h->height - 1 ? box[3] : h->height - 1;
    region[0] = region[1] = region[2] = region[3] = 0;
    int sx0 = scan[0] > box[0] ? scan[0] : box[0], sy0 = scan[1] > box[1] ? scan[1] : box[1];
    int sx1 = scan[2] < bx1 ? scan[2] : bx1, sy1 = scan[3] < by1 ? scan[3] : by1;
    for (int y = sy0; y <= sy1; y++)
        for (int x = sx0; x <= sx1; x++) {
            if (!marked(h, (size_t)y * w + x)) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    if (x1 < 0) return VV_OK;
    int pad = (int)fmaxf(8, pad_eyes * h->eye_distance);
    x0 = x0 - pad < 0 ? 0 : x0 - pad;
    y0 = y0 - pad < 0 ? 0 : y0 - pad;
    x1 = x1 + pad > h->width - 1 ? h->width - 1 : x1 + pad;
    y1 = y1 + pad > h->height - 1 ? h->height - 1 : y1 + pad;
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    vv_status s = VV_OK;
    if (h->side_box.width != bw || h->side_box.height != bh) {
        image_free(&h->side_box);
        s = image_create(&h->side_box, bw, bh, 3);
    }
    size_t need = (size_t)bw * bh;
    if (s == VV_OK && h->side_known_size < need) {
        uint8_t *k = realloc(h->side_known, need);
        if (!k) return vv_fail(VV_ERR_NO_MEMORY, "head3d: out of memory");
        h->side_known = k;
        h->side_known_size = need;
    }
    if (s != VV_OK) return s;
    for (int y = 0; y < bh; y++) {
        memcpy(h->side_box.data + (size_t)y * bw * 3, out->data + ((size_t)(y0 + y) * out->width + x0) * 3, (size_t)bw * 3);
        for (int x = 0; x < bw; x++) {
            /* the raster's maps hold this frame's only inside the box */
            bool inside = x0 + x >= box[0] && x0 + x <= bx1 && y0 + y >= box[1] && y0 + y <= by1;
            h->side_known[(size_t)y * bw + x] = !(inside && marked(h, (size_t)(y0 + y) * w + x0 + x));
        }
    }
    region[0] = x0;
    region[1] = y0;
    region[2] = bw;
    region[3] = bh;
    return VV_OK;
}

/* The plate's fine detail at (x, y) (it minus its mean over the 5x5 pixels around) added to
 * q: the ground's grain (canvas, film) on a smooth fill of it. */
static void plate_grain(const head3d *h, int x, int y, uint8_t q[3]) {
    int w = h->plate.width, hh = h->plate.height, sum[3] = {0, 0, 0}, n = 0;
    for (int dy = -2; dy <= 2; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= hh) continue;
        for (int dx = -2; dx <= 2; dx++) {
            int xx = x + dx;
            if (xx < 0 || xx >= w) continue;
            const uint8_t *p = h->plate.data + ((size_t)yy * w + xx) * 3;
            for (int c = 0; c < 3; c++) sum[c] += p[c];
            n++;
        }
    }
    const uint8_t *p = h->plate.data + ((size_t)y * w + x) * 3;
    for (int c = 0; c < 3; c++) {
        int v = q[c] + p[c] - (sum[c] + n / 2) / n;
        q[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* A side pixel beyond the nose's bridge on a three-quarter face's far side, and one before it. */
static bool pixel_side_far(const head3d *h, size_t i) {
    return pixel_side(h, i) && ((float)(i % (size_t)h->source.width) - h->side_bridge) * h->far_side > 0;
}
static bool pixel_side_near(const head3d *h, size_t i) { return pixel_side(h, i) && !pixel_side_far(h, i); }

/* The far side beyond the silhouette reaches its full fill at 1 / SIDE_BEYOND_GAIN of the
 * side's share: part way, the stretched strip under it (the cheek's lit edge drawn wide)
 * showed through as a pale translucent band between the cheek and the dark ground (the Pearl
 * under lp_d3, frames 40 and 187: share 0.55-0.6; test_head3d far_side_part_way). */
#define SIDE_BEYOND_GAIN 2.0f
/* side_fill over the pixels `marked` picks.  beyond: the far side of a three-quarter face,
 * painted from what lies beyond the silhouette only (no face pixel known), with its grain. */
static vv_status side_fill_part(head3d *h, vv_image *out, const int box[4], const int scan[4], float share, bool twins,
                                bool (*marked)(const head3d *, size_t), bool beyond) {
    int w = h->source.width, region[4];
    vv_status s = fill_region(h, out, box, scan, marked, 0.25f, region);
    if (s != VV_OK || region[2] == 0) return s;
    int x0 = region[0], y0 = region[1], bw = region[2], bh = region[3];
    /* Beyond the silhouette of a three-quarter face (its far side, past the nose's bridge
     * now), painted from what lies beyond it only: with the face's lit edge among the known
     * pixels, the side of the head became a soft glow of skin fading into the dark ground (the
     * Girl with a Pearl Earring, La Velata at +12/+25); with the face's pixels before the
     * bridge known, still a ramp from them (her far cheek at frame 166 of lp_d12).  A fold on
     * the near side (before the ear) keeps the skin around it. */
    for (int y = 0; beyond && y < bh; y++)
        for (int x = 0; x < bw; x++) {
            int px = x0 + x, py = y0 + y;
            if (px < box[0] || px > box[2] || py < box[1] || py > box[3]) continue;
            size_t i = (size_t)py * w + px;
            if (h->coverage[i] && (h->raster_layer[i] & LAYER_MASK) < HEAD3D_LAYER_OUTER) h->side_known[(size_t)y * bw + x] = 0;
        }
    /* the ground's grain: the plate's (without one, the pixels' around, carried in) */
    s = beyond && !h->have_matte ? image_fill_holes_textured(&h->side_box, h->side_known, 1, 1) : image_fill_holes(&h->side_box, h->side_known, 1);
    float gain = beyond ? SIDE_BEYOND_GAIN : 1;
    int k = (int)lroundf(255 * fminf(1, share * gain));
    for (int y = 0; s == VV_OK && y < bh; y++)
        for (int x = 0; x < bw; x++)
            if (!h->side_known[(size_t)y * bw + x] && x0 + x >= box[0] && x0 + x <= box[2] && y0 + y >= box[1] && y0 + y <= box[3] &&
                marked(h, (size_t)(y0 + y) * w + x0 + x)) { /* the side's (not the face's, unknown too) */
                size_t i = (size_t)(y0 + y) * w + x0 + x;
                uint8_t *p = out->data + ((size_t)(y0 + y) * out->width + x0 + x) * 3, q[3];
                memcpy(q, h->side_box.data + ((size_t)y * bw + x) * 3, 3);
                /* the twin's share over the fill */
                int t = twins && (h->raster_layer[i] & TWIN) ? h->share.data[i * 3] : 0;
                for (int c = 0; t && c < 3; c++) q[c] = blend255(h->mirrored.data[i * 3 + c], q[c], t);
                if (beyond && h->have_matte) plate_grain(h, x0 + x, y0 + y, q);
                for (int c = 0; c < 3; c++) p[c] = blend255(q[c], p[c], k);
            }
    return s;
}

static vv_status side_fill(head3d *h, vv_image *out, const int box[4], float share, bool twins) {
    /* where the SIDE triangles lie now (the scan for their pixels need not cover the box) */
    float tx0 = INFINITY, ty0 = INFINITY, tx1 = -INFINITY, ty1 = -INFINITY;
    for (int t = h->face_end; t < h->frame_first; t++) {
        if (h->layer[t] != HEAD3D_LAYER_SIDE) continue;
        for (int k = 0; k < 3; k++) {
            const float *p = h->posed[h->triangles[t][k]];
            tx0 = fminf(tx0, p[0]); tx1 = fmaxf(tx1, p[0]);
            ty0 = fminf(ty0, p[1]); ty1 = fmaxf(ty1, p[1]);
        }
    }
    if (!(tx1 >= tx0) || !(ty1 >= ty0)) return VV_OK;
    /* clamped as floats first: a posed point may lie far outside */
    int scan[4] = {(int)fmaxf(tx0, -1), (int)fmaxf(ty0, -1), (int)fminf(tx1 + 1, (float)h->width), (int)fminf(ty1 + 1, (float)h->height)};
    if (h->side_twins || h->far_side == 0) return side_fill_part(h, out, box, scan, share, twins, pixel_side, false);
    /* the far side and the near one apart: each in a box of its own, so the far side's
     * fill sees no skin of the near one */
    h->side_bridge = h->posed[FACE_MESH_NOSE_BRIDGE][0];
    vv_status s = side_fill_part(h, out, box, scan, share, twins, pixel_side_far, true);
    return s == VV_OK ? side_fill_part(h, out, box, scan, share, twins, pixel_side_near, false) : s;
}

/* The face where a turn stretches it (stretch_fill's share in the raster's `stretch`,
 * STRETCH winners inside box): painted smoothly from the pixels around it, as side_fill
 * paints the side of the head. */
#define STRETCH_GRAIN_EYE 40.0f /* the grain's radius: the eye distance over this */
static vv_status stretch_fill(head3d *h, vv_image *out, const int box[4], const int fill_box[4]) {
    int w = h->source.width, region[4];
    vv_status s = fill_region(h, out, box, fill_box, pixel_stretched, 0.25f, region);
    if (s != VV_OK || region[2] == 0) return s;
    int x0 = region[0], y0 = region[1], bw = region[2], bh = region[3];
    /* The side of the head is painted already (side_fill), from around it too: taken as
     * known here, a three-quarter portrait's far cheek turned to the camera became a pale
     * fog of the wall beyond it (lp_d3 from its frame 275). */
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            int px = x0 + x, py = y0 + y;
            if (px >= box[0] && px <= box[2] && py >= box[1] && py <= box[3] && pixel_side(h, (size_t)py * w + px))
                h->side_known[(size_t)y * bw + x] = 0;
        }
    /* the portrait's grain carried in (a painting's craquelure, skin's pores): a smooth
     * fill read as a blurred patch pasted over the far cheek */
    int grain = (int)lroundf(h->eye_distance / STRETCH_GRAIN_EYE);
    s = grain > 0 ? image_fill_holes_textured(&h->side_box, h->side_known, grain, 1) : image_fill_holes(&h->side_box, h->side_known, 1);
    for (int y = 0; s == VV_OK && y < bh; y++)
        for (int x = 0; x < bw; x++)
            if (!h->side_known[(size_t)y * bw + x] && pixel_stretched(h, (size_t)(y0 + y) * w + x0 + x)) {
                int k = h->stretch.data[(size_t)(y0 + y) * w + x0 + x];
                uint8_t *p = out->data + ((size_t)(y0 + y) * out->width + x0 + x) * 3;
                const uint8_t *q = h->side_box.data + ((size_t)y * bw + x) * 3;
                for (int c = 0; c < 3; c++) p[c] = blend255(q[c], p[c], k);
            }
    return s;
}

/* The stretched translucent pixels (FIRM winners inside box, the share in `firm`; see
 * FIRM_FROM): as far as they look like the plate under them, their colours painted from the
 * opaque head around them (never the background), over the plate by their alpha. */
static bool pixel_firm(const head3d *h, size_t i) {
    return h->coverage[i] && (h->raster_layer[i] & (FIRM | TRANSLUCENT | CLEAR)) == (FIRM | TRANSLUCENT) && h->firm.data[i] && h->alpha.data[i];
}
static vv_status firm_fill(head3d *h, vv_image *out, const int box[4], const int firm_box[4]) {
    int w = h->source.width, region[4];
    vv_status s = fill_region(h, out, box, firm_box, pixel_firm, 0.25f, region);
    if (s != VV_OK || region[2] == 0) return s;
    int x0 = region[0], y0 = region[1], bw = region[2], bh = region[3];
    for (int y = 0; y < bh; y++) /* known: the head's opaque pixels only */
        for (int x = 0; x < bw; x++) {
            int px = x0 + x, py = y0 + y;
            size_t i = (size_t)py * w + px;
            uint8_t *known = h->side_known + (size_t)y * bw + x;
            if (!*known) continue;
            bool inside = px >= box[0] && px <= box[2] && py >= box[1] && py <= box[3];
            int person = !inside ? h->matte1.data[i]
                         : !h->coverage[i] || (h->raster_layer[i] & CLEAR) ? 0
                         : (h->raster_layer[i] & TRANSLUCENT) ? h->alpha.data[i] : 255;
            if (person < OPAQUE) *known = 0;
        }
    int grain = (int)lroundf(h->eye_distance / STRETCH_GRAIN_EYE);
    s = grain > 0 ? image_fill_holes_textured(&h->side_box, h->side_known, grain, 1) : image_fill_holes(&h->side_box, h->side_known, 1);
    for (int y = 0; s == VV_OK && y < bh; y++)
        for (int x = 0; x < bw; x++) {
            size_t i = (size_t)(y0 + y) * w + x0 + x;
            int px = x0 + x, py = y0 + y;
            if (px < box[0] || px > box[2] || py < box[1] || py > box[3] || !pixel_firm(h, i)) continue;
            int k = h->firm.data[i], a = h->alpha.data[i];
            uint8_t *p = out->data + ((size_t)py * out->width + px) * 3;
            const uint8_t *q = h->side_box.data + ((size_t)y * bw + x) * 3, *u = h->plate.data + i * 3;
            /* as far as it looks like the plate under it: the background through the head */
            float d = sqrtf(((float)(p[0] - u[0]) * (p[0] - u[0]) + (float)(p[1] - u[1]) * (p[1] - u[1]) + (float)(p[2] - u[2]) * (p[2] - u[2])) / 3);
            float like = (FIRM_APART - d) / (0.5f * FIRM_APART);
            k = (int)lroundf(k * (like < 0 ? 0 : like > 1 ? 1 : like));
            for (int c = 0; c < 3; c++) p[c] = blend255(blend255(q[c], u[c], a), p[c], k);
        }
    return s;
}

/* The strip against the face's outline where a turn stretches it (a triangle drawn over
 * STRIP_FROM .. STRIP_FULL times its rest size along its most stretched direction, the
 * head's scale aside): a band of hair a few pixels wide at rest drawn as streaks along that
 * direction (young Einstein's hair beside his far cheek at +25 degrees).  Its pixels that the
 * triangle won are smoothed across the streaks, over STRIP_BLUR eye distances each way (1-3
 * pixels), in proportion: the colours stay the strip's own (painting it from around drew a
 * halo). */
#define STRIP_FROM 1.8f
#define STRIP_FULL 3.0f
#define STRIP_BLUR 0.03f
/* How much an OUTER triangle (not clear) is stretched, 0 below STRIP_FROM .. 1 from
 * STRIP_FULL, and the image direction across its streaks; false when it is degenerate, or
 * with `strip` when it is not in the strip (no corner on the face's outline): the rings
 * beyond keep their texture wide enough. */
/* The larger singular value of triangle t's map from its rest (source) shape onto its posed
 * one, over the head's scale, and J J^T's entries (a, b, d) and larger eigenvalue for its
 * direction; false when its rest area (twice it) is not over min_det. */
static bool triangle_stretch(const head3d *h, int t, float scale, float min_det, float *stretch, float jjt[4]) {
    const int *c = h->triangles[t];
    const float *p0 = h->posed[c[0]], *p1 = h->posed[c[1]], *p2 = h->posed[c[2]];
    const float *r0 = h->src[c[0]], *r1 = h->src[c[1]], *r2 = h->src[c[2]];
    float rx1 = r1[0] - r0[0], ry1 = r1[1] - r0[1], rx2 = r2[0] - r0[0], ry2 = r2[1] - r0[1], det = rx1 * ry2 - rx2 * ry1;
    if (!(fabsf(det) > min_det)) return false;
    float px1 = p1[0] - p0[0], py1 = p1[1] - p0[1], px2 = p2[0] - p0[0], py2 = p2[1] - p0[1];
    /* J = P R^-1: the rest triangle's map onto the posed one */
    float j00 = (px1 * ry2 - px2 * ry1) / det, j01 = (px2 * rx1 - px1 * rx2) / det;
    float j10 = (py1 * ry2 - py2 * ry1) / det, j11 = (py2 * rx1 - py1 * rx2) / det;
    float a = j00 * j00 + j01 * j01, b = j00 * j10 + j01 * j11, d = j10 * j10 + j11 * j11;
    float big = 0.5f * (a + d) + sqrtf(fmaxf(0, 0.25f * (a - d) * (a - d) + b * b));
    *stretch = sqrtf(fmaxf(big, 0)) / fmaxf(scale, 1e-3f);
    jjt[0] = a, jjt[1] = b, jjt[2] = d, jjt[3] = big;
    return true;
}

static bool strip_stretch(const head3d *h, int t, float scale, bool strip, float *k, float *nx, float *ny) {
    const int *c = h->triangles[t];
    if (h->layer[t] != HEAD3D_LAYER_OUTER || h->is_clear[t] || (strip && c[0] >= FACE_VERTICES && c[1] >= FACE_VERTICES && c[2] >= FACE_VERTICES))
        return false;
    float stretch, m[4];
    if (!triangle_stretch(h, t, scale, 1e-3f, &stretch, m)) return false;
    float a = m[0], b = m[1], d = m[2], big = m[3];
    float kk = (stretch - STRIP_FROM) / (STRIP_FULL - STRIP_FROM);
    *k = kk > 1 ? 1 : kk > 0 ? kk : 0;
    float ux = b, uy = big - a; /* eigenvector of J J^T for `big`: along the streaks */
    if (fabsf(ux) + fabsf(uy) < 1e-6f) ux = big - d, uy = b;
    if (fabsf(ux) + fabsf(uy) < 1e-6f) ux = 1, uy = 0;
    float len = hypotf(ux, uy);
    *nx = -uy / len; /* across them */
    *ny = ux / len;
    return true;
}

/* The strength is each corner's (the most of its strip triangles'), interpolated over the
 * triangle, and fades out over the next ring's triangles (their outer corners 0): a
 * triangle's own, constant over it, jumped from smoothed to sharp at its edges and at the
 * strip's outer edge, and the ear a turn brings to the camera, in triangles stretched less
 * than the strip round it or just beyond it, stood sharp inside blurred hair: cut out and
 * pasted (lp_s5, lp_s3, Grace Hopper at +25). */
static void strip_smooth(head3d *h, vv_image *out, float scale, const int box[4]) {
    int w = h->source.width, radius = (int)fminf(3, fmaxf(1, STRIP_BLUR * h->eye_distance + 0.5f));
    if (!h->strip_k && !(h->strip_k = malloc(sizeof *h->strip_k * VERTEX_COUNT))) return; /* only a smoothing */
    float *vk = h->strip_k;
    bool any = false;
    for (int v = 0; v < h->vertex_count; v++) vk[v] = 0;
    for (int t = h->face_end; t < h->frame_first; t++) {
        float k, nx, ny;
        if (!strip_stretch(h, t, scale, true, &k, &nx, &ny) || !(k > 0)) continue;
        for (int c = 0; c < 3; c++) vk[h->triangles[t][c]] = fmaxf(vk[h->triangles[t][c]], k);
        any = true;
    }
    for (int t = h->face_end; any && t < h->frame_first; t++) {
        const int *c = h->triangles[t];
        float k, nx, ny;
        if (!strip_stretch(h, t, scale, false, &k, &nx, &ny) || !(vk[c[0]] > 0 || vk[c[1]] > 0 || vk[c[2]] > 0)) continue;
        bool beyond = c[0] >= FACE_VERTICES && c[1] >= FACE_VERTICES && c[2] >= FACE_VERTICES; /* the next ring */
        const float *p0 = h->posed[c[0]], *p1 = h->posed[c[1]], *p2 = h->posed[c[2]];
        int x0 = (int)floorf(fminf(p0[0], fminf(p1[0], p2[0]))), x1 = (int)ceilf(fmaxf(p0[0], fmaxf(p1[0], p2[0])));
        int y0 = (int)floorf(fminf(p0[1], fminf(p1[1], p2[1]))), y1 = (int)ceilf(fmaxf(p0[1], fmaxf(p1[1], p2[1])));
        x0 = x0 < box[0] ? box[0] : x0, y0 = y0 < box[1] ? box[1] : y0;
        x1 = x1 > box[2] ? box[2] : x1, y1 = y1 > box[3] ? box[3] : y1;
        if (x1 < x0 || y1 < y0) continue;
        /* a copy of the triangle's box and the blur's reach round it: the samples read the
         * frame as it was */
        int cx0 = x0 - radius - 1 < 0 ? 0 : x0 - radius - 1, cy0 = y0 - radius - 1 < 0 ? 0 : y0 - radius - 1;
        int cx1 = x1 + radius + 1 > h->width - 1 ? h->width - 1 : x1 + radius + 1, cy1 = y1 + radius + 1 > h->height - 1 ? h->height - 1 : y1 + radius + 1;
        int cw = cx1 - cx0 + 1, ch = cy1 - cy0 + 1;
        const uint8_t *saved = frame_box_copy(h, out, cx0, cy0, cw, ch);
        if (!saved) return; /* only a smoothing: the frame stands without it */
        vv_image copy = {cw, ch, 3, (uint8_t *)saved};
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                size_t i = (size_t)y * w + x;
                if (!h->coverage[i] || (h->raster_layer[i] & LAYER_MASK) != HEAD3D_LAYER_OUTER) continue;
                float bw[3];
                if (!barycentric(p0, p1, p2, (float)x, (float)y, bw) || bw[0] < 0 || bw[1] < 0 || bw[2] < 0) continue;
                float kp = bw[0] * vk[c[0]] + bw[1] * vk[c[1]] + bw[2] * vk[c[2]];
                if (beyond) kp = 2 * kp - 1; /* over the half of it nearer the strip */
                if (kp < 0.02f) continue; /* under half a level on a 255 step */
                int sum[3] = {0, 0, 0};
                for (int q = -radius; q <= radius; q++) { /* the nearest pixel: within the copy by its margin */
                    int sx = (int)lroundf(x - cx0 + q * nx), sy = (int)lroundf(y - cy0 + q * ny);
                    sx = sx < 0 ? 0 : sx >= cw ? cw - 1 : sx;
                    sy = sy < 0 ? 0 : sy >= ch ? ch - 1 : sy;
                    const uint8_t *q3 = copy.data + ((size_t)sy * cw + sx) * 3;
                    for (int ch3 = 0; ch3 < 3; ch3++) sum[ch3] += q3[ch3];
                }
                uint8_t *o = out->data + ((size_t)y * out->width + x) * 3;
                for (int ch3 = 0; ch3 < 3; ch3++) {
                    float v = o[ch3] + kp * ((float)sum[ch3] / (2 * radius + 1) - o[ch3]);
                    o[ch3] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                }
            }
    }
}

/* How far a vertex with rest normal n has turned towards the camera under rotation R: the
 * rise of its normal's z, in units of 0.15 (unclamped; negative turning away). */
static inline float turned_to_camera(const float (*R)[3], const float *n) {
    return (R[2][0] * n[0] + R[2][1] * n[1] + R[2][2] * n[2] - n[2]) / 0.15f;
}

/* box (x0, y0, x1, y1) grown to hold the pixel cell of point p (NaNs left out). */
static void box_grow(int box[4], const float *p) {
    if (!(p[0] == p[0]) || !(p[1] == p[1])) return;
    int x = (int)floorf(p[0]), y = (int)floorf(p[1]);
    if (x < box[0]) box[0] = x;
    if (y < box[1]) box[1] = y;
    if (x + 1 > box[2]) box[2] = x + 1;
    if (y + 1 > box[3]) box[3] = y + 1;
}

/* The head's rigid motion of a point x (x, y, depth): o + scale R (x - o) + translation
 * (in the image plane), o the pose origin at the pivot's depth.  rigid_turn gives o and
 * the middle term, rigid_move the sum. */
static void rigid_turn(const head3d *h, const motion_rigid *r, const float x[3], float o[3], float turned[3]) {
    o[0] = r->origin[0];
    o[1] = r->origin[1];
    o[2] = h->pivot_depth;
    float q[3] = {x[0] - o[0], x[1] - o[1], x[2] - o[2]};
    for (int i = 0; i < 3; i++)
        turned[i] = r->scale * (r->rotation[i][0] * q[0] + r->rotation[i][1] * q[1] + r->rotation[i][2] * q[2]);
}

static void rigid_move(const head3d *h, const motion_rigid *r, const float x[3], float y[3]) {
    float o[3], turned[3];
    rigid_turn(h, r, x, o, turned);
    for (int i = 0; i < 3; i++) y[i] = o[i] + turned[i] + (i < 2 ? r->translation[i] : 0);
}

vv_status head3d_render(head3d *h, const head3d_frame *f, vv_image *out) {
    if (!h || !f || !out) return vv_fail(VV_ERR_INVALID_ARGUMENT, "head3d_render: NULL argument");
    int w = h->source.width, hh = h->source.height;
    vv_status s = VV_OK;
    if (out->width != h->width || out->height != h->height || out->channels != 3) {
        image_free(out);
        s = image_create(out, h->width, h->height, 3);
    }
    /* The raster draws straight into the frame when it has the portrait's size (odd sides:
     * into a canvas of its own, copied over). */
    bool direct = s == VV_OK && out->width == w && out->height == hh;
    if (s == VV_OK && !direct && (h->color.width != w || h->color.height != hh)) {
        image_free(&h->color);
        s = image_create(&h->color, w, hh, 3);
    }
    if (s == VV_OK && h->have_matte && (h->alpha.width != w || h->alpha.height != hh || h->alpha.channels != 1)) {
        image_free(&h->alpha);
        s = image_create(&h->alpha, w, hh, 1);
    }
    if (s != VV_OK) return s;
    /* The body's motion: where the head's rigid motion takes the skull's centre (a head
     * turning about its neck leaves it nearly in place; a driver moving in the frame moves
     * it), with the head's scale; no rotation. */
    float torso_shift[3], moved_centre[3];
    rigid_move(h, &f->rigid, h->head_centre, moved_centre);
    for (int i = 0; i < 3; i++) torso_shift[i] = moved_centre[i] - h->head_centre[i];
    /* Under a quarter of a pixel at the portrait's edge the body is taken as still (the whole
     * picture is then not redrawn; the jump when it starts to move is under that). */
    float reach = 0.5f * (float)(w > hh ? w : hh);
    bool body_moves = fabsf(torso_shift[0]) > BODY_STILL || fabsf(torso_shift[1]) > BODY_STILL ||
                      fabsf(f->rigid.scale - 1) * reach > BODY_STILL;
    float body_scale = body_moves ? f->rigid.scale : 1;
    if (!body_moves) torso_shift[0] = torso_shift[1] = torso_shift[2] = 0;
    /* 1. Expression over the face, 2. the rigid motion, blended by each vertex's weight
     * with the body's. */
    float anchor_d[ANCHOR_MAX][2];
    anchors_move(h, f, anchor_d);
    float gap[2] = {brow_gap_stretch(h, 0, (const float(*)[2])anchor_d), brow_gap_stretch(h, 1, (const float(*)[2])anchor_d)};
    for (int v = 0; v < h->vertex_count; v++) {
        float x[3] = {h->src[v][0], h->src[v][1], h->src[v][2]};
        if (v < FACE_VERTICES) {
            float o[2];
            vertex_offset(h, v, (const float(*)[2])anchor_d, o);
            x[0] += o[0];
            x[1] += o[1];
        }
        float y[3];
        rigid_move(h, &f->rigid, x, y);
        float wt = h->weight[v], body[3];
        /* the body's share: 1 from a quarter of the picture inside its border, 0 on it;
         * over a plate the top edge is free (hair cut by it moves down with the head and
         * uncovers the plate's background; pinned, it stretched into a streak) */
        float top = h->have_matte ? INFINITY : x[1] + 0.5f;
        float edge = fminf(fminf(x[0] + 0.5f, (float)w - 0.5f - x[0]), fminf(top, (float)hh - 0.5f - x[1]));
        float share = edge <= 0 ? 0 : edge >= h->body_reach ? 1 : edge / h->body_reach;
        for (int i = 0; i < 3; i++) body[i] = x[i] + share * (h->head_centre[i] + torso_shift[i] + body_scale * (x[i] - h->head_centre[i]) - x[i]);
        for (int i = 0; i < 3; i++) h->posed[v][i] = wt * y[i] + (1 - wt) * body[i];
    }
    for (int e = 0; e < 2; e++) { /* a closing upper lid in front of the lower one it covers */
        float open = f->eye_openness[e];
        open = isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1;
        float shut = open < 0 ? 1 : open > 1 ? 0 : 1 - open;
        for (int i = 1; i < FACE_MESH_LID_POINTS - 1 && shut > 0; i++)
            h->posed[face_mesh_lid_upper[e][i]][2] += lid_deep(1 - shut) * LID_NEARER * h->eye_width[e];
    }
    /* The far side of a turned face, turned towards the camera, has no pixels of its own:
     * its texture then comes, in proportion, from its twin across the midline (the side the
     * portrait shows), blended by colour in a second render.  Share per vertex: how much
     * better its twin was seen at rest, times how much it turns towards the camera now.
     * Nothing of this at rest, nor for a face turning away. */
    float most = 0;
    bool any_stretch = false;
    const float (*R)[3] = (const float(*)[3])f->rigid.rotation;
    float yawish = fabsf(R[2][0]) / (fabsf(R[2][0]) + fabsf(R[2][1]) + 1e-6f); /* how much of the turn is about the vertical */
    for (int v = 0; v < h->vertex_count; v++) {
        h->texcoord[v][0] = h->texcoord_rest[v][0];
        h->texcoord[v][1] = h->texcoord_rest[v][1];
        float k = 0, stretched = 0;
        if (v < FACE_VERTICES) {
            const float *n = h->normal[v];
            int twin = topology.mirror[v];
            /* the twin must be seen clearly itself (not the near side's own rim, hair and all),
             * and the vertex poorly (a far eye the portrait shows is its own, not a copy) */
            float better = (h->normal[twin][2] - n[2] - 0.08f) / 0.25f, turned = turned_to_camera(R, n);
            float clear = (h->normal[twin][2] - 0.4f) / 0.2f, faint = (0.45f - n[2]) / 0.2f;
            better = better < 0 ? 0 : better > 1 ? 1 : better;
            better *= clear < 0 ? 0 : clear > 1 ? 1 : clear;
            better *= faint < 0 ? 0 : faint > 1 ? 1 : faint; /* only what the portrait shows poorly */
            turned = turned < 0 ? 0 : turned > 1 ? 1 : turned;
            k = better * turned * fminf(h->twin_reach[v], h->twin_reach[twin]) * h->twin_light[v];
            /* seen this many times wider than at rest, less what the twin gives */
            float now = R[2][0] * n[0] + R[2][1] * n[1] + R[2][2] * n[2], wider = now / fmaxf(n[2], 0.02f);
            float st = (wider - STRETCH_FROM) / (STRETCH_FULL - STRETCH_FROM);
            st = st < 0 ? 0 : st > 1 ? 1 : st;
            float sideways = (fabsf(n[0]) / fmaxf(hypotf(n[0], n[1]), 1e-3f) - 0.8f) / 0.15f; /* 0 at 37, 1 at 18 degrees off horizontal */
            float flank = (wider - FLANK_FROM) / (FLANK_FULL - FLANK_FROM);
            flank = (flank < 0 ? 0 : flank > 1 ? 1 : flank) * (sideways < 0 ? 0 : sideways > 1 ? 1 : sideways) * (1 - h->twin_reach[v]) * yawish;
            st = fmaxf(st, flank);
            stretched = st * turned * (1 - k);
            any_stretch |= stretched > 0.01f;
        }
        h->texcoord_stretch[v][0] = stretched * 255;
        h->texcoord_stretch[v][1] = 0;
        h->texcoord_share[v][0] = k * 255;
        h->texcoord_share[v][1] = 0;
        most = k > most ? k : most;
    }
    /* The side of the head (the strip beyond a folded outline): in proportion as far as the
     * far side turns to the camera, its twin's texture across the midline, the side of the
     * head the portrait shows (its ear, hair, the shade behind the cheek). */
    float side_share = 0;
    for (int v = 0; h->has_side && v < FACE_VERTICES; v++) {
        if (!h->folded[v]) continue;
        const float *n = h->normal[v];
        float turned = turned_to_camera(R, n);
        side_share = turned > side_share ? turned : side_share;
    }
    side_share = side_share > 1 ? 1 : side_share;
    bool side_twins = h->side_twins && side_share > 0.01f;
    for (int k = 0; k < h->ear_count; k++) { /* the ears of the folded outline turning to the camera */
        const float *n = h->normal[h->ear[k][1]];
        bool turning = turned_to_camera(R, n) > 0.01f;
        for (int c = 0; c < 3; c++) h->triangles[h->ear_first + k][c] = h->ear[k][turning ? c : 1];
    }
    for (int t = h->face_end; side_twins && t < h->frame_first; t++) {
        if (h->layer[t] != HEAD3D_LAYER_SIDE || h->side_own[t]) continue;
        float own = 0; /* as far as this triangle's own folded corners turn to the camera */
        for (int k = 0; k < 3; k++) {
            int v = h->triangles[t][k];
            if (v >= FACE_VERTICES || !h->folded[v]) continue;
            /* and only from a twin the portrait shows better (the near side's; a far side
             * copied onto the near one is the compressed edge of a cheek, in streaks) */
            const float *n = h->normal[v];
            float turned = turned_to_camera(R, n);
            float better = (h->normal[topology.mirror[v]][2] - n[2] - 0.08f) / 0.25f;
            if (h->folded[topology.mirror[v]]) better = 0; /* the twin folded too: the face again */
            better = better < 0 ? 0 : better > 1 ? 1 : better;
            turned = turned < 0 ? 0 : turned > 1 ? 1 : turned;
            own = turned * better > own ? turned * better : own;
        }
        own = own > 1 ? 1 : own;
        for (int k = 0; k < 3; k++) {
            int v = h->triangles[t][k];
            h->texcoord_share[v][0] = fmaxf(h->texcoord_share[v][0], own * 255);
        }
        most = own > most ? own : most;
    }
    /* Closing lids: their margins' texture taken a little outside the eye (in proportion to
     * the closing), so the skin stretched over the eye does not carry the white's edge along
     * (a shut eye drew a thin white line where the lids meet). */
    for (int e = 0; e < 2; e++) {
        float open = f->eye_openness[e];
        open = isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1;
        float shut = open < 0 ? 1 : open > 1 ? 0 : 1 - open;
        if (shut <= 0) continue;
        float inset = shut * LID_INSET * h->eye_width[e], cx = h->lid_centre[e][0], cy = h->lid_centre[e][1];
        for (int lid = 0; lid < 2; lid++)
            for (int i = 1; i < FACE_MESH_LID_POINTS - 1; i++) {
                int v = lid ? face_mesh_lid_lower[e][i] : face_mesh_lid_upper[e][i];
                float dx = h->src[v][0] - cx, dy = h->src[v][1] - cy, d = hypotf(dx, dy);
                if (!(d > 1e-3f)) continue;
                h->texcoord[v][0] = h->texcoord_rest[v][0] + inset * dx / d;
                h->texcoord[v][1] = h->texcoord_rest[v][1] + inset * dy / d;
            }
    }
    /* Outer rings from the second on: no nearer to the moved skull centre than at rest. */
    {
        /* the moved skull centre, summed in this order (rigid_move's rounds differently by
         * an ulp, which moves a ring vertex, which changes the rendered frames' bits) */
        const motion_rigid *r = &f->rigid;
        float o[3], turned[3], c[2];
        rigid_turn(h, r, h->head_centre, o, turned);
        for (int i = 0; i < 2; i++) c[i] = o[i] + r->translation[i] + turned[i];
        for (int v = FACE_VERTICES + OVAL; v < FRAME_FIRST; v++) {
            float wt = h->weight[v];
            if (wt <= 0) continue;
            float dx = h->posed[v][0] - c[0], dy = h->posed[v][1] - c[1], d = hypotf(dx, dy);
            float want = h->ring_radius[v - FACE_VERTICES] * (1 + wt * (r->scale - 1));
            if (d > 1e-3f && d < want) {
                float k = v < FACE_VERTICES + 2 * OVAL ? 0.5f : 1.0f, grow = 1 + k * (want / d - 1);
                h->posed[v][0] = c[0] + dx * grow;
                h->posed[v][1] = c[1] + dy * grow;
            }
        }
    }
    if (f->has_target) landmarks_correct(h, f);
    /* Nothing moves (the reference pose, a still driver, no glance): the portrait as it is. */
    int m = 0;
    for (int v = 0; v < h->vertex_count && !m; v++)
        m = fabsf(h->posed[v][0] - h->src[v][0]) > STATIC_MOTION || fabsf(h->posed[v][1] - h->src[v][1]) > STATIC_MOTION;
    for (int e = 0; e < 2 && !m; e++) {
        float sx, sy;
        m = gaze_shift(h, f, e, &sx, &sy); /* eyes_gaze needs the render's layer map */
    }
    if (!m) {
        for (int y = 0; y < h->height; y++)
            memcpy(out->data + (size_t)y * h->width * 3, h->source.data + (size_t)y * w * 3, (size_t)h->width * 3);
        memcpy(h->last68, h->source68, sizeof h->last68);
        return VV_OK;
    }
    /* The work is confined to a box: where the moving part is now or was at rest. */
    int bx0 = h->foot_box[0], by0 = h->foot_box[1], bx1 = h->foot_box[2], by1 = h->foot_box[3];
    if (body_moves) { /* the whole picture moves */
        bx0 = by0 = 0;
        bx1 = w - 1;
        by1 = hh - 1;
    }
    for (int v = 0; v < (body_moves ? h->vertex_count : FRAME_FIRST); v++) { /* the drawn triangles' corners */
        float x = h->posed[v][0], y = h->posed[v][1];
        if (!(x == x) || !(y == y)) continue;
        if (x < bx0) bx0 = x < 0 ? 0 : (int)x;
        if (y < by0) by0 = y < 0 ? 0 : (int)y;
        if (x + 1 > bx1) bx1 = x + 1 >= w ? w - 1 : (int)(x + 1);
        if (y + 1 > by1) by1 = y + 1 >= hh ? hh - 1 : (int)(y + 1);
    }
    bool mirror = m && most > 0.01f;
    for (int t = 0; t < h->triangle_count; t++) {
        const int *c = h->triangles[t];
        h->takes_twin[t] = mirror && (t < h->face_end || (side_twins && h->layer[t] == HEAD3D_LAYER_SIDE && !h->side_own[t])) &&
                           (h->texcoord_share[c[0]][0] > 0 || h->texcoord_share[c[1]][0] > 0 || h->texcoord_share[c[2]][0] > 0);
        h->takes_fill[t] = any_stretch && t < h->face_end && !h->is_clear[t] && /* CLEAR: no extras drawn */
                           (h->texcoord_stretch[c[0]][0] > 0 || h->texcoord_stretch[c[1]][0] > 0 || h->texcoord_stretch[c[2]][0] > 0);
        h->draw_layer[t] = (uint8_t)((h->draw_layer[t] & ~(TWIN | STRETCH)) | (h->takes_twin[t] ? TWIN : 0) | (h->takes_fill[t] ? STRETCH : 0));
    }
    /* The firm share (FIRM_FROM) per vertex: from the largest stretch (beyond the head's
     * scale) of the translucent triangles round it. */
    int drawn = body_moves ? h->triangle_count : h->frame_first, firm_box[4] = {w, hh, -1, -1};
    bool any_firm = false;
    if (h->have_matte) {
        float gain[VERTEX_COUNT] = {0}, scale = f->rigid.scale > 0.1f ? f->rigid.scale : 1;
        for (int t = h->face_end; t < drawn; t++) { /* the rings' (the face's own stretch: stretch_fill) */
            if (!h->is_translucent[t]) continue;
            const int *c = h->triangles[t];
            float widest, jjt[4];
            if (!triangle_stretch(h, t, scale, 1.0f, &widest, jjt)) continue; /* under a square pixel at rest: no measure */
            for (int k = 0; k < 3; k++) gain[c[k]] = fmaxf(gain[c[k]], widest);
        }
        for (int v = 0; v < h->vertex_count; v++) {
            float k = (gain[v] - FIRM_FROM) / (FIRM_FULL - FIRM_FROM);
            h->texcoord_firm[v][0] = (k < 0 ? 0 : k > 1 ? 1 : k) * 255;
            h->texcoord_firm[v][1] = 0;
        }
        for (int t = 0; t < h->triangle_count; t++) {
            const int *c = h->triangles[t];
            h->takes_firm[t] = t >= h->face_end && t < drawn && h->is_translucent[t] &&
                               (h->texcoord_firm[c[0]][0] > 0 || h->texcoord_firm[c[1]][0] > 0 || h->texcoord_firm[c[2]][0] > 0);
            h->draw_layer[t] = (uint8_t)((h->draw_layer[t] & ~FIRM) | (h->takes_firm[t] ? FIRM : 0));
            for (int k = 0; h->takes_firm[t] && k < 3; k++) box_grow(firm_box, h->posed[c[k]]);
            any_firm |= h->takes_firm[t];
        }
    }
    if (s == VV_OK && any_firm && (h->firm.width != w || h->firm.height != hh)) {
        image_free(&h->firm);
        s = image_create(&h->firm, w, hh, 1);
    }
    int fill_box[4] = {w, hh, -1, -1};
    for (int t = 0; any_stretch && t < h->face_end; t++)
        for (int k = 0; h->takes_fill[t] && k < 3; k++) box_grow(fill_box, h->posed[h->triangles[t][k]]);
    if (s == VV_OK && any_stretch && (h->stretch.width != w || h->stretch.height != hh)) {
        image_free(&h->stretch);
        s = image_create(&h->stretch, w, hh, 1);
    }
    if (s == VV_OK && mirror && (h->mirrored.width != w || h->mirrored.height != hh)) {
        image_free(&h->mirrored);
        image_free(&h->share);
        s = image_create(&h->mirrored, w, hh, 3);
        if (s == VV_OK) s = image_create(&h->share, w, hh, 3);
    }
    if (s != VV_OK) return s;
    /* The box the face (and the side of the head taking twins) covers now: the composite
     * blends the twins in there only. */
    int face_box[4] = {w, hh, -1, -1};
    for (int v = 0; mirror && v < FACE_VERTICES; v++) box_grow(face_box, h->posed[v]);
    for (int t = h->face_end; mirror && side_twins && t < h->frame_first; t++)
        for (int k = 0; h->layer[t] == HEAD3D_LAYER_SIDE && k < 3; k++) box_grow(face_box, h->posed[h->triangles[t][k]]);
    int fx0 = face_box[0], fy0 = face_box[1], fx1 = face_box[2], fy1 = face_box[3];
    fx0 = fx0 < 0 ? 0 : fx0;
    fy0 = fy0 < 0 ? 0 : fy0;
    fx1 = fx1 >= w ? w - 1 : fx1;
    fy1 = fy1 >= hh ? hh - 1 : fy1;
    /* One pass draws everything the composite needs, per winning pixel: the colour; where
     * a triangle crosses the matte's edge, its alpha; on the face, the twins' texture and
     * its share.  Background-only triangles write depth, the layer map and the plate.  The
     * face's own triangles that face the camera at rest are culled when they turn away;
     * the rest (folds at a turned face's far edge, and the outer rings: hair and ears may
     * face either way as the head turns; the z-buffer sorts them out) are drawn either way.
     * Each band of rows is cleared (depth, coverage; inside the box) just before it is
     * drawn and composited as soon as it is: drawn pixels over the plate (or as they are
     * without a matte), pixels the moving part covered at rest and no longer covers:
     * background; all while the rows are in cache. */
    vv_image *texture = h->have_matte ? &h->foreground : &h->source;
    /* shutting lids: their texture unfolds for this frame (put back after the draw) */
    float unfold[2] = {0, 0};
    for (int e = 0; e < 2; e++) {
        float open = f->eye_openness[e];
        unfold[e] = lid_unfold(isfinite(open) ? 1 + h->params.eyes * (open - 1) : 1);
    }
    bool unfolding = unfold[0] > 0 || unfold[1] > 0 || gap[0] > 0 || gap[1] > 0;
    if (unfolding) lid_skin_apply(h, texture, unfold, gap);
    composite_job job = {h, out, direct ? out->data : h->color.data, mirror, body_moves, {bx0, by0, bx1, by1}, {fx0, fy0, fx1, fy1}};
    raster_extra extras[RASTER_MAX_EXTRAS];
    int extra_count = 0;
    /* Beyond the portrait's edge the matte is unknown: clamped, a rim that is partly person
     * (hair over a flag at the top edge) drew streaks of its colours wherever the head moved
     * off the edge; only a firmly-person edge (a body cut by the frame) carries on. */
    if (h->have_matte) extras[extra_count++] = (raster_extra){NULL, h->is_translucent, &h->matte1, &h->alpha, OPAQUE};
    if (mirror) {
        extras[extra_count++] = (raster_extra){(const float(*)[2])h->texcoord_mirror, h->takes_twin, texture, &h->mirrored, 0};
        extras[extra_count++] = (raster_extra){(const float(*)[2])h->texcoord_share, h->takes_twin, &h->ramp, &h->share, 0};
    }
    if (any_stretch) extras[extra_count++] = (raster_extra){(const float(*)[2])h->texcoord_stretch, h->takes_fill, &h->ramp1, &h->stretch, 0};
    if (any_firm) extras[extra_count++] = (raster_extra){(const float(*)[2])h->texcoord_firm, h->takes_firm, &h->ramp1, &h->firm, 0};
    raster_mesh rm = {(const float(*)[3])h->posed, (const float(*)[2])h->texcoord, (const int(*)[3])h->triangles, h->vertex_count,
                      body_moves ? h->triangle_count : h->frame_first, h->draw_layer, h->is_clear, h->culls};
    raster_target rt = {direct ? out : &h->color, h->depth, h->coverage, h->raster_layer, extras, extra_count,
                        h->have_matte ? &h->plate : NULL, true, {bx0, by0, bx1, by1}, composite_band, &job,
                        {h->frame[0], h->frame[1], h->frame[2], h->frame[3]}};
    raster_params rp = {false, h->params.threads};
    s = raster_draw(&rt, texture, &rm, &rp);
    if (unfolding) lid_skin_apply(h, texture, (const float[2]){0, 0}, (const float[2]){0, 0});
    if (s != VV_OK) return s;
    raster_restore_frame(out, &h->source, h->frame); /* a frame line round the picture stays put */
    /* The side of the head, as far as the far side has turned to the camera (nothing of it
     * at rest, where the strip lies under the face or shows the portrait). */
    if (side_share > 0.004f && (s = side_fill(h, out, (const int[4]){bx0, by0, bx1, by1}, side_share, mirror)) != VV_OK) return s;
    if (any_stretch && (s = stretch_fill(h, out, (const int[4]){bx0, by0, bx1, by1}, fill_box)) != VV_OK) return s;
    if (any_firm && (s = firm_fill(h, out, (const int[4]){bx0, by0, bx1, by1}, firm_box)) != VV_OK) return s;
    strip_smooth(h, out, f->rigid.scale, (const int[4]){bx0, by0, bx1, by1});
    if (f->has_gaze) eyes_gaze(h, f, out);
    lids_shade(h, f, out);
    lids_lash(h, f, out);
    lids_soften(h, f, out);
    /* The frame's 68 points: the posed mesh's (x and y only: its depth's sign is moot). */
    face_mesh_to_landmarks68((const float(*)[3])h->posed, h->last68);
    /* The inner mouth where it opens wider than the source's, over the opening between the
     * mesh's own inner lips (the 68 points' eight cut across it: notches under the lip). */
    if (h->params.mouth_fill) {
        float upper[FACE_MESH_LIP_POINTS][2], lower[FACE_MESH_LIP_POINTS][2];
        for (int i = 0; i < FACE_MESH_LIP_POINTS; i++) {
            memcpy(upper[i], h->posed[face_mesh_lips_inner_upper[i]], sizeof upper[i]);
            memcpy(lower[i], h->posed[face_mesh_lips_inner_lower[i]], sizeof lower[i]);
        }
        warp_mouth_fill_contour(out, NULL, &h->source, (const float(*)[2])h->source68, (const float(*)[2])h->last68,
                                (const float(*)[2])upper, (const float(*)[2])lower, FACE_MESH_LIP_POINTS, f->driver_frame,
                                f->driver_points);
    }
    return VV_OK;
}
