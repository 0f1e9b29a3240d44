#!/usr/bin/env python3
"""Fits the landmarks -> dlib face box mapping used by src/face/tracker.c.

Offline derivation; never run at build or test time.
Usage: /usr/bin/python3 scripts/fit_landmark_box.py [../shared/data/reference]
Needs numpy (Debian: python3-numpy).  Prints the C table and constants for tracker.c.

dlib's HOG boxes are axis-aligned squares, and its shape predictor places its mean shape
in the box, so the landmarks are roughly box origin + box size * template.  The template
(68 x 2, in box units) is the mean over all frames of the landmarks normalised by their
dlib box.  For a new set of landmarks the box is the least-squares fit of
  p_i ~ (ox, oy) + w * u_i
over the points (weighted: the mouth and chin move with speech, the box does not), then
the constants correct w and the offsets by a linear fit against the true boxes.  Half the
clips (alternate files) fit, the other half report the held-out error.
"""
import glob
import json
import os
import sys

import numpy as np


def load(folder):
    data = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        if os.path.basename(path).startswith("portraits"):
            continue
        frames = []
        for line in open(path):
            d = json.loads(line)
            if not d["faces"]:
                continue
            f = d["faces"][0]
            frames.append((np.array(f["box"], dtype=np.float64), np.array(f["landmarks"], dtype=np.float64)))
        data.append(frames)
    return data


def weights(kind):
    w = np.ones(68)
    if kind == "rigid":
        w[48:68] = 0.25   # lips
        w[5:12] = 0.25    # lower jaw and chin follow the mouth
    return w


def fit_box(p, u, w):
    """Least squares p ~ o + s u with weights w.  Returns o (2), s."""
    W = w.sum()
    pm = (w[:, None] * p).sum(0) / W
    um = (w[:, None] * u).sum(0) / W
    du, dp = u - um, p - pm
    s = (w[:, None] * du * dp).sum() / (w[:, None] * du * du).sum()
    return pm - s * um, s


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "reference")
    clips = load(folder)
    train = [f for i, c in enumerate(clips) if i % 2 == 0 for f in c]
    test = [f for i, c in enumerate(clips) if i % 2 == 1 for f in c]
    print(f"frames: fit {len(train)}, held out {len(test)}", file=sys.stderr)

    def normalised(frames):
        out = []
        for box, p in frames:
            size = box[2] - box[0]
            out.append((p - box[:2]) / size)
        return np.array(out)

    template = normalised(train).mean(axis=0)
    best = None
    for kind in ["all", "rigid"]:
        w = weights(kind)

        def features(frames):
            X, Y = [], []
            for box, p in frames:
                o, s = fit_box(p, template, w)
                X.append([o[0], o[1], s])
                Y.append([box[0], box[1], box[2] - box[0]])
            return np.array(X), np.array(Y)

        Xtr, Ytr = features(train)
        # Corrections: size = k * s; origin = o + (cx, cy) * s  (scale-free, 3 constants).
        k = (Xtr[:, 2] * Ytr[:, 2]).sum() / (Xtr[:, 2] ** 2).sum()
        cx = ((Ytr[:, 0] - Xtr[:, 0]) / Xtr[:, 2]).mean()
        cy = ((Ytr[:, 1] - Xtr[:, 1]) / Xtr[:, 2]).mean()
        Xte, Yte = features(test)
        pred = np.stack([Xte[:, 0] + cx * Xte[:, 2], Xte[:, 1] + cy * Xte[:, 2], k * Xte[:, 2]], 1)
        err = np.abs(pred - Yte) / Yte[:, 2:3]
        corner = np.sqrt(((pred[:, :2] - Yte[:, :2]) ** 2).sum(1)) / Yte[:, 2]
        print(f"{kind}: k {k:.4f} cx {cx:+.4f} cy {cy:+.4f}; held-out error / box size: x0 "
              f"{err[:, 0].mean():.4f} y0 {err[:, 1].mean():.4f} size {err[:, 2].mean():.4f}, "
              f"corner median {np.median(corner):.4f} 95% {np.quantile(corner, 0.95):.4f}", file=sys.stderr)
        score = err.mean()
        if best is None or score < best[0]:
            best = (score, kind, k, cx, cy)
    _, kind, k, cx, cy = best
    print(f"chosen: {kind}", file=sys.stderr)
    print("static const float box_template[68][2] = {")
    for i in range(0, 68, 4):
        items = ", ".join(f"{{{u[0]:.4f}f, {u[1]:.4f}f}}" for u in template[i:i + 4])
        print(f"    {items}, /* {i}..{i + 3} */")
    print("};")
    print(f"/* weights: {kind} */")
    print(f"#define BOX_SIZE_GAIN {k:.4f}f")
    print(f"#define BOX_SHIFT_X {cx:+.4f}f")
    print(f"#define BOX_SHIFT_Y {cy:+.4f}f")


if __name__ == "__main__":
    main()
