#!/usr/bin/python3
"""PyTorch baseline for the Fashion-MNIST benchmark (bench/fashion-mnist.ts runs it).

Two variants, one per process so neither inherits the other's warm caches:
  pytorch            idiomatic: torchvision.datasets.FashionMNIST + ToTensor + DataLoader
  pytorch_preloaded  the whole split is one pre-made tensor and batches are slices, the way
                     Loupe feeds its engine; it separates the data pipeline's cost from compute

The network, optimiser, batch size, thread count and initialisation (PyTorch's module
defaults, which libtorch's C++ modules share) match the Loupe side. Prints one JSON object.
Run with Debian's interpreter (/usr/bin/python3), which has torch and torchvision.
"""
import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def small_cnn():
    """conv32-pool-conv64-pool-dense128-dense10, as smallCnnSpec in src/engine/spec/families/vgg.ts."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def torchvision_root(source, tmp):
    """Lays the Debian files out as torchvision expects: <root>/FashionMNIST/raw/<name> (unpacked)."""
    raw = os.path.join(tmp, "FashionMNIST", "raw")
    os.makedirs(raw)
    for name in RAW_FILES:
        with gzip.open(os.path.join(source, name + ".gz"), "rb") as src, open(os.path.join(raw, name), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return tmp


def make_loaders(variant, root, limit_train, limit_test, batch):
    train = torchvision.datasets.FashionMNIST(root, train=True, download=False, transform=transforms.ToTensor())
    test = torchvision.datasets.FashionMNIST(root, train=False, download=False, transform=transforms.ToTensor())
    if limit_train:
        train = Subset(train, range(limit_train))
    if limit_test:
        test = Subset(test, range(limit_test))
    if variant == "pytorch":
        return DataLoader(train, batch_size=batch, shuffle=True), DataLoader(test, batch_size=1000, shuffle=False)

    # Same bytes, same [0, 1] scaling as ToTensor, materialised once.
    def tensors(ds):
        base = ds.dataset if isinstance(ds, Subset) else ds
        n = len(ds)
        x = base.data[:n].unsqueeze(1).float().div_(255.0).contiguous()
        return x, base.targets[:n].clone()

    return tensors(train), tensors(test)


def batches(data, batch, shuffle):
    if isinstance(data, DataLoader):
        yield from data
        return
    x, y = data
    n = x.shape[0]
    order = torch.randperm(n) if shuffle else None
    for i in range(0, n, batch):
        if order is None:
            yield x[i : i + batch], y[i : i + batch]
        else:
            idx = order[i : i + batch]
            yield x[idx], y[idx]


def train_epoch(model, opt, data, batch, max_steps=None):
    model.train()
    seen = 0
    loss_sum = 0.0
    for step, (xb, yb) in enumerate(batches(data, batch, shuffle=True)):
        if max_steps is not None and step >= max_steps:
            break
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        seen += xb.shape[0]
        loss_sum += loss.item() * xb.shape[0]
    return seen, loss_sum / max(seen, 1)


@torch.no_grad()
def evaluate(model, data, batch):
    model.eval()
    correct = 0
    seen = 0
    for xb, yb in batches(data, batch, shuffle=False):
        correct += (model(xb).argmax(1) == yb).sum().item()
        seen += xb.shape[0]
    return seen, correct / max(seen, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", choices=["pytorch", "pytorch_preloaded"], default="pytorch")
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--infer-batch", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (0 = all)")
    p.add_argument("--limit-test", type=int, default=0)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="timed inference passes; the median is reported")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    tmp = tempfile.mkdtemp(prefix="loupe-bench-fmnist-")
    try:
        t0 = time.perf_counter()
        root = torchvision_root(a.source, tmp)
        train, test = make_loaders(a.variant, root, a.limit_train, a.limit_test, a.batch)
        if isinstance(test, DataLoader):
            test = DataLoader(test.dataset, batch_size=a.infer_batch, shuffle=False)
        load_s = time.perf_counter() - t0

        # Warm-up on a throwaway model so allocator and kernel caches are primed, then train a
        # fresh one from the seed: the timed run is a clean first epoch.
        torch.manual_seed(a.seed + 1)
        warm = small_cnn()
        train_epoch(warm, torch.optim.Adam(warm.parameters(), lr=a.lr), train, a.batch, max_steps=a.warmup_steps)
        evaluate(warm, test, a.infer_batch)
        del warm

        torch.manual_seed(a.seed)
        model = small_cnn()
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
        epoch_s = []
        seen = 0
        loss = float("nan")
        for _ in range(a.epochs):
            t0 = time.perf_counter()
            seen, loss = train_epoch(model, opt, train, a.batch)
            epoch_s.append(time.perf_counter() - t0)

        infer_s = []
        accuracy = float("nan")
        n_test = 0
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            n_test, accuracy = evaluate(model, test, a.infer_batch)
            infer_s.append(time.perf_counter() - t0)

        print(
            json.dumps(
                {
                    "variant": a.variant,
                    "train_images": seen,
                    "test_images": n_test,
                    "epochs": a.epochs,
                    "batch": a.batch,
                    "infer_batch": a.infer_batch,
                    "threads": torch.get_num_threads(),
                    "load_s": load_s,
                    "epoch_s": epoch_s,
                    "train_images_per_s": seen / statistics.median(epoch_s),
                    "train_loss_last_epoch": loss,
                    "infer_s": infer_s,
                    "infer_images_per_s": n_test / statistics.median(infer_s),
                    "test_accuracy": accuracy,
                    "torch_version": torch.__version__,
                    "torchvision_version": torchvision.__version__,
                    "python_version": platform.python_version(),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
