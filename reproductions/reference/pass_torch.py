"""An independent PyTorch PASS, to tell kdcl defects from what PASS's objective does (reproductions/reference/README.md).

Written from the PASS paper (Zhu et al., CVPR 2021) and the semantics of its official code (Impression2805/CVPR21_PASS:
4N-way joint rotation classifier, logits / temp, `torch.dist` feature KD, prototypes + N(0, r0^2 I) noise labelled 4c,
radius from the first task), not from kdcl's code, and run on the exact images kdcl trains on (pass-check.ts exports
them). The backbone is kdcl's ResNet-32 at the check's width and depth, with option-A shortcuts; augmentation is
random crop (zero padding 4) + horizontal flip, as kdcl's, and convolutions start from the official code's
N(0, 2 / (k * k * out_channels)). `--method finetune` is the lower bound with the same
backbone and the smoke profile's SGD.

Usage: /usr/bin/python3 pass_torch.py --data DIR --seed S [--method pass|finetune] [--initial 5 --increment 5]
       [--init-epochs 8 --epochs 4 --batch 32 --width 0.5 --blocks 1]
Prints one JSON line: {"method", "seed", "matrix": [[task accuracies after task t]], "last", "aia"} (percent).
"""
import argparse
import copy
import json
import resource
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROTATIONS = 4


def load_split(data_dir, split, mean, std, size):
    x = np.fromfile(f'{data_dir}/{split}-images.u8', dtype=np.uint8).reshape(-1, size, size, 3)
    y = np.fromfile(f'{data_dir}/{split}-labels.i32', dtype=np.int32)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return x, torch.from_numpy(y.astype(np.int64))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv_a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(cout)
        self.conv_b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn_b = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = self.bn_b(self.conv_b(F.relu(self.bn_a(self.conv_a(x)))))
        if self.stride == 1 and self.extra == 0:
            shortcut = x
        else:  # option A: strided subsampling, zero channels appended
            shortcut = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + shortcut)


class Network(nn.Module):
    """ResNet-32 layout (3 stages of 16/32/64 channels x width) with an expandable linear head."""

    def __init__(self, width, blocks):
        super().__init__()
        channels = [max(1, round(c * width)) for c in (16, 32, 64)]
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 3, 1, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU())
        layers, cin = [], channels[0]
        for stage, cout in enumerate(channels):
            for i in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.feature_dim = cin
        self.fc = None
        for m in self.modules():  # N(0, 2 / (k * k * out)): CVPR21_PASS ResNet.py's init, and kdcl's
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def features(self, x):
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)

    def grow(self, outputs):
        fc = nn.Linear(self.feature_dim, outputs)
        if self.fc is not None:
            with torch.no_grad():
                fc.weight[: self.fc.out_features] = self.fc.weight
                fc.bias[: self.fc.out_features] = self.fc.bias
        self.fc = fc


def augment(x, rng):
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    top, left, flip = rng.integers(0, 9, n), rng.integers(0, 9, n), rng.random(n) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, top[i] : top[i] + h, left[i] : left[i] + w]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True)
    p.add_argument('--seed', type=int, default=1993)
    p.add_argument('--method', choices=['pass', 'finetune'], default='pass')
    p.add_argument('--initial', type=int, default=5)
    p.add_argument('--increment', type=int, default=5)
    p.add_argument('--init-epochs', type=int, default=8)
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--width', type=float, default=0.5)
    p.add_argument('--blocks', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    # PASS defaults: CVPR21_PASS main.py (--temp 0.1, --protoAug_weight 10, --kd_weight 10, Adam 1e-3, wd 2e-4).
    p.add_argument('--temp', type=float, default=0.1)
    p.add_argument('--proto-weight', type=float, default=10.0)
    p.add_argument('--kd-weight', type=float, default=10.0)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    meta = json.load(open(f'{a.data}/meta.json'))
    xtr, ytr = load_split(a.data, 'train', meta['mean'], meta['std'], meta['size'])
    xte, yte = load_split(a.data, 'test', meta['mean'], meta['std'], meta['size'])
    classes = int(ytr.max()) + 1
    bounds = [0, a.initial] + list(range(a.initial + a.increment, classes + 1, a.increment))
    tasks = list(zip(bounds[:-1], bounds[1:]))

    rot = ROTATIONS if a.method == 'pass' else 1
    net, old, prototypes, radius, matrix = Network(a.width, a.blocks), None, [], 0.0, []
    for t, (lo, hi) in enumerate(tasks):
        net.grow(rot * hi)
        idx = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()
        old_prototypes = np.stack(prototypes) if prototypes else None  # row c = class c's mean
        epochs = a.init_epochs if t == 0 else a.epochs
        if a.method == 'pass':
            opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=2e-4)
        else:  # the smoke profile's finetune optimiser (kernel-lib/experiments/profiles.ts)
            opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4 if t == 0 else 2e-4)
        base_lr = opt.param_groups[0]['lr']
        for epoch in range(epochs):
            for group in opt.param_groups:  # cosine per epoch, as kdcl's 'cosine' schedule
                group['lr'] = base_lr * (1 + math.cos(math.pi * epoch / epochs)) / 2
            net.train()
            order = idx[torch.from_numpy(rng.permutation(len(idx)))]
            for b in range(0, len(order), a.batch):
                bi = order[b : b + a.batch]
                x, y = augment(xtr[bi], rng), ytr[bi]
                if a.method == 'finetune':
                    loss = F.cross_entropy(net.fc(net.features(x)), y)
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
            correct = net.fc(net.features(xte[seen]))[:, ::rot].argmax(1) == yte[seen]
            truth = yte[seen]
            matrix.append([100 * correct[(truth >= l) & (truth < h)].float().mean().item() for l, h in tasks[: t + 1]])
        if a.method == 'pass':  # the teacher of the next task's feature KD
            old = copy.deepcopy(net)
            old.eval()
            for q in old.parameters():
                q.requires_grad_(False)

    accuracies = [sum(row[k] * (tasks[k][1] - tasks[k][0]) for k in range(len(row))) / tasks[len(row) - 1][1] for row in matrix]
    print(json.dumps({'method': a.method, 'seed': a.seed, 'matrix': matrix, 'last': accuracies[-1], 'aia': sum(accuracies) / len(accuracies),
                      'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == '__main__':
    main()
