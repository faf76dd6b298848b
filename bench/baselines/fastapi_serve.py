#!/usr/bin/python3
"""FastAPI + uvicorn + PyTorch baseline for the serving benchmark (bench/serve.ts runs it).

Serves the model Loupe serves, as a PyTorch user would: the run's weights file
(model.safetensors, read here with a few lines of numpy; the network's spec travels in its
metadata as "loupe.spec") loaded into the equivalent torch.nn network, the same preprocessing
(centre crop to the input's aspect, resize, grey, mean/std from the packaged model's `inputs`
metadata), softmax(logits / T) with the registered temperature T, and the top-5 labels.

    POST /predict   multipart/form-data with one image file (field "file")
    GET  /health    200 once the model is loaded

Run with Debian's interpreter (/usr/bin/python3), which has fastapi, uvicorn,
python3-multipart, torch and PIL:

    fastapi_serve.py --weights model.safetensors --model model.json --port 8000 --threads 2

model.json holds {"classes": [...], "inputs": {...}, "temperature": T} as the packaged ONNX
file's metadata records them. One uvicorn worker on 127.0.0.1 by default, the common setup;
--workers 2 runs uvicorn's process manager with one model per worker process (give each
--threads cores / workers).
"""
import argparse
import io
import json
import os
import platform
import socket
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import uvicorn
from fastapi import FastAPI, File, HTTPException, UploadFile
from PIL import Image

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU}


def read_safetensors(path):
    """{name: torch tensor}, {metadata}: an 8-byte little-endian header length, JSON, then the data."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        a = np.frombuffer(raw, dtype=DTYPES[t["dtype"]], count=(end - begin) // np.dtype(DTYPES[t["dtype"]]).itemsize, offset=8 + n + begin)
        tensors[name] = torch.from_numpy(a.astype(np.float32).reshape(t["shape"]))
    return tensors, metadata


def build(layers):
    """The torch.nn equivalent of a Loupe spec's layers (the kinds a scratch CNN uses), named alike."""
    modules = OrderedDict()
    for layer in layers:
        kind, name = layer["type"], layer["name"]
        if kind == "sequential":
            m = build(layer["layers"])
        elif kind == "conv2d":
            pad = layer["padding"]
            if len(set(pad)) != 1:
                raise ValueError(f"{name}: asymmetric padding {pad} is not supported here")
            m = nn.Conv2d(
                layer["in"],
                layer["out"],
                tuple(layer["kernel"]),
                stride=tuple(layer["stride"]),
                padding=pad[0],
                dilation=tuple(layer["dilation"]),
                groups=layer["groups"],
                bias=layer["bias"],
            )
        elif kind == "linear":
            m = nn.Linear(layer["in"], layer["out"], bias=layer["bias"])
        elif kind in ACTIVATIONS:
            m = ACTIVATIONS[kind]()
        elif kind in ("maxpool", "avgpool"):
            pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
            m = pool(tuple(layer["kernel"]), tuple(layer["stride"]), tuple(layer["padding"]))
        elif kind == "global_avgpool":
            m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        elif kind == "flatten":
            m = nn.Flatten()
        elif kind == "dropout":
            m = nn.Dropout(layer["p"])
        elif kind == "batchnorm":
            m = nn.BatchNorm2d(layer["features"], eps=layer["eps"])
        else:
            raise ValueError(f"layer {name}: kind {kind!r} is not supported by this baseline")
        modules[name] = m
    return nn.Sequential(modules)


