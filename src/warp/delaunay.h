/* warp/delaunay: Delaunay triangulation of a point set in the plane (Bowyer-Watson),
 * for meshes laid out per portrait (the 3D head's outer rings).  O(n^2) in the worst case;
 * a few hundred points take well under a millisecond. */
#ifndef VV_WARP_DELAUNAY_H
#define VV_WARP_DELAUNAY_H

#include "base/base.h"

/* Triangulates `count` points; *triangles (allocated, caller frees) gets *triangle_count
 * triangles with a positive signed area in image coordinates (x right, y down: (b - a) x
 * (c - a) > 0), collinear triples left out.  Duplicate points are used once.
 * VV_ERR_INVALID_ARGUMENT (fewer than 3 points, non-finite), VV_ERR_NO_MEMORY. */
vv_status delaunay_triangulate(const float (*points)[2], int count, int (**triangles)[3], int *triangle_count);

#endif
