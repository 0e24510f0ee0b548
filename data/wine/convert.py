#!/usr/bin/env python3
"""Writes wine.csv from scikit-learn's copy of the UCI Wine data, as Debian's python3-sklearn ships it.

    apt-get download python3-sklearn && dpkg -x python3-sklearn_*.deb x
    python3 convert.py x/usr/lib/python3/dist-packages/sklearn/datasets/data/wine_data.csv > wine.csv

The source's first line is '178,13,class_0,class_1,class_2' (row and column counts, class names),
then 178 rows of 13 numbers and a class index 0..2. This adds a header with the attribute names of
the UCI description and writes the class as the cultivar name (UCI's classes 1, 2, 3), so the file
also exercises string labels. The numbers are copied as text, unchanged.
"""
import sys

COLUMNS = [
    'alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids',
    'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue', 'od280_od315_of_diluted_wines',
    'proline', 'cultivar',
]

with open(sys.argv[1]) as f:
    first, *rows = f.read().splitlines()
n, features = (int(v) for v in first.split(',')[:2])
assert len(rows) == n and features == len(COLUMNS) - 1, (n, features, len(rows))
print(','.join(COLUMNS), end='\r\n')
for row in rows:
    *values, label = row.split(',')
    assert len(values) == features
    print(','.join(values + [f'cultivar_{int(label) + 1}']), end='\r\n')
