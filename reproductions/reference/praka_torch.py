"""An independent PyTorch PRAKA, to tell kdcl defects from what PRAKA's objective does at a small budget
(reproductions/reference/README.md).

Written from the PRAKA paper (Shi & Ye, ICCV 2023) and the semantics of its official code (ShiWuxuan/PRAKA
Cifar100/jointSSL.py), not from kdcl's code, and run on the exact images kdcl trains on:
- two heads on one backbone: an N-way classifier (used for prediction) and a 4N-way joint head over the four
  rotations (label 4y + r); every batch is expanded with its rotations;
- per batch: CE(joint / T, 4y + r) + CE(classifier on the unrotated rows / T, y) + KL(classifier || the joint head's
  logits averaged over the rotations, stop-gradient), batch-mean, temperature 1;
- from the second task: feature KD ||f - f_old||_F (torch.dist) and, for each image of the batch, one reminiscent
  prototype of a uniformly drawn old class c mixed with a random (detached) feature row f_i of the rotated batch:
  lambda ~ Beta(0.5, 0.5), lambda <- 0.6 lambda above 0.6, then (1 + lambda) mu_c - lambda f_i or
  (1 - lambda) mu_c + lambda f_i with probability 1/2 each; its loss is CE(classifier / T, c) + CE(joint / T, 4c)
  + KL(classifier || the joint head's rotation-0 columns, stop-gradient), weighted by protoAugWeight;
- prototypes: each new class's mean eval-mode feature over its augmented training images, after each task.
The weights, temperature and reminiscence settings come from kdcl's resolved config (--config, JSON), so both sides
run one configuration. Optimiser: Adam 1e-3, weight decay 2e-4 (the official), with the profile's per-epoch cosine.

Usage: /usr/bin/python3 praka_torch.py --data DIR --seed S --config JSON [--initial 5 --increment 5 --init-epochs 8
       --epochs 4 --batch 32 --width 0.5 --blocks 1 --threads 2]
Prints one JSON line: {"method", "seed", "matrix", "last", "aia", "peakRssMiB"} (percent).
"""
import json

import numpy as np
import torch
import torch.nn.functional as F

from torch_common import (Network, class_statistics, frozen_copy, grown_linear, reference_parser, report, rotated, start,
                          test_row, train_task)

ROTATIONS = 4


def consistency(single, joint_aggregate):
    """KL(softmax(joint_aggregate) || softmax(single)), the joint side held fixed, batch-mean (jointSSL's kl_div)."""
    return F.kl_div(F.log_softmax(single, 1), F.softmax(joint_aggregate.detach(), 1), reduction='batchmean')


def reminiscent_prototypes(prototypes, features, count, cfg, rng):
    """count mixtures of an old class's prototype with a detached feature row; returns (rows, classes)."""
    rows = rng.integers(0, features.shape[0], count)
    classes = rng.integers(0, len(prototypes), count)
    lam = rng.beta(cfg['reminiscenceAlpha'], cfg['reminiscenceAlpha'], count)
    lam = np.where(lam > cfg['lambdaCap'], lam * cfg['lambdaCap'], lam)
    away = rng.random(count) < cfg['extrapolationProbability']
    on_proto = torch.from_numpy(np.where(away, 1 + lam, 1 - lam)).float().unsqueeze(1)
    on_feature = torch.from_numpy(np.where(away, -lam, lam)).float().unsqueeze(1)
    mu = torch.stack([prototypes[c] for c in classes])
    return on_proto * mu + on_feature * features.detach()[torch.from_numpy(rows)], torch.from_numpy(classes)


def main():
    p = reference_parser('PRAKA')
    a = p.parse_args()
    cfg = json.loads(a.config)
    temp = cfg['temperature']

    rng, xtr, ytr, xte, yte, tasks = start(a)

    net, old, prototypes, matrix = Network(a.width, a.blocks), None, [], []
    net.joint = None
    for t, (lo, hi) in enumerate(tasks):
        net.grow(hi)
        net.joint = grown_linear(net.joint, net.feature_dim, ROTATIONS * hi)
        idx = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()

        def step_loss(x, y):
            x4, y4 = rotated(x, y, ROTATIONS)
            f = net.features(x4)
            joint = net.joint(f)
            single = net.fc(f)[::ROTATIONS]
            aggregate = sum(joint[r::ROTATIONS, r::ROTATIONS] for r in range(ROTATIONS)) / ROTATIONS
            loss = F.cross_entropy(joint / temp, y4) + F.cross_entropy(single / temp, y)
            if cfg['kd'] or not cfg['asymmetricKdIsKd']:
                loss = loss + consistency(single, aggregate)
            if old is None:
                return loss
            proto, c = reminiscent_prototypes(prototypes, f, len(y), cfg, rng)
            proto_single, proto_joint = net.fc(proto), net.joint(proto)
            proto_loss = F.cross_entropy(proto_single / temp, c) + F.cross_entropy(proto_joint / temp, c * ROTATIONS)
            if cfg['kd'] or not cfg['asymmetricKdIsKd']:
                proto_loss = proto_loss + consistency(proto_single, proto_joint[:, ::ROTATIONS])
            loss = loss + cfg['protoAugWeight'] * proto_loss
            if cfg['kd']:
                with torch.no_grad():
                    f_old = old.features(x4)
                loss = loss + cfg['kdWeight'] * torch.dist(f, f_old, 2)
            return loss

        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=2e-4)
        train_task(net, opt, idx, xtr, ytr, a.init_epochs if t == 0 else a.epochs, a.batch, rng, step_loss)
        means, _ = class_statistics(net, xtr[idx], ytr[idx], range(lo, hi), rng)
        prototypes.extend(means)
        matrix.append(test_row(net, xte, yte, tasks, t))
        old = frozen_copy(net)

    report('praka', a.seed, matrix, tasks)


if __name__ == '__main__':
    main()
