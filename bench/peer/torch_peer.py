"""The PyTorch peer of kdq's bench suite (`npm run bench -- --peer`).

Reads one job as JSON on stdin: {"inputShape": [h, w, c], "classes": n, "layers": [kdq layer
specs, defaults resolved], "batch": b, "steps": s, "runs": r, "warmup": w, "warmupSeconds": ws, "threads": t, "seed": k}
and trains the same network in PyTorch (NCHW, its default layout) with Adam (lr 0.001) and
cross-entropy on seeded random data, timed the way bench/shape-throughput.ts times kdq: samples/s at
the median step of each run, and the median of those. Prints one JSON line.

With "serve": true in the job, it warms up, prints {"ready": true}, then reads commands, one per
line: "run" times one run and prints {"medianStep": samples/s at its median step}; "finish" prints
the JSON line above (over the runs done) and exits. The suite interleaves these runs with kdq's,
so that each ratio compares runs made seconds apart.

Run with Debian's python3-torch (/usr/bin/python3). Layers are interpreted from kdq's specs, so
both sides train one network written once (bench/shapes.ts).
"""

import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_pad(size, kernel, stride):
    """TensorFlow's SAME padding of one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def act(name):
    if name in (None, "linear"):
        return None
    return {"relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softmax": lambda x: F.softmax(x, 1)}[name]


class Node(nn.Module):
    """One kdq layer: its module (if any), its inputs by index, and what it does to them."""

    def __init__(self, spec, in_shapes):
        super().__init__()
        self.spec = spec
        t = spec["type"]
        c, h, w = in_shapes[0] if len(in_shapes[0]) == 3 else (None, None, None)
        self.pad = None
        self.fn = act(spec.get("activation"))
        if t in ("conv2d", "depthwiseConv2d"):
            kh, kw = pair(spec["kernelSize"])
            sh, sw = pair(spec.get("strides", 1))
            if t == "conv2d":
                out_c, groups = spec["filters"], 1
            else:
                out_c, groups = c * spec.get("depthMultiplier", 1), c
            self.mod = nn.Conv2d(c, out_c, (kh, kw), (sh, sw), groups=groups, bias=spec.get("useBias", True))
            if spec.get("padding", "valid") == "same":
                ph, pw = same_pad(h, kh, sh), same_pad(w, kw, sw)
                self.pad = (pw[0], pw[1], ph[0], ph[1])
                h, w = h + sum(ph), w + sum(pw)
            self.out = (out_c, (h - kh) // sh + 1, (w - kw) // sw + 1)
        elif t in ("maxPooling2d", "averagePooling2d"):
            kh, kw = pair(spec.get("poolSize", 2))
            sh, sw = pair(spec.get("strides") or spec.get("poolSize", 2))
            if spec.get("padding", "valid") == "same":
                ph, pw = same_pad(h, kh, sh), same_pad(w, kw, sw)
                self.pad = (pw[0], pw[1], ph[0], ph[1])
                h, w = h + sum(ph), w + sum(pw)
            cls = nn.MaxPool2d if t == "maxPooling2d" else nn.AvgPool2d
            self.mod = cls((kh, kw), (sh, sw))
            self.out = (c, (h - kh) // sh + 1, (w - kw) // sw + 1)
        elif t == "globalAveragePooling2d":
            self.mod = None  # a mean over height and width, in forward
            self.out = (c,)
        elif t == "flatten":
            self.mod = nn.Flatten()
            n = 1
            for d in in_shapes[0]:
                n *= d
            self.out = (n,)
        elif t == "dense":
            self.mod = nn.Linear(in_shapes[0][0], spec["units"], bias=spec.get("useBias", True))
            self.out = (spec["units"],)
        elif t == "batchNormalization":
            n = in_shapes[0][0]
            mom = 1 - spec.get("momentum", 0.99)
            eps = spec.get("epsilon", 0.001)
            self.mod = nn.BatchNorm2d(n, eps, mom) if len(in_shapes[0]) == 3 else nn.BatchNorm1d(n, eps, mom)
            self.out = in_shapes[0]
        elif t in ("activation", "dropout", "add", "concatenate"):
            self.mod = nn.Dropout(spec.get("rate", 0.0)) if t == "dropout" else None
            if t == "concatenate":
                self.out = (sum(s[0] for s in in_shapes),) + tuple(in_shapes[0][1:])
            else:
                self.out = in_shapes[0]
        else:
            raise SystemExit(f"torch_peer: layer type '{t}' is not interpreted here; add it to bench/peer/torch_peer.py")

    def forward(self, xs):
        t = self.spec["type"]
        if t == "add":
            x = xs[0]
            for y in xs[1:]:
                x = x + y
        elif t == "concatenate":
            x = torch.cat(xs, 1)
        elif t == "globalAveragePooling2d":
            x = xs[0].mean((2, 3))
        else:
            x = xs[0]
            if self.pad is not None:
                x = F.pad(x, self.pad)
            if self.mod is not None:
                x = self.mod(x)
        return self.fn(x) if self.fn is not None else x


class Net(nn.Module):
    def __init__(self, layers, input_shape):
        super().__init__()
        h, w, c = input_shape
        shapes = {"input": (c, h, w)}
        self.wiring = []
        nodes = []
        prev = "input"
        for i, spec in enumerate(layers):
            names = spec.get("inputs") or [prev]
            node = Node(spec, [shapes[n] for n in names])
            name = spec.get("name") or f"#{i}"
            shapes[name] = node.out
            self.wiring.append((name, names))
            nodes.append(node)
            prev = name
        self.nodes = nn.ModuleList(nodes)

    def forward(self, x):
        values = {"input": x}
        for node, (name, names) in zip(self.nodes, self.wiring):
            x = node([values[n] for n in names])
            values[name] = x
        return x


def blas_library():
    """The BLAS this process loaded: Debian's torch uses whatever libblas.so.3 points to (the
    reference BLAS unless libopenblas0-pthread is installed, about half the speed here)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "libblas" in line or "openblas" in line:
                return line.split()[-1]
    return "unknown"


