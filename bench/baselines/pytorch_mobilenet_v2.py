#!/usr/bin/python3
"""PyTorch eager baseline for MobileNetV2 feature extraction (bench/mobilenet-v2.ts runs it).

torchvision's mobilenet_v2().features followed by global average pooling gives the 1280-d
vector Loupe's tap returns. Random weights: speed does not depend on their values. Eval mode,
no_grad, random input. Prints one JSON object.
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    p.add_argument("--iterations", type=int, default=5, help="timed batches per repeat")
    p.add_argument("--repeats", type=int, default=3, help="the median repeat is reported")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    features = torchvision.models.mobilenet_v2(weights=None).features.eval()
    x = torch.rand(a.batch, 3, a.size, a.size)

    def extract():
        return F.adaptive_avg_pool2d(features(x), 1).flatten(1)

    with torch.no_grad():
        for _ in range(a.warmup):
            dim = extract().shape[1]
        rates = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for _ in range(a.iterations):
                extract()
            rates.append(a.batch * a.iterations / (time.perf_counter() - t0))

    print(
        json.dumps(
            {
                "variant": "pytorch",
                "batch": a.batch,
                "size": a.size,
                "feature_dim": dim if a.warmup else None,
                "threads": torch.get_num_threads(),
                "rates": rates,
                "images_per_s": statistics.median(rates),
                "torch_version": torch.__version__,
                "torchvision_version": torchvision.__version__,
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
