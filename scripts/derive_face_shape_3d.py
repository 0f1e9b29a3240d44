#!/usr/bin/env python3
"""Derives vivify's mean 3D face (68 dlib points) from dlib landmark tracks.

Offline derivation for src/face/pose.c; never run at build or test time.
Usage: /usr/bin/python3 scripts/derive_face_shape_3d.py [../shared/data/reference]
Needs numpy (Debian: python3-numpy).  Prints the C table for pose.c.

Method (structure from motion under scaled orthography):
 1. Every frame of every talking-head clip in reference/*.jsonl (dlib's landmarks of
    the largest face; portraits.jsonl left out) is centred and scaled to unit RMS size.
    All frames, all people, form one measurement matrix W (2F x 68): the people differ,
    so the rigid shape we get is a mean over identities and expressions.
 2. Tomasi-Kanade: the rank-3 SVD of W gives W ~ M S up to an invertible 3x3 Q.  The
    metric upgrade finds L = Q Q^T (symmetric, 6 unknowns) from the scaled-orthographic
    constraints per frame |m|^2 = |n|^2, m.n = 0 (m, n: the frame's two rows of M).
 3. Refinement by alternation: each frame's camera (scale and two orthonormal rows of
    a rotation) by a Gauss-Newton fit to the current shape, then the shape by linear
    least squares over all frames; the 10% frames with the largest residual (failed
    detections, extreme expressions) are dropped from the shape step.
 4. Canonical frame: the face is left-right symmetric, so the reflection that maps the
    shape onto its mirror-relabelled self (a Procrustes fit allowing det -1) gives the
    symmetry plane; its normal is x.  Depth along the mean view axis is rescaled by an
    anatomical proportion (see the comment at depth_scale: the data cannot fix it).  The remaining rotation about x (pitch zero) is set
    so that the median pitch over all frames is 0: talking heads look at the camera on
    average.  z is chosen so the nose tip (30) points toward the camera (+z), y down.
    Then the shape is averaged with its mirror image (exact symmetry), centred at the
    centroid, and scaled so the outer eye corners (36, 45) are 1 apart.
"""
import glob
import json
import os
import sys

import numpy as np

MIRROR = list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + \
    [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40] + \
    [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
assert sorted(MIRROR) == list(range(68))


def load_frames(folder):
    frames = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        if os.path.basename(path).startswith("portraits"):
            continue
        for line in open(path):
            d = json.loads(line)
            if not d["faces"]:
                continue
            p = np.array(d["faces"][0]["landmarks"], dtype=np.float64)  # 68 x 2
            if p.shape != (68, 2):
                continue
            p -= p.mean(axis=0)
            p /= np.sqrt((p ** 2).sum(axis=1).mean())
            frames.append(p.T)  # 2 x 68
    return np.array(frames)  # F x 2 x 68


def metric_upgrade(M):
    """M: F x 2 x 3 affine cameras.  Returns Q with M Q scaled-orthographic."""
    def row(a, b):  # coefficients of a^T L b in the 6 unknowns of symmetric L
        return np.stack([a[:, 0] * b[:, 0], a[:, 0] * b[:, 1] + a[:, 1] * b[:, 0],
                         a[:, 0] * b[:, 2] + a[:, 2] * b[:, 0], a[:, 1] * b[:, 1],
                         a[:, 1] * b[:, 2] + a[:, 2] * b[:, 1], a[:, 2] * b[:, 2]], axis=1)
    m, n = M[:, 0, :], M[:, 1, :]
    A = np.concatenate([row(m, m) - row(n, n), row(m, n), (row(m, m) + row(n, n)).mean(0, keepdims=True) * len(m)])
    rhs = np.zeros(len(A))
    rhs[-1] = 2.0 * len(m)
    l = np.linalg.lstsq(A, rhs, rcond=None)[0]
    L = np.array([[l[0], l[1], l[2]], [l[1], l[3], l[4]], [l[2], l[4], l[5]]])
    w, V = np.linalg.eigh(L)
    if w.min() <= 0:
        print("warning: metric upgrade L not positive definite, eigenvalues", w, file=sys.stderr)
        w = np.maximum(w, 1e-6 * w.max())
    return V @ np.diag(np.sqrt(w))


def skew(v):
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1),
                     np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def rodrigues(w):
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    K = skew(w / np.maximum(theta[..., 0], 1e-12))
    I = np.eye(3)
    return I + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