class Preprocess:
    """Centre crop to the input's aspect ('cover'), resize, grey or RGB, /255, (x - mean) / std, NCHW."""

    def __init__(self, p):
        self.width, self.height = p["width"], p["height"]
        self.gray = p["channelOrder"] == "gray"
        self.cover = p["fit"] == "cover"
        self.background = tuple(p["background"])
        c = 1 if self.gray else 3
        self.mean = torch.tensor(p["mean"][:c]).view(c, 1, 1)
        self.std = torch.tensor(p["std"][:c]).view(c, 1, 1)

    def __call__(self, img):
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            flat = Image.new("RGBA", img.size, self.background + (255,))
            img = Image.alpha_composite(flat, img)
        img = img.convert("L" if self.gray else "RGB")
        w, h = img.size
        if self.cover:
            target = self.width / self.height
            if w / h > target:
                cw = max(1, round(h * target))
                img = img.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
            elif w / h < target:
                ch = max(1, round(w / target))
                img = img.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
        if img.size != (self.width, self.height):
            img = img.resize((self.width, self.height), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        x = x.unsqueeze(0) if self.gray else x.permute(2, 0, 1)
        return ((x - self.mean) / self.std).unsqueeze(0)


def create_app(weights, model_json, top_k):
    tensors, metadata = read_safetensors(weights)
    spec = json.loads(metadata["loupe.spec"])
    with open(model_json) as f:
        info = json.load(f)
    net = build(spec["layers"])
    missing, unexpected = net.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"weights do not fit the network: missing {missing}, unexpected {unexpected}")
    net.eval()
    classes = info["classes"]
    temperature = float(info["temperature"])
    preprocess = Preprocess(info["inputs"]["preprocessing"])
    k = min(top_k, len(classes))

    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    def classify(data):
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Exception as e:
            raise HTTPException(status_code=400, detail=f"not an image: {e}")
        x = preprocess(img)
        with torch.inference_mode():
            probs = torch.softmax(net(x) / temperature, dim=1)[0]
        p, i = torch.topk(probs, k)
        return {"predictions": [{"label": classes[j], "probability": float(q)} for q, j in zip(p.tolist(), i.tolist())]}

    return app, classify


def build_app(a):
    """The app with its /predict route, as the arguments say."""
    torch.set_num_threads(a.threads)
    app, classify = create_app(a.weights, a.model, a.top_k)
    if a.handler == "async":

        @app.post("/predict")
        async def predict(file: UploadFile = File(...)):
            return classify(await file.read())

    else:

        @app.post("/predict")
        def predict(file: UploadFile = File(...)):
            return classify(file.file.read())

    return app


ARGS_ENV = "LOUPE_FASTAPI_SERVE_ARGS"


def app_from_env():
    """The app factory uvicorn's worker processes call (--workers > 1): they import this module."""
    return build_app(argparse.Namespace(**json.loads(os.environ[ARGS_ENV])))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--model", required=True, help="JSON: classes, inputs, temperature")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument(
        "--handler",
        choices=["async", "sync"],
        default="async",
        help="async: `async def`, the work done on the event loop, as most model-serving examples do; "
        "sync: a plain `def` handler, which FastAPI runs in its threadpool (its advice for blocking work)",
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    a = p.parse_args()

    # With several workers, each builds its own; the manager process holds no model.
    app = build_app(a) if a.workers == 1 else None
    torch.set_num_threads(a.threads)
    print(
        json.dumps(
            {
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
                "uvicorn_version": uvicorn.__version__,
                "threads": torch.get_num_threads(),
                "handler": a.handler,
                "workers": a.workers,
            }
        ),
        flush=True,
    )
    if a.workers == 1:
        uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)
        return
    os.environ[ARGS_ENV] = json.dumps(vars(a))
    # uvicorn binds the shared listening socket itself here, with protocol 0, and asyncio then
    # skips TCP_NODELAY on the connections it accepts (it checks for IPPROTO_TCP): every answer
    # would wait out the client's 40 ms delayed ACK. Accepted sockets inherit the option from
    # the listener on Linux, so it is set there, as one worker gets it from asyncio.
    bind_socket = uvicorn.Config.bind_socket

    def bind_socket_nodelay(config):
        sock = bind_socket(config)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    uvicorn.Config.bind_socket = bind_socket_nodelay
    uvicorn.run(
        f"{os.path.splitext(os.path.basename(__file__))[0]}:app_from_env",
        factory=True,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        workers=a.workers,
        host=a.host,
        port=a.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
