"""Writes the first N images and labels of MNIST's IDX files as gzipped IDX files (see SOURCE.md).

Usage: python3 subset.py MNIST_DIR   (the folder of train-images-idx3-ubyte and the three others)
"""
import gzip
import struct
import sys

SETS = {'train': ('train', 300), 'test': ('t10k', 100)}


def subset(src, dst, count):
    with open(src, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = list(struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims]))
    item = 1
    for d in shape[1:]:
        item *= d
    header = data[:4] + struct.pack('>' + 'I' * dims, count, *shape[1:])
    body = data[4 + 4 * dims:4 + 4 * dims + count * item]
    # mtime=0: the same bytes on every run, so the files' hashes (and kdq's cache keys) are stable.
    with open(dst, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as out:
        out.write(header + body)


for name, (prefix, count) in SETS.items():
    subset(f'{sys.argv[1]}/{prefix}-images-idx3-ubyte', f'{name}-images-idx3-ubyte.gz', count)
    subset(f'{sys.argv[1]}/{prefix}-labels-idx1-ubyte', f'{name}-labels-idx1-ubyte.gz', count)