def fit_cameras(P, S, R, s, iterations=5):
    """Gauss-Newton per frame on min |P_f - s_f R_f[:2] S|^2.  R: F x 3 x 3, s: F."""
    F = len(P)
    for _ in range(iterations):
        proj = R[:, :2, :] @ S  # F x 2 x 68
        r = (P - s[:, None, None] * proj).transpose(0, 2, 1).reshape(F, -1)  # F x 136
        # Model s R (I + [w]x) X: d/dw = s R (w x X) = -s R [X]x w (rows 0 and 1).
        SX = skew(S.T)  # 68 x 3 x 3
        J_w = -s[:, None, None, None] * np.einsum("fij,pjk->fpik", R[:, :2, :], SX)  # F x 68 x 2 x 3
        J = np.concatenate([J_w.reshape(F, 136, 3), proj.transpose(0, 2, 1).reshape(F, 136, 1)], axis=2)
        JTJ = J.transpose(0, 2, 1) @ J + 1e-9 * np.eye(4)
        JTr = (J.transpose(0, 2, 1) @ r[..., None])[..., 0]
        step = np.linalg.solve(JTJ, JTr)
        R = R @ rodrigues(step[:, :3])
        s = s + step[:, 3]
    return R, s


def residuals(P, S, R, s):
    return np.sqrt(((P - s[:, None, None] * (R[:, :2, :] @ S)) ** 2).sum(axis=(1, 2)) / 68)


