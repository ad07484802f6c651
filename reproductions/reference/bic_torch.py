"""An independent PyTorch BiC, to compare kdcl's BiC stage by stage (reproductions/reference/README.md).

Written from the BiC paper (Wu et al., CVPR 2019) and the semantics of PyCIL models/bic.py and FACIL approach/bic.py,
not from kdcl's code:
- memory: a fixed total, floor(total / seen) exemplars per class, chosen by herding on L2-normalised eval-mode
  features (iCaRL Alg. 4, each image at most once), old classes cut to their first m after each task;
- on tasks t >= 1, floor(ratio * m) images of each old class (from memory) and as many of each new class are held
  out at random; stage 1 trains on the rest with (1 - lambda) CE + lambda KD, lambda = n_old / n_seen, KD the
  soft-target cross-entropy at T = 2 over the old classes, both models' logits after the earlier bias layers;
- stage 2 trains alpha, beta of the new task's logits on the held-out images (eval mode, not augmented: FACIL's
  validation transform) with CE + penalty * beta^2 / 2, SGD with momentum, shuffled batches;
- prediction applies every bias layer.
Stage-1 optimiser: the small profiles' SGD with a per-epoch cosine (torch_common.profile_sgd). The BiC settings come
from kdcl's resolved config (--config, JSON), so both sides run one configuration.

Usage: /usr/bin/python3 bic_torch.py --data DIR --seed S --config JSON [--initial 5 --increment 5 --init-epochs 8
       --epochs 4 --batch 32 --width 0.5 --blocks 1 --threads 2]
Prints one JSON line: {"method", "seed", "matrix", "cnnMatrix", "stages", "last", "aia", "peakRssMiB"} (percent).
"""
import json

import numpy as np
import torch
import torch.nn.functional as F

from torch_common import (Network, eval_features, frozen_copy, profile_sgd, reference_parser, report, start, summary,
                          task_accuracies, train_task)


def corrected(logits, corrections):
    """alpha * o + beta on each corrected task's columns; other columns unchanged."""
    if not corrections:
        return logits
    scale, shift = torch.ones(logits.shape[1]), torch.zeros(logits.shape[1])
    for lo, hi, alpha, beta in corrections:
        if hi <= logits.shape[1]:
            scale[lo:hi], shift[lo:hi] = alpha, beta
    return logits * scale + shift


def herding(features, m):
    """Positions of m rows chosen in order so that the running mean of the chosen normalised rows tracks their mean."""
    phi = F.normalize(features.double(), dim=1)
    mu, total, chosen = phi.mean(0), torch.zeros(phi.shape[1], dtype=torch.float64), []
    free = torch.ones(len(phi), dtype=torch.bool)
    for k in range(1, m + 1):
        distance = ((mu - (total + phi) / k) ** 2).sum(1)
        distance[~free] = float('inf')
        best = int(torch.argmin(distance))  # first minimum: ties go to the lower position
        chosen.append(best)
        free[best] = False
        total += phi[best]
    return chosen


def hold_out(indices, labels, per_class, rng):
    """Splits indices into (kept, held out) with per_class random held-out images of each class."""
    kept, held = [], []
    for c in sorted(set(labels.tolist())):
        members = indices[labels == c]
        members = members[torch.from_numpy(rng.permutation(len(members)))]
        held.append(members[:per_class])
        kept.append(members[per_class:])
    return torch.cat(kept), torch.cat(held)


def fit_bias(logits, labels, lo, hi, cfg, rng):
    """Stage 2 on fixed logits: returns (alpha, beta)."""
    alpha, beta = torch.ones(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([alpha, beta], lr=cfg['biasLearningRate'], momentum=cfg['biasMomentum'])
    for _ in range(cfg['biasEpochs']):
        order = torch.from_numpy(rng.permutation(len(labels)))
        for b in range(0, len(order), cfg['biasBatchSize']):
            bi = order[b : b + cfg['biasBatchSize']]
            z = logits[bi]
            z = torch.cat([z[:, :lo], alpha * z[:, lo:hi] + beta, z[:, hi:]], 1)
            loss = F.cross_entropy(z, labels[bi]) + cfg['betaPenalty'] * (beta ** 2).sum() / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
    return alpha.item(), beta.item()


def main():
    p = reference_parser('BiC')
    a = p.parse_args()
    cfg = json.loads(a.config)

    rng, xtr, ytr, xte, yte, tasks = start(a)

    net, old, memory, corrections = Network(a.width, a.blocks), None, {}, []
    matrix, cnn_matrix, stages = [], [], []
    for t, (lo, hi) in enumerate(tasks):
        net.grow(hi)
        new = torch.nonzero((ytr >= lo) & (ytr < hi)).flatten()
        held = None
        if t == 0:
            train = new
        else:
            m = min(len(v) for v in memory.values())
            per_class = int(cfg['validationRatio'] * m)
            replay = torch.cat([memory[c] for c in sorted(memory)])
            replay_train, replay_held = hold_out(replay, ytr[replay], per_class, rng)
            new_train, new_held = hold_out(new, ytr[new], per_class, rng)
            train, held = torch.cat([new_train, replay_train]), torch.cat([replay_held, new_held])
        lam = lo / hi

        def step_loss(x, y):
            logits = corrected(net(x), corrections)
            loss = (1 - lam) * F.cross_entropy(logits, y)
            if old is not None:
                with torch.no_grad():
                    teacher = corrected(old(x), corrections)
                soft = F.softmax(teacher / cfg['temperature'], 1)
                loss = loss + lam * -(soft * F.log_softmax(logits[:, :lo] / cfg['temperature'], 1)).sum(1).mean()
            return loss

        train_task(net, profile_sgd(net, t), train, xtr, ytr, a.init_epochs if t == 0 else a.epochs, a.batch, rng, step_loss)
        net.eval()
        if held is not None:  # stage 2
            with torch.no_grad():
                logits = corrected(net.fc(eval_features(net, xtr[held])), corrections)
            labels = ytr[held]
            before = 100 * (logits.argmax(1) == labels).float().mean().item()
            alpha, beta = fit_bias(logits, labels, lo, hi, cfg, rng)
            corrections.append((lo, hi, alpha, beta))
            after = 100 * (corrected(logits, corrections).argmax(1) == labels).float().mean().item()
            stages.append({'task': t, 'heldOutImages': len(held), 'accuracyBefore': before, 'accuracyAfter': after, 'alpha': alpha, 'beta': beta})
        with torch.no_grad():
            seen = yte < hi
            raw = net.fc(eval_features(net, xte[seen]))
            matrix.append(task_accuracies(corrected(raw, corrections).argmax(1), yte[seen], tasks[: t + 1]))
            cnn_matrix.append(task_accuracies(raw.argmax(1), yte[seen], tasks[: t + 1]))
        # Memory: floor(total / seen) per class, old classes cut to their first m, new ones by herding.
        m = cfg['memory']['total'] // hi
        memory = {c: v[:m] for c, v in memory.items()}
        for c in range(lo, hi):
            members = torch.nonzero(ytr == c).flatten()
            memory[c] = members[herding(eval_features(net, xtr[members]), min(m, len(members)))]
        old = frozen_copy(net)

    cnn_last, cnn_aia = summary(cnn_matrix, tasks)
    report('bic', a.seed, matrix, tasks, cnnMatrix=cnn_matrix, stages=stages, cnnLast=cnn_last, cnnAia=cnn_aia)


if __name__ == '__main__':
    main()
