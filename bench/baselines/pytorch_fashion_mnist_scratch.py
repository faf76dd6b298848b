#!/usr/bin/python3
"""PyTorch baseline for the Fashion-MNIST from-scratch benchmark (bench/fashion-mnist-scratch.ts).

Trains the network vggSpec builds (src/engine/spec/families/vgg.ts) with the same optimiser,
learning-rate schedule (src/train/lr-schedule.ts, per step), batch size, epochs, label
smoothing and augmentation as the Loupe side, and measures test accuracy after every epoch.
It is the fast way to do this in PyTorch: both splits are preloaded tensors, batches are
shuffled index slices and augmentation is a few tensor ops on the whole batch, with no
DataLoader workers to compete with the two compute threads.

Prints one JSON line per epoch as it goes, then a summary JSON object (curve included) last.
Run with Debian's interpreter (/usr/bin/python3), which has torch.
"""
import argparse
import gzip
import json
import math
import os
import platform
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIDE = 28
PAD = 2


def read_idx(source, prefix, limit):
    """One split as float [0, 1] NCHW images and int64 labels, as the Loupe side loads it."""
    with gzip.open(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"), "rb") as f:
        images = f.read()[16:]
    with gzip.open(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"), "rb") as f:
        labels = f.read()[8:]
    count = len(labels) if limit <= 0 else min(limit, len(labels))
    x = torch.frombuffer(bytearray(images[: count * SIDE * SIDE]), dtype=torch.uint8)
    y = torch.frombuffer(bytearray(labels[:count]), dtype=torch.uint8)
    return x.view(count, 1, SIDE, SIDE).float().div_(255.0), y.long()


def vgg(filters, convs, classifier, dropout, global_pool, num_classes=10):
    """The layers vggSpec with batchnorm emits: [conv3×3 (no bias) → BN → ReLU] × convs → maxpool per block."""
    layers = []
    channels = 1
    side = SIDE
    for b, f in enumerate(filters):
        for _ in range(convs[min(b, len(convs) - 1)]):
            layers += [nn.Conv2d(channels, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True)]
            channels = f
        layers.append(nn.MaxPool2d(2))
        side //= 2
    if global_pool:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        width = channels
    else:
        layers.append(nn.Flatten())
        width = channels * side * side
    for hidden in classifier:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def learning_rate_at(base, step, total, warmup):
    """Cosine decay to 0 after a linear warm-up, as learningRateAt in src/train/lr-schedule.ts."""
    progress = min(1.0, max(0, step - warmup) / max(1, total - warmup))
    lr = 0.5 * base * (1 + math.cos(math.pi * progress))
    return lr * (step + 1) / warmup if step < warmup else lr


def augment(x, translate):
    """Random horizontal flip, then pad `translate` black pixels and crop back at a random place."""
    n = x.shape[0]
    flip = torch.rand(n) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (translate,) * 4)
    oy = torch.randint(0, 2 * translate + 1, (n, 1, 1))
    ox = torch.randint(0, 2 * translate + 1, (n, 1, 1))
    rows = oy + torch.arange(SIDE).view(1, SIDE, 1)
    cols = ox + torch.arange(SIDE).view(1, 1, SIDE)
    return padded[torch.arange(n).view(n, 1, 1), 0, rows, cols].unsqueeze(1)


def make_optimizer(model, a):
    params = model.parameters()
    if a.optimizer == "sgd":
        return torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, nesterov=True, weight_decay=a.weight_decay)
    return torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay)


def train_steps(model, opt, x, y, a, first_step, total_steps, warmup, max_steps=None):
    """One shuffled epoch (or its first max_steps batches); returns the mean training loss."""
    model.train()
    order = torch.randperm(x.shape[0])
    loss_sum = 0.0
    seen = 0
    for b, start in enumerate(range(0, x.shape[0], a.batch)):
        if max_steps is not None and b >= max_steps:
            break
        for group in opt.param_groups:
            group["lr"] = learning_rate_at(a.lr, first_step + b, total_steps, warmup)
        idx = order[start : start + a.batch]
        xb = augment(x[idx], a.translate)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), y[idx], label_smoothing=a.label_smoothing)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * idx.shape[0]
        seen += idx.shape[0]
    return loss_sum / max(seen, 1)


@torch.no_grad()
def accuracy(model, x, y, batch):
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch):
        correct += (model(x[start : start + batch]).argmax(1) == y[start : start + batch]).sum().item()
    return correct / x.shape[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--filters", default="32,64")
    p.add_argument("--convs-per-block", default="2", help="one count for every block, or one per block")
    p.add_argument("--classifier", default="256", help="hidden dense widths, comma-separated ('' for none)")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--global-pool", action="store_true")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--lr-warmup-epochs", type=float, default=1)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--translate", type=int, default=PAD)
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (0 = all)")
    p.add_argument("--limit-test", type=int, default=0)
    p.add_argument("--warmup-steps", type=int, default=10, help="untimed steps on a throwaway model first")
    p.add_argument("--target", type=float, default=0.93)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    train_x, train_y = read_idx(a.source, "train", a.limit_train)
    test_x, test_y = read_idx(a.source, "t10k", a.limit_test)
    def build():
        return vgg(
            [int(f) for f in a.filters.split(",")],
            [int(c) for c in a.convs_per_block.split(",")],
            [int(w) for w in a.classifier.split(",") if w],
            a.dropout,
            a.global_pool,
        )

    steps_per_epoch = math.ceil(train_x.shape[0] / a.batch)
    total_steps = steps_per_epoch * a.epochs
    warmup = round(a.lr_warmup_epochs * steps_per_epoch)

    # Primes the allocator and kernel caches, as the Loupe side does, so epoch 1 is not charged
    # for one-off set-up.
    torch.manual_seed(a.seed + 1)
    warm = build()
    train_steps(warm, make_optimizer(warm, a), train_x, train_y, a, 0, total_steps, warmup, a.warmup_steps)
    accuracy(warm, test_x[: a.eval_batch], test_y[: a.eval_batch], a.eval_batch)
    del warm

    torch.manual_seed(a.seed)
    model = build()
    opt = make_optimizer(model, a)
    curve = []
    train_s = 0.0
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        loss = train_steps(model, opt, train_x, train_y, a, (epoch - 1) * steps_per_epoch, total_steps, warmup)
        seconds = time.perf_counter() - t0
        train_s += seconds
        t0 = time.perf_counter()
        acc = accuracy(model, test_x, test_y, a.eval_batch)
        point = {
            "epoch": epoch,
            "epoch_s": seconds,
            "train_s": train_s,
            "eval_s": time.perf_counter() - t0,
            "train_loss": loss,
            "test_accuracy": acc,
            # The machine may be shared: a load above the thread count means inflated times.
            "load_1m": os.getloadavg()[0],
        }
        curve.append(point)
        print(json.dumps(point), flush=True)

    reached = next((c["train_s"] for c in curve if c["test_accuracy"] >= a.target), None)
    print(
        json.dumps(
            {
                "train_images": train_x.shape[0],
                "test_images": test_x.shape[0],
                "parameters": sum(t.numel() for t in model.parameters()),
                "threads": torch.get_num_threads(),
                "train_s": train_s,
                "train_images_per_s": train_x.shape[0] * a.epochs / train_s,
                "test_accuracy": curve[-1]["test_accuracy"],
                "best_test_accuracy": max(c["test_accuracy"] for c in curve),
                "time_to_target_s": reached,
                "curve": curve,
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
