"""An independent PyTorch IL2A, to tell kdcl defects from what IL2A's objective does at a small budget
(reproductions/reference/README.md).

Written from the IL2A paper (Zhu, Cheng, Zhang, Liu; NeurIPS 2021, "Class-incremental learning via dual
augmentation") and the semantics of its official code (Impression2805/IL2A), not from kdcl's code, and run on the
exact images kdcl trains on:
- class augmentation: mixTimes times per batch, a random permutation pairs image i with image perm[i]; each pair of
  different classes gives one more image lambda x_i + (1 - lambda) x_perm[i], lambda ~ Beta(alpha, alpha) reset to
  0.5 outside [lambdaMin, lambdaMax], labelled with the pair's virtual class; the virtual classes are the current
  task's unordered class pairs, a head that lives for one task;
- CE over [seen classes, virtual classes] / T on the real and mixed images;
- from the second task: feature KD ||f - f_old||_F (torch.dist) over the same images, and semantic augmentation:
  B old classes drawn uniformly, their prototypes through the classifier (seen classes), each logit j raised by
  (ratio / 2) (w_j - w_c)^T Sigma_c (w_j - w_c) (the ISDA bound, Sigma_c the class's stored covariance), CE / T,
  weighted by semanticWeight;
- prototypes and covariances: each new class's eval-mode feature mean and unbiased covariance over its augmented
  training images, after each task.
The weights, temperature and mixup settings come from kdcl's resolved config (--config, JSON), so both sides run
one configuration. Optimiser: Adam 1e-3, weight decay 2e-4 (the official), with the profile's per-epoch cosine.

Usage: /usr/bin/python3 il2a_torch.py --data DIR --seed S --config JSON [--initial 5 --increment 5 --init-epochs 8
       --epochs 4 --batch 32 --width 0.5 --blocks 1 --threads 2]
Prints one JSON line: {"method", "seed", "matrix", "last", "aia", "peakRssMiB"} (percent).
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_common import Network, class_statistics, frozen_copy, reference_parser, report, start, test_row, train_task


def pair_index(a, b, n):
    """Column of the unordered pair {a, b} (a != b, both in [0, n)) among the n (n - 1) / 2 pairs, a < b first."""
    a, b = np.minimum(a, b), np.maximum(a, b)
    return a * (2 * n - a - 1) // 2 + (b - a - 1)


def class_mixup(x, y, lo, n, seen, cfg, rng):
    """The batch with its mixed images appended; their labels are seen + the pair's column."""
    xs, ys = [x], [y]
    for _ in range(cfg['mixTimes']):
        perm = torch.from_numpy(rng.permutation(len(y)))
        mixed = torch.nonzero(y != y[perm]).flatten()
        if len(mixed) == 0:
            continue
        lam = rng.beta(cfg['mixupAlpha'], cfg['mixupAlpha'], len(mixed))
        lam = np.where((lam < cfg['lambdaMin']) | (lam > cfg['lambdaMax']), 0.5, lam)
        lam = torch.from_numpy(lam).float().view(-1, 1, 1, 1)
        xs.append(lam * x[mixed] + (1 - lam) * x[perm[mixed]])
        a, b = (y[mixed] - lo).numpy(), (y[perm[mixed]] - lo).numpy()
        ys.append(torch.from_numpy(seen + pair_index(a, b, n)))
    return torch.cat(xs), torch.cat(ys)


def isda_logits(logits, weights, classes, covariances, ratio):
    """logits[k, j] + (ratio / 2) (w_j - w_c)^T Sigma_c (w_j - w_c), c = classes[k]; weights [C, D]."""
    diff = weights.unsqueeze(0) - weights[classes].unsqueeze(1)  # [K, C, D]
    quadratic = (torch.bmm(diff, covariances[classes]) * diff).sum(2)
    return logits + 0.5 * ratio * quadratic


def main():
    p = reference_parser('IL2A')
    a = p.parse_args()
    cfg = json.loads(a.config)
    temp = cfg['temperature']

    rng, xtr, ytr, xte, yte, tasks = start(a)

    net, old, prototypes, covariances, matrix = Network(a.width, a.blocks), None, [], [], []
    for t, (lo, hi) in enumerate(tasks):
        n = hi - lo
        net.grow(hi)
        net.virtual = nn.Linear(net.feature_dim, n * (n - 1) // 2)  # this task's class pairs only
        idx = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()
        proto_stack = torch.stack(prototypes) if prototypes else None
        cov_stack = torch.stack(covariances) if covariances else None

        def step_loss(x, y):
            real = len(y)
            x, y = class_mixup(x, y, lo, n, hi, cfg, rng)
            f = net.features(x)
            loss = F.cross_entropy(torch.cat([net.fc(f), net.virtual(f)], 1) / temp, y)
            if old is None:
                return loss
            classes = torch.from_numpy(rng.integers(0, lo, real))
            logits = isda_logits(net.fc(proto_stack[classes]), net.fc.weight, classes, cov_stack, cfg['isdaRatio'])
            loss = loss + cfg['semanticWeight'] * F.cross_entropy(logits / temp, classes)
            if cfg['kd']:
                with torch.no_grad():
                    f_old = old.features(x)
                loss = loss + cfg['kdWeight'] * torch.dist(f, f_old, 2)
            return loss

        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=2e-4)
        train_task(net, opt, idx, xtr, ytr, a.init_epochs if t == 0 else a.epochs, a.batch, rng, step_loss)
        del net.virtual  # the virtual classes end with their task
        means, covs = class_statistics(net, xtr[idx], ytr[idx], range(lo, hi), rng, covariance=True)
        prototypes.extend(means)
        covariances.extend(covs)
        matrix.append(test_row(net, xte, yte, tasks, t))
        old = frozen_copy(net)

    report('il2a', a.seed, matrix, tasks)


if __name__ == '__main__':
    main()
