#!/usr/bin/env python3
"""Memory of one training step of the paper's generator (docs: ../shared/docs/PAPER.md),
counted the way nn/layers saves activations (float32, batch 1; scales linearly with batch).

Architecture assumed (authors' later code, channels 64..512):
  encoder: 4 downsampling residual blocks with instance norm, 3->64->128->256->512
  bottleneck: 4 residual blocks at 512 with AdaIN
  decoder: 4 upsampling residual blocks with AdaIN, 512->256->128->64->64
  head: AdaIN -> ReLU -> conv3x3 64->3 -> tanh; projection P: 512 -> 2 * AdaIN channels
Saved per pre-activation block (as nn/resblock.c does): norm+ReLU output, conv1 output,
norm2+ReLU output, conv2 output, plus the skip path (1x1 conv, upsample or pool outputs)
and the block output.  Norm statistics and spectral-norm vectors are negligible.
Parameters: weights + gradients + Adam m, v (4 copies) + the normalised weight copy."""
import sys

def conv(cin, cout, k):
    return cout * cin * k * k + cout

def generator(size):
    acts, params, adain = 0, 0, 0
    h, c = size, 3
    acts += c * h * h  # input landmark image
    for cout in (64, 128, 256, 512):  # down blocks: relu1 c@h, conv1 cout@h, relu2, conv2, skip conv, pools
        acts += c * h * h + 4 * cout * h * h + 3 * cout * (h // 2) ** 2
        params += conv(c, cout, 3) + conv(cout, cout, 3) + conv(c, cout, 1)
        c, h = cout, h // 2
    for _ in range(4):  # bottleneck AdaIN res blocks: relu1, conv1, relu2, conv2, sum
        acts += 5 * c * h * h
        params += 2 * conv(c, c, 3)
        adain += 2 * c
    for cout in (256, 128, 64, 64):  # up blocks: relu1 c@h, up c@2h, conv1, relu2, conv2, skip up, skip conv, sum
        h2 = 2 * h
        acts += c * h * h + 2 * c * h2 * h2 + 5 * cout * h2 * h2
        params += conv(c, cout, 3) + conv(cout, cout, 3) + conv(c, cout, 1)
        adain += c + cout
        c, h = cout, h2
    acts += 2 * c * h * h + 2 * 3 * h * h  # head: relu out, conv out, tanh out
    params += conv(c, 3, 3)
    adain += c
    projection = 512 * 2 * adain + 2 * adain
    largest = max(64 * size * size, 512 * (size // 16) ** 2)
    return acts, params, projection, largest

for size in (128, 256):
    acts, params, projection, largest = generator(size)
    total_params = params + projection
    mib = lambda n: n * 4 / 2**20
    # training: activations + 2 largest gradient temporaries; params x4 (p, grad, m, v) + SN copy of conv weights
    act_mem = mib(acts + 2 * largest)
    par_mem = mib(4 * total_params + params)
    print(f"{size}x{size}: params {total_params/1e6:.2f} M (convs {params/1e6:.2f} M, projection P {projection/1e6:.2f} M); "
          f"activations {mib(acts):.0f} MiB + backward temporaries {mib(2*largest):.0f} MiB per sample; "
          f"parameter memory (p, grad, Adam m, v, SN copy) {par_mem:.0f} MiB; "
          f"one step batch 1: {act_mem + par_mem:.0f} MiB, batch 8: {8*act_mem + par_mem:.0f} MiB")
