"""Time identifying one photo against a catalogue of 10,000 whales and 25,000 photos.

    python benchmarks/bench_search.py [--whales 10000] [--photos 25000] [--queries 30]

The catalogue's vectors are random unit vectors (the search cost does not depend on their
values); its keypoint features come from 50 synthetic fluke photos shared round-robin by the
25,000 catalogue photos, so each re-ranking match costs what a real one does. Each query is a
synthetic fluke photo run through the real bundled embedding network. The one-time model
load is excluded. Prints the median (p50) and 90th percentile per query, without and with
keypoint re-ranking of the top 20.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from whalecat.imaging.synthetic import fluke_photo
from whalecat.matching.base import GalleryPhoto
from whalecat.matching.embedding import EmbeddingMethod
from whalecat.matching.keypoints import KeypointMethod, extract_features
from whalecat.matching.methods import FusedMethod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whales", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=25_000)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    rng = np.random.default_rng(0)
    embedding = EmbeddingMethod()
    size = embedding.model.output_shape[-1]  # loads the bundled model once, outside the timing
    vectors = rng.normal(size=(args.photos, size)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    whale_of_photo = np.concatenate(
        [np.arange(args.whales), rng.integers(0, args.whales, args.photos - args.whales)]
    )
    photos = [
        GalleryPhoto(f"photo{i:06d}", f"w_{whale:07d}", path=None) for i, whale in enumerate(whale_of_photo)
    ]
    embedding.photos, embedding.vectors = photos, vectors

    keypoints = KeypointMethod()
    shared = [extract_features(fluke_photo(individual, 0)) for individual in range(50)]
    keypoints.photos = photos
    keypoints.features = {photo.key: shared[i % len(shared)] for i, photo in enumerate(photos)}
    fused = FusedMethod(embedding, keypoints)
    fused.photos_by_whale = {}
    for photo in photos:
        fused.photos_by_whale.setdefault(photo.whale_id, []).append(photo)

    queries = [fluke_photo(1000 + i, 1) for i in range(args.queries)]
    embedding.query(queries[0])  # warm-up: TensorFlow traces the prediction function once
    for name, method in (("embedding only", embedding), ("with keypoint re-ranking of top 20", fused)):
        times = []
        for image in queries:
            started = time.perf_counter()
            method.query(image, top=5)
            times.append(time.perf_counter() - started)
        p50 = statistics.median(times) * 1000
        p90 = np.percentile(times, 90) * 1000
        print(f"{name}: p50 {p50:.0f} ms, p90 {p90:.0f} ms over {len(times)} queries "
              f"({args.whales} whales, {args.photos} photos)")


if __name__ == "__main__":
    main()
