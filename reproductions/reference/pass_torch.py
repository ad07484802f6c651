"""An independent PyTorch PASS, to tell kdcl defects from what PASS's objective does (reproductions/reference/README.md).

Written from the PASS paper (Zhu et al., CVPR 2021) and the semantics of its official code (Impression2805/CVPR21_PASS:
4N-way joint rotation classifier, logits / temp, `torch.dist` feature KD, prototypes + N(0, r0^2 I) noise labelled 4c,
radius from the first task), not from kdcl's code, and run on the exact images kdcl trains on (side-by-side.ts exports
them). The backbone, augmentation and init are torch_common's. `--method finetune` is the lower bound with the same
backbone and the small profiles' SGD.

Usage: /usr/bin/python3 pass_torch.py --data DIR --seed S [--method pass|finetune] [--initial 5 --increment 5]
       [--init-epochs 8 --epochs 4 --batch 32 --width 0.5 --blocks 1]
Prints one JSON line: {"method", "seed", "matrix": [[task accuracies after task t]], "last", "aia"} (percent).
"""
import argparse
import copy
import json

import numpy as np
import torch
import torch.nn.functional as F

from torch_common import Network, augment, load_data, peak_rss_mib, profile_sgd, set_cosine_lr, summary, task_accuracies, task_bounds

ROTATIONS = 4


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True)
    p.add_argument('--seed', type=int, default=1993)
    p.add_argument('--method', choices=['pass', 'finetune'], default='pass')
    for flag, default in [('--initial', 5), ('--increment', 5), ('--init-epochs', 8), ('--epochs', 4), ('--batch', 32),
                          ('--blocks', 1), ('--threads', 2)]:
        p.add_argument(flag, type=int, default=default)
    p.add_argument('--width', type=float, default=0.5)
    # PASS defaults: CVPR21_PASS main.py (--temp 0.1, --protoAug_weight 10, --kd_weight 10, Adam 1e-3, wd 2e-4).
    p.add_argument('--temp', type=float, default=0.1)
    p.add_argument('--proto-weight', type=float, default=10.0)
    p.add_argument('--kd-weight', type=float, default=10.0)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    xtr, ytr, xte, yte = load_data(a.data)
    tasks = task_bounds(int(ytr.max()) + 1, a.initial, a.increment)

    rot = ROTATIONS if a.method == 'pass' else 1
    net, old, prototypes, radius, matrix = Network(a.width, a.blocks), None, [], 0.0, []
    for t, (lo, hi) in enumerate(tasks):
        net.grow(rot * hi)
        idx = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()
        old_prototypes = np.stack(prototypes) if prototypes else None  # row c = class c's mean
        epochs = a.init_epochs if t == 0 else a.epochs
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=2e-4) if a.method == 'pass' else profile_sgd(net, t)
        base_lr = opt.param_groups[0]['lr']
        for epoch in range(epochs):
            set_cosine_lr(opt, base_lr, epoch, epochs)
            net.train()
            order = idx[torch.from_numpy(rng.permutation(len(idx)))]
            for b in range(0, len(order), a.batch):
                bi = order[b : b + a.batch]
                x, y = augment(xtr[bi], rng), ytr[bi]
                if a.method == 'finetune':
                    loss = F.cross_entropy(net(x), y)
                else:
                    x = torch.stack([torch.rot90(x, k, (2, 3)) for k in range(ROTATIONS)], 1).flatten(0, 1)
                    y = torch.stack([y * ROTATIONS + k for k in range(ROTATIONS)], 1).flatten()
                    f = net.features(x)
                    loss = F.cross_entropy(net.fc(f) / a.temp, y)
                    if old is not None:
                        with torch.no_grad():
                            f_old = old.features(x)
                        loss = loss + a.kd_weight * torch.dist(f, f_old, 2)
                        picked = rng.integers(0, lo, len(bi))
                        noisy = old_prototypes[picked] + rng.normal(0, 1, (len(bi), net.feature_dim)) * radius
                        logits = net.fc(torch.from_numpy(noisy).float()) / a.temp
                        loss = loss + a.proto_weight * F.cross_entropy(logits, torch.from_numpy(picked * ROTATIONS))
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            if a.method == 'pass':  # class means of eval-mode features; radius from the first task only
                f = torch.cat([net.features(xtr[idx[i : i + 256]]) for i in range(0, len(idx), 256)]).numpy()
                labels = ytr[idx].numpy()
                spread = []
                for c in range(lo, hi):
                    fc = f[labels == c]
                    prototypes.append(fc.mean(0))
                    spread.append(np.trace(np.cov(fc.T)) / net.feature_dim)
                if t == 0:
                    radius = float(np.sqrt(np.mean(spread)))
            seen = yte < hi
            predicted = net.fc(net.features(xte[seen]))[:, ::rot].argmax(1)
            matrix.append(task_accuracies(predicted, yte[seen], tasks[: t + 1]))
        if a.method == 'pass':  # the teacher of the next task's feature KD
            old = copy.deepcopy(net)
            old.eval()
            for q in old.parameters():
                q.requires_grad_(False)

    last, aia = summary(matrix, tasks)
    print(json.dumps({'method': a.method, 'seed': a.seed, 'matrix': matrix, 'last': last, 'aia': aia, 'peakRssMiB': peak_rss_mib()}))


if __name__ == '__main__':
    main()