def main():
    job = json.loads(sys.stdin.readline())
    torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    h, w, c = job["inputShape"]
    b = job["batch"]
    net = Net(job["layers"], job["inputShape"])
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    steps, runs, warmup = job["steps"], job["runs"], job["warmup"]
    xs = torch.rand(b * steps, c, h, w)
    ys = torch.randint(0, job["classes"], (b * steps,))
    net.train()

    def step(i):
        j = i % steps
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(xs[j * b : (j + 1) * b]), ys[j * b : (j + 1) * b])
        loss.backward()
        opt.step()

    warm = time.perf_counter() + job.get("warmupSeconds", 0)
    i = 0
    while i < warmup or time.perf_counter() < warm:
        step(i)
        i += 1
    median_steps, walls, step_times = [], [], []

    def run():
        times = []
        t0 = time.perf_counter()
        for i in range(steps):
            s0 = time.perf_counter()
            step(i)
            times.append(time.perf_counter() - s0)
        walls.append(b * steps / (time.perf_counter() - t0))
        median_steps.append(b / statistics.median(times))
        step_times.extend(times)
        return median_steps[-1]

    if job.get("serve"):
        print(json.dumps({"ready": True}), flush=True)
        while True:
            command = sys.stdin.readline().strip()
            if command == "run":
                print(json.dumps({"medianStep": round(run(), 1)}), flush=True)
            elif command in ("finish", ""):
                break
            else:
                raise SystemExit(f"torch_peer: unknown command {command!r}; expected run or finish")
    else:
        for _ in range(runs):
            run()
    fastest = min(step_times)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "blas": blas_library(),
                "threads": job["threads"],
                "medianStepRuns": [round(v, 1) for v in median_steps],
                "medianSteps": round(statistics.median(median_steps), 1),
                "median": round(statistics.median(walls), 1),
                "minStepMs": round(fastest * 1000, 2),
                # as Keras counts them: batch norm's moving mean and variance included
                "parameters": sum(p.numel() for p in net.parameters()) + sum(b.numel() for n, b in net.named_buffers() if "running_" in n),
            }
        )
    )


if __name__ == "__main__":
    main()
