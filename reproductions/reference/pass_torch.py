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
import numpy as np
import torch
import torch.nn.functional as F

from torch_common import Network, frozen_copy, profile_sgd, reference_parser, report, rotated, start, task_accuracies, train_task

ROTATIONS = 4


def main():
    p = reference_parser()
    p.add_argument('--method', choices=['pass', 'finetune'], default='pass')
    # PASS defaults: CVPR21_PASS main.py (--temp 0.1, --protoAug_weight 10, --kd_weight 10, Adam 1e-3, wd 2e-4).
    p.add_argument('--temp', type=float, default=0.1)
    p.add_argument('--proto-weight', type=float, default=10.0)
    p.add_argument('--kd-weight', type=float, default=10.0)
    a = p.parse_args()

    rng, xtr, ytr, xte, yte, tasks = start(a)

    rot = ROTATIONS if a.method == 'pass' else 1
    net, old, prototypes, radius, matrix = Network(a.width, a.blocks), None, [], 0.0, []
    for t, (lo, hi) in enumerate(tasks):
        net.grow(rot * hi)
        idx = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()
        old_prototypes = np.stack(prototypes) if prototypes else None  # row c = class c's mean
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=2e-4) if a.method == 'pass' else profile_sgd(net, t)

        def step_loss(x, y):
            if a.method == 'finetune':
                return F.cross_entropy(net(x), y)
            x4, y4 = rotated(x, y, ROTATIONS)
            f = net.features(x4)
            loss = F.cross_entropy(net.fc(f) / a.temp, y4)
            if old is not None:
                with torch.no_grad():
                    f_old = old.features(x4)
                loss = loss + a.kd_weight * torch.dist(f, f_old, 2)
                picked = rng.integers(0, lo, len(y))
                noisy = old_prototypes[picked] + rng.normal(0, 1, (len(y), net.feature_dim)) * radius
                logits = net.fc(torch.from_numpy(noisy).float()) / a.temp
                loss = loss + a.proto_weight * F.cross_entropy(logits, torch.from_numpy(picked * ROTATIONS))
            return loss

        train_task(net, opt, idx, xtr, ytr, a.init_epochs if t == 0 else a.epochs, a.batch, rng, step_loss)
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
            old = frozen_copy(net)

    report(a.method, a.seed, matrix, tasks)


if __name__ == '__main__':
    main()
