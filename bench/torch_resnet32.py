"""PyTorch CPU reference for `npm run bench`: the same ResNet-32 training step and distillation step as kdcl's bench.

Usage: /usr/bin/python3 bench/torch_resnet32.py --threads N [--steps S] [--warmup W] [--batch B] [--shortcut A|conv]
Prints one JSON line: {"trainImgPerSec", "kdImgPerSec", ..., "peakRssMiB", "threads", "torch"}. Throughput is
batch / median step time (robust to other processes on a shared machine), as in bench/worker.ts; the *Mean
fields use total time.
"""
import argparse
import contextlib
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ShortcutA(nn.Module):
    """Option-A shortcut (He et al. 2016, sec. 4.2): stride-2 subsampling, then zero channels appended."""

    def __init__(self, stride, extra_channels):
        super().__init__()
        self.stride = stride
        self.extra = extra_channels

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            if shortcut == 'A':
                self.down = ShortcutA(stride, cout - cin)
            else:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.down is None else self.down(x)
        return F.relu(out + identity)


class ResNet32(nn.Module):
    def __init__(self, num_classes, shortcut):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks = []
        cin = 16
        for stage, cout in enumerate([16, 32, 64]):
            for i in range(5):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride, shortcut))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.blocks(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def kd_loss(student_logits, teacher_logits, temperature):
    """Hinton KD: T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean."""
    p_t = F.softmax(teacher_logits / temperature, dim=1)
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(log_p_s, p_t, reduction='batchmean') * temperature * temperature


def step_times(step, steps, warmup):
    """Wall seconds and process CPU milliseconds (all threads) of each timed step."""
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        cpu_start = time.process_time()
        start = time.perf_counter()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append((time.process_time() - cpu_start) * 1000)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, required=True)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--classes', type=int, default=100)
    parser.add_argument('--shortcut', choices=['A', 'conv'], default='A')
    parser.add_argument('--temperature', type=float, default=2.0)
    parser.add_argument('--bf16', action='store_true', help='torch.autocast(cpu, bfloat16) around the forward passes')
    args = parser.parse_args()
    # Mixed precision as PyTorch's CPU AMP recipe does it: autocast around forward and loss, backward outside.
    amp = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, args.classes, (args.batch,))

    student = ResNet32(args.classes, args.shortcut)
    teacher = ResNet32(args.classes, args.shortcut)
    teacher.eval()
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    student.train()

    def train_step():
        opt.zero_grad()
        with amp():
            loss = F.cross_entropy(student(x), y)
        loss.backward()
        opt.step()

    def kd_step():
        with torch.no_grad(), amp():
            t_logits = teacher(x)
        opt.zero_grad()
        with amp():
            s_logits = student(x)
            loss = F.cross_entropy(s_logits, y) + kd_loss(s_logits, t_logits, args.temperature)
        loss.backward()
        opt.step()

    train, train_cpu = step_times(train_step, args.steps, args.warmup)
    kd, kd_cpu = step_times(kd_step, args.steps, args.warmup)
    print(json.dumps({
        'trainImgPerSec': args.batch / statistics.median(train),
        'kdImgPerSec': args.batch / statistics.median(kd),
        'trainImgPerSecMean': args.batch * len(train) / sum(train),
        'kdImgPerSecMean': args.batch * len(kd) / sum(kd),
        'trainCpuMsPerStep': statistics.median(train_cpu),
        'kdCpuMsPerStep': statistics.median(kd_cpu),
        'batch': args.batch,
        'steps': args.steps,
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'threads': args.threads,
        'torch': torch.__version__,
        'precision': 'bf16' if args.bf16 else 'fp32',
    }))


if __name__ == '__main__':
    main()
