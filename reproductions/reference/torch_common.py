"""What the PyTorch reference methods share: the exported images, kdcl's ResNet-32 layout, kdcl's augmentation,
the profile's SGD with a per-epoch cosine, the task split and the accuracy matrix (reproductions/reference/README.md).

Written from the papers and the reference implementations' semantics, not from kdcl's code; the images are the
exact arrays kdcl trains on (side-by-side.ts exports them, labels in arrival order: task t owns [start, end)).
"""
import json
import math
import resource

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_split(data_dir, split, mean, std, size):
    x = np.fromfile(f'{data_dir}/{split}-images.u8', dtype=np.uint8).reshape(-1, size, size, 3)
    y = np.fromfile(f'{data_dir}/{split}-labels.i32', dtype=np.int32)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return x, torch.from_numpy(y.astype(np.int64))


def load_data(data_dir):
    """(xtr, ytr, xte, yte) normalised by the dataset's mean and std, as kdcl feeds them."""
    meta = json.load(open(f'{data_dir}/meta.json'))
    return (*load_split(data_dir, 'train', meta['mean'], meta['std'], meta['size']),
            *load_split(data_dir, 'test', meta['mean'], meta['std'], meta['size']))


def task_bounds(classes, initial, increment):
    bounds = [0, initial] + list(range(initial + increment, classes + 1, increment))
    return list(zip(bounds[:-1], bounds[1:]))


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

    def forward(self, x):
        return self.fc(self.features(x))

    def grow(self, outputs):
        fc = nn.Linear(self.feature_dim, outputs)
        if self.fc is not None:
            with torch.no_grad():
                fc.weight[: self.fc.out_features] = self.fc.weight
                fc.bias[: self.fc.out_features] = self.fc.bias
        self.fc = fc


def augment(x, rng):
    """Random crop with zero padding 4 and a horizontal flip, per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    top, left, flip = rng.integers(0, 9, n), rng.integers(0, 9, n), rng.random(n) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, top[i] : top[i] + h, left[i] : left[i] + w]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


def profile_sgd(net, task):
    """The small profiles' SGD (kernel-lib/experiments/profiles.ts): lr 0.05, momentum 0.9, wd 5e-4 then 2e-4."""
    return torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4 if task == 0 else 2e-4)


def set_cosine_lr(opt, base_lr, epoch, epochs):
    """kdcl's 'cosine' schedule: one value per epoch."""
    for group in opt.param_groups:
        group['lr'] = base_lr * (1 + math.cos(math.pi * epoch / epochs)) / 2


def eval_features(net, x, batch=256):
    net.eval()
    with torch.no_grad():
        return torch.cat([net.features(x[i : i + batch]) for i in range(0, len(x), batch)])


def task_accuracies(predicted, truth, tasks):
    """Percent correct on each task's test images (a row of the accuracy matrix)."""
    correct = predicted == truth
    return [100 * correct[(truth >= lo) & (truth < hi)].float().mean().item() for lo, hi in tasks]


def summary(matrix, tasks):
    """(last, AIA): each row's accuracy over all seen test images (tasks weighted by class count), then the mean."""
    accuracies = [sum(row[k] * (tasks[k][1] - tasks[k][0]) for k in range(len(row))) / tasks[len(row) - 1][1] for row in matrix]
    return accuracies[-1], sum(accuracies) / len(accuracies)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
