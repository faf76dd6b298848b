#!/usr/bin/python3
"""PyTorch baseline for the probe-tune benchmark (bench/probe-tune.ts runs it).

Trains, one after the other, the probe heads a Loupe study tried: the same cached MobileNetV2
embeddings (exported from the workspace as one float32 .npy, train then val then test rows),
the same head (flatten -> [linear + relu] -> [dropout] -> linear), AdamW, a per-step cosine
schedule over the planned epochs, inverse-frequency class weights in the loss, the same batch
size, and as many epochs as each Loupe trial actually ran before ASHA or early stopping ended it.
Like Loupe, it measures validation macro-F1 after every epoch (what pruning decides on) and test
accuracy of every trial that completed. Prints one JSON object.
Run with Debian's interpreter (/usr/bin/python3), which has torch.
"""
import argparse
import json
import math
import platform
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def head(dim, classes, hidden, dropout):
    layers = [nn.Flatten()]
    if hidden > 0:
        layers += [nn.Linear(dim, hidden), nn.ReLU()]
        dim = hidden
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(dim, classes))
    return nn.Sequential(*layers)


@torch.no_grad()
def predict(model, x, batch=256):
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])


def macro_f1(pred, y, classes):
    scores = []
    for c in range(classes):
        tp = ((pred == c) & (y == c)).sum().item()
        fp = ((pred == c) & (y != c)).sum().item()
        fn = ((pred != c) & (y == c)).sum().item()
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / max(len(scores), 1)


def train_trial(t, data, classes, class_weights, seed):
    (x, y), (xv, yv), (xt, yt) = data
    torch.manual_seed(seed)
    model = head(x.shape[1], classes, t["hidden"], t["dropout"])
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / t["batch"])
    total = steps_per_epoch * t["epochs"]
    val_f1 = []
    for epoch in range(t["epochs_run"]):
        model.train()
        order = torch.randperm(n)
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            lr = 0.5 * t["lr"] * (1 + math.cos(math.pi * min(1.0, step / total)))
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[b * t["batch"] : (b + 1) * t["batch"]]
            loss = F.cross_entropy(model(x[idx]), y[idx], weight=class_weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_f1.append(macro_f1(predict(model, xv), yv, classes))
    out = {"number": t["number"], "val_macro_f1": val_f1[-1] if val_f1 else None}
    if t["state"] == "complete":
        out["test_accuracy"] = (predict(model, xt) == yt).sum().item() / yt.shape[0]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--job", required=True, help="JSON: counts, labels, classes, trials")
    p.add_argument("--embeddings", required=True, help=".npy of float32 rows: train, val, test")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    with open(a.job) as f:
        job = json.load(f)
    x = torch.from_numpy(np.load(a.embeddings))
    y = torch.tensor(job["labels"], dtype=torch.long)
    n_train, n_val = job["counts"]["train"], job["counts"]["val"]
    cut = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, x.shape[0])]
    data = [(x[s:e].contiguous(), y[s:e]) for s, e in cut]
    classes = job["classes"]
    # Mean 1 over present classes, as Loupe's inverseFrequencyWeights.
    counts = torch.bincount(data[0][1], minlength=classes).double()
    present = (counts > 0).sum().item()
    class_weights = torch.where(counts > 0, n_train / (present * counts.clamp_min(1)), torch.zeros_like(counts)).float()

    results = []
    t0 = time.perf_counter()
    for t in job["trials"]:
        started = time.perf_counter()
        r = train_trial(t, data, classes, class_weights, a.seed)
        r["seconds"] = time.perf_counter() - started
        results.append(r)
    wall_s = time.perf_counter() - t0

    best = next((r for r in results if r["number"] == job.get("best")), None)
    print(
        json.dumps(
            {
                "wall_s": wall_s,
                "trials": results,
                "epochs_total": sum(t["epochs_run"] for t in job["trials"]),
                "best_test_accuracy": best.get("test_accuracy") if best else None,
                "threads": torch.get_num_threads(),
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