def angles(R):
    """yaw, pitch, roll (degrees) for R = Rz(roll) Ry(yaw) Rx(pitch), as src/face/pose.c."""
    yaw = np.degrees(np.arcsin(np.clip(-R[..., 2, 0], -1, 1)))
    pitch = np.degrees(np.arctan2(-R[..., 2, 1], R[..., 2, 2]))
    roll = np.degrees(np.arctan2(R[..., 1, 0], R[..., 0, 0]))
    return yaw, pitch, roll


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "reference")
    P = load_frames(folder)
    F = len(P)
    print(f"frames: {F}", file=sys.stderr)
    W = P.reshape(F * 2, 68)
    U, sig, Vt = np.linalg.svd(W, full_matrices=False)
    print("singular values:", np.round(sig[:6], 2), file=sys.stderr)
    M = (U[:, :3] * np.sqrt(sig[:3])).reshape(F, 2, 3)
    S = np.sqrt(sig[:3])[:, None] * Vt[:3]
    Q = metric_upgrade(M)
    M = M @ Q
    S = np.linalg.solve(Q, S)

    # Initial cameras from the upgraded affine ones: nearest scaled rotation.
    R = np.zeros((F, 3, 3))
    s = np.zeros(F)
    for f in range(F):
        u, d, vt = np.linalg.svd(M[f], full_matrices=False)
        r2 = u @ vt
        R[f, :2] = r2
        R[f, 2] = np.cross(r2[0], r2[1])
        s[f] = d.mean()
    for it in range(15):
        R, s = fit_cameras(P, S, R, s)
        res = residuals(P, S, R, s)
        keep = res <= np.quantile(res, 0.9)
        # Shape step: S = argmin sum_f |P_f - s_f R_f2 S|^2 (columns independent).
        A = s[keep, None, None] * R[keep, :2, :]  # K x 2 x 3
        AtA = np.einsum("kij,kil->jl", A, A)
        AtP = np.einsum("kij,kip->jp", A, P[keep])
        S = np.linalg.solve(AtA, AtP)
        S -= S.mean(axis=1, keepdims=True)
        print(f"iteration {it}: median residual {np.median(res):.4f}, 90% {np.quantile(res, 0.9):.4f}",
              file=sys.stderr)
    R, s = fit_cameras(P, S, R, s)

    # Symmetry plane: reflection H (orthogonal, det -1) with H S ~ S[:, MIRROR].
    X = S.T  # 68 x 3
    Y = X[MIRROR]
    u, _, vt = np.linalg.svd(Y.T @ X)
    H = u @ vt
    if np.linalg.det(H) > 0:
        print("warning: best mirror map is a rotation", file=sys.stderr)
    w, V = np.linalg.eigh((H + H.T) / 2)
    normal = V[:, np.argmin(w)]
    # Build a frame: x = normal (pointing from landmark 36 toward 45 in the image: dlib's
    # 36 is on the image's left), z = the in-plane direction toward the camera (mean view
    # direction), y = z cross x so (x, y, z) has det +1 like the image convention here.
    if (X[45] - X[36]) @ normal < 0:
        normal = -normal
    view = np.array([0.0, 0.0, 1.0]) @ R  # camera z axis in model coordinates, per frame
    view = np.median(view, axis=0)
    z = view - (view @ normal) * normal
    z /= np.linalg.norm(z)
    y = np.cross(z, normal)
    B = np.stack([normal, y, z])  # rows: new axes in old coordinates
    if np.linalg.det(B) < 0:
        raise SystemExit("frame construction produced a reflection")
    Xc = X @ B.T
    Rc = R @ B.T  # camera rotation relative to the canonical model frame
    # Depth sign: the nose tip must face the camera.  Under orthography a depth flip
    # z -> -z is a valid alternative solution (the necker ambiguity); factorisation picks
    # one arbitrarily, so decide by anatomy.
    if Xc[30, 2] < Xc[[0, 16], 2].mean():
        raise SystemExit("nose behind the jaw: depth came out reflected")
    if Xc[8, 1] < Xc[27, 1]:
        raise SystemExit("chin above the nose bridge: y is not down")
    # Depth scale: under near-frontal views, orthographic SfM fixes depth only weakly (the
    # bas-relief ambiguity: a k-times deeper face turned 1/k as far fits almost as well;
    # the residual here is flat for k from 0.7 to 1.2 and the data's mouth and jaw-contour
    # motion bias it deep).  So the depth along the mean view axis is set by anatomy: the
    # nose tip (pronasale) sits about 4.2 cm in front of the outer eye corners, whose
    # distance (biocular width) is about 9.3 cm in adults: 0.45 units.  The same scale puts
    # the jaw-contour ends (0, 16) about 1.05 units (~10 cm) behind the nose tip, which is
    # also the adult tragion-to-pronasale depth; the two cues agree.
    depth_scale = 0.45 * np.linalg.norm(Xc[45] - Xc[36]) / (Xc[30, 2] - (Xc[36, 2] + Xc[45, 2]) / 2)
    print(f"depth scale applied: {depth_scale:.3f}", file=sys.stderr)
    Xc[:, 2] *= depth_scale
    Rc, s = fit_cameras(P, Xc.T, Rc, s, iterations=10)
    yaw, pitch, roll = angles(Rc)
    med_pitch = np.median(pitch)
    print(f"median angles before pitch zeroing: yaw {np.median(yaw):.2f} pitch {med_pitch:.2f} "
          f"roll {np.median(roll):.2f}", file=sys.stderr)
    c, sn = np.cos(np.radians(med_pitch)), np.sin(np.radians(med_pitch))
    Rx = np.array([[1, 0, 0], [0, c, sn], [0, -sn, c]])
    Xc = Xc @ Rx.T
    Rc = Rc @ Rx.T
    yaw, pitch, roll = angles(Rc)
    print(f"frame angles after: yaw 5/50/95% {np.percentile(yaw, [5, 50, 95]).round(1)}, pitch "
          f"{np.percentile(pitch, [5, 50, 95]).round(1)}, roll {np.percentile(roll, [5, 50, 95]).round(1)}",
          file=sys.stderr)

    # Exact symmetry, centroid origin, unit outer-eye-corner distance.
    mirrored = Xc[MIRROR] * np.array([-1.0, 1.0, 1.0])
    print(f"asymmetry before averaging (RMS): {np.sqrt(((Xc - mirrored) ** 2).sum(1).mean()):.4f}",
          file=sys.stderr)
    Xs = (Xc + mirrored) / 2
    Xs -= Xs.mean(axis=0)
    Xs /= np.linalg.norm(Xs[45] - Xs[36])

    print("static const float mean_shape_3d[68][3] = {")
    for i in range(0, 68, 2):
        items = ", ".join(f"{{{p[0]:+.4f}f, {p[1]:+.4f}f, {p[2]:+.4f}f}}" for p in Xs[i:i + 2])
        print(f"    {items}, /* {i}, {i + 1} */")
    print("};")


if __name__ == "__main__":
    main()
