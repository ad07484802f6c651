"""What the PyTorch reference methods share: the exported images, kdcl's ResNet-32 layout, kdcl's augmentation,
the profile's SGD with a per-epoch cosine, the task split and the accuracy matrix (reproductions/reference/README.md).

Written from the papers and the reference implementations' semantics, not from kdcl's code; the images are the
exact arrays kdcl trains on (side-by-side.ts exports them, labels in arrival order: task t owns [start, end)).
"""
import argparse
import copy
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


def reference_parser(config_of=None):
    """The options every reference script takes (the task split, epochs, batch, backbone shape, threads); with
    config_of, also --config: kdcl's resolved config of that method (JSON), so that both sides run one configuration."""
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True)
    p.add_argument('--seed', type=int, default=1993)
    if config_of:
        p.add_argument('--config', required=True, help=f"kdcl's resolved {config_of} config (JSON)")
    for flag, default in [('--initial', 5), ('--increment', 5), ('--init-epochs', 8), ('--epochs', 4), ('--batch', 32),
                          ('--blocks', 1), ('--threads', 2)]:
        p.add_argument(flag, type=int, default=default)
    p.add_argument('--width', type=float, default=0.5)
    return p


def start(a):
    """Seeds torch and numpy, sets the threads, loads the images: (rng, xtr, ytr, xte, yte, tasks)."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    xtr, ytr, xte, yte = load_data(a.data)
    return (rng, xtr, ytr, xte, yte, task_bounds(int(ytr.max()) + 1, a.initial, a.increment))


def report(method, seed, matrix, tasks, **extra):
    """The one JSON line side-by-side.ts reads: the accuracy matrix, last, AIA, peak RSS, and extra fields."""
    last, aia = summary(matrix, tasks)
    print(json.dumps({'method': method, 'seed': seed, 'matrix': matrix, 'last': last, 'aia': aia, **extra, 'peakRssMiB': peak_rss_mib()}))


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
        self.fc = grown_linear(self.fc, self.feature_dim, outputs)


def grown_linear(layer, inputs, outputs):
    """A fresh nn.Linear(inputs, outputs) whose first rows are the old layer's (None: all fresh)."""
    grown = nn.Linear(inputs, outputs)
    if layer is not None:
        with torch.no_grad():
            grown.weight[: layer.out_features] = layer.weight
            grown.bias[: layer.out_features] = layer.bias
    return grown


def frozen_copy(net):
    """The teacher for the next task: a copy in eval mode with no gradients."""
    old = copy.deepcopy(net)
    old.eval()
    for q in old.parameters():
        q.requires_grad_(False)
    return old


def rotated(x, y, rotations=4):
    """Each image followed by its 90, 180, 270 degree rotations; label rotations * y + k (PASS's joint labels)."""
    x = torch.stack([torch.rot90(x, k, (2, 3)) for k in range(rotations)], 1).flatten(0, 1)
    y = torch.stack([y * rotations + k for k in range(rotations)], 1).flatten()
    return x, y


def train_task(net, opt, idx, xtr, ytr, epochs, batch, rng, step_loss):
    """One task: per-epoch cosine lr, a fresh permutation of the task's images each epoch, augmented batches;
    step_loss(x, y) gives each batch's loss (drawn after the batch's augmentation, from the same rng)."""
    base_lr = opt.param_groups[0]['lr']
    for epoch in range(epochs):
        set_cosine_lr(opt, base_lr, epoch, epochs)
        net.train()
        order = idx[torch.from_numpy(rng.permutation(len(idx)))]
        for b in range(0, len(order), batch):
            bi = order[b : b + batch]
            loss = step_loss(augment(xtr[bi], rng), ytr[bi])
            opt.zero_grad()
            loss.backward()
            opt.step()


def class_statistics(net, x, y, classes, rng, covariance=False, batch=256):
    """Each class's eval-mode feature mean (and unbiased covariance) over its augmented training images: the
    official PASS / IL2A / PRAKA `protoSave` reads its augmenting train loader with the model in eval mode."""
    net.eval()
    with torch.no_grad():
        f = torch.cat([net.features(augment(x[i : i + batch], rng)) for i in range(0, len(x), batch)]).double()
    means = [f[y == c].mean(0).float() for c in classes]
    covs = [torch.cov(f[y == c].T).float() for c in classes] if covariance else None
    return means, covs


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


def test_row(net, xte, yte, tasks, t):
    """The accuracy matrix's row after task t: the network's argmax on every seen class's test images."""
    net.eval()
    with torch.no_grad():
        seen = yte < tasks[t][1]
        return task_accuracies(net(xte[seen]).argmax(1), yte[seen], tasks[: t + 1])


def summary(matrix, tasks):
    """(last, AIA): each row's accuracy over all seen test images (tasks weighted by class count), then the mean."""
    accuracies = [sum(row[k] * (tasks[k][1] - tasks[k][0]) for k in range(len(row))) / tasks[len(row) - 1][1] for row in matrix]
    return accuracies[-1], sum(accuracies) / len(accuracies)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
