"""Peak memory of `kerasolr embed` (or `evaluate`) on N on-disk JPEGs, as N grows.

Builds (once, reused) a folder dataset of 200,000 small CelebA-like JPEGs (89x109,
smooth gradients and ellipses, a few KB each, 8 random 0/1 labels), then, for each
N, a run directory whose `folder` dataset lists the first N images (random split:
99% outside the test split, 5 points of it validation, so 94% train) and whose
`encoder.keras` is an untrained demo-preset encoder (the cost of embedding does
not depend on the weights). Each N is measured in a fresh process running the
real command `python -m kerasolr embed RUN_DIR --split train`: its peak RSS
(`os.wait4`), wall time and images/s; the rows of the written
`embeddings/train.npz` are checked against the split size.

The parent process never imports TensorFlow: on Linux a child's `ru_maxrss` also
counts the parent's RSS at `exec` time, so a heavy parent would hide the child's
figure. The run directories are prepared in a spawned process for that reason.

With `--stage evaluate` each measurement is `python -m kerasolr evaluate RUN_DIR`
instead (sections 4.1-4.3: the run has an untrained demo-preset classifier and
no decoder): the training split's N embeddings are loaded, the linear probe
trained on them, the validation and test splits (6% of N) decoded and
evaluated. Every split is embedded first, once, by `kerasolr embed` (not
measured); `results.json` is checked to be written and the probe's training
rows against the split size.

Usage (about 6 minutes on 2 CPU cores: ~1 min to write the images, once, ~1 GB
of disk; then ~5 min embedding 320,000 images, times --repeats):
    python benchmarks/memory.py [--sizes 20000,100000,200000] [--workdir /tmp/kerasolr-memory]
                                [--repeats 1] [--stage embed|evaluate]
Each run measures every N once; its growth is the peak RSS of the last N over that of
the first. Last line: `rss_growth_20k_to_200k_max[arenas=default]=<the worst run's growth>`
(`evaluate_rss_growth_...` with `--stage evaluate`)
(the issue's target: below 1.10 in every run).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import zipfile

import numpy as np

WIDTH, HEIGHT = 89, 109   # CelebA's aligned faces at half resolution
LABELS = ("Smiling", "Eyeglasses", "Male", "Young", "Bald", "Bangs", "Mustache",
          "Wearing_Hat")
IMAGE_DIR = "images"
LABELS_CSV = "labels.csv"     # the name kerasolr.data.pipeline reads in a folder dataset
TRAIN_FRACTION = 0.99
EXPECTED_ROWS = "expected_rows.txt"   # the training split's size, written beside each run


# === The images ===

def image_name(index: int) -> str:
    return f"{index + 1:06d}.jpg"


def render_image(index: int):
    """A smooth face-like picture: a two-colour gradient and a few ellipses
    (so JPEG compresses it to a few KB, as it does real photographs), seeded by
    `index` so a resumed generation writes the same files."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(index)
    top, bottom = rng.integers(0, 256, (2, 3))
    t = np.linspace(0.0, 1.0, HEIGHT)[:, None, None]
    pixels = np.broadcast_to((1 - t) * top + t * bottom, (HEIGHT, WIDTH, 3))
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx, cy = WIDTH / 2 + rng.normal(0, 4), HEIGHT / 2 + rng.normal(0, 4)
    rx, ry = rng.uniform(24, 36), rng.uniform(32, 44)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=tuple(rng.integers(60, 256, 3)))
    for side in (-1, 1):     # eyes
        ex, ey = cx + side * rx * 0.4, cy - ry * 0.2
        draw.ellipse((ex - 5, ey - 3, ex + 5, ey + 3), fill=tuple(rng.integers(0, 120, 3)))
    draw.ellipse((cx - 10, cy + ry * 0.4, cx + 10, cy + ry * 0.4 + 5),
                 fill=tuple(rng.integers(80, 256, 3)))
    return image


def write_images(job: tuple[str, list[int]]) -> int:
    """Writes the images of `indices` into `directory` (under a temporary name,
    then renamed, so an interrupted run never leaves a truncated JPEG)."""
    directory, indices = job
    for index in indices:
        path = os.path.join(directory, image_name(index))
        render_image(index).save(path + ".partial", format="JPEG", quality=90)
        os.replace(path + ".partial", path)
    return len(indices)


def make_images(workdir: str, count: int, processes: int = 2, seed: int = 0) -> None:
    """Writes `count` JPEGs and `labels.csv` into `workdir`, skipping the files
    already there. `labels.csv` is written last (atomically): its presence
    with at least `count` rows marks a complete work dir."""
    csv_path = os.path.join(workdir, LABELS_CSV)
    if os.path.exists(csv_path) and _csv_rows(csv_path) >= count:
        print(f"images: reusing {count} images in {workdir}", flush=True)
        return
    image_dir = os.path.join(workdir, IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    present = set(os.listdir(image_dir))
    todo = [i for i in range(count) if image_name(i) not in present]
    print(f"images: {count - len(todo)} present, writing {len(todo)} to {image_dir}", flush=True)
    start, done = time.time(), 0
    chunks = [(image_dir, todo[i:i + 1000]) for i in range(0, len(todo), 1000)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for written in pool.imap_unordered(write_images, chunks):
            done += written
            if done % 20000 < 1000 or done == len(todo):
                print(f"  {done}/{len(todo)} images, {time.time() - start:.0f} s", flush=True)
    labels = np.random.default_rng(seed).integers(0, 2, (count, len(LABELS)), dtype=np.int8)
    write_label_csv(csv_path, ([f"{IMAGE_DIR}/{image_name(i)}", *row.tolist()]
                               for i, row in enumerate(labels)))


def write_label_csv(path: str, rows) -> None:
    """A folder dataset's `labels.csv` from `(filename, *labels)` rows, written atomically."""
    with open(path + ".partial", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", *LABELS])
        writer.writerows(rows)
    os.replace(path + ".partial", path)


def _csv_rows(path: str) -> int:
    with open(path) as f:
        return sum(1 for line in f if line.strip()) - 1


def make_subset(workdir: str, n: int) -> str:
    """A folder dataset `workdir/data-N` whose CSV lists the first `n` images
    (paths relative to its folder, `../images/...`, so no image is copied)."""
    root = os.path.join(workdir, f"data-{n}")
    csv_path = os.path.join(root, LABELS_CSV)
    if not (os.path.exists(csv_path) and _csv_rows(csv_path) == n):
        os.makedirs(root, exist_ok=True)
        # Streamed, row by row: the parent's peak RSS must stay small (see measure).
        with open(os.path.join(workdir, LABELS_CSV), newline="") as f:
            rows = itertools.islice(csv.reader(f), 1, n + 1)
            write_label_csv(csv_path, ([f"../{row[0]}", *row[1:]] for row in rows))
    return root


# === The run directories (in a spawned process: TensorFlow stays out of the parent) ===

def prepare_runs(jobs: list[tuple[str, str, int]], image_size: int) -> None:
    """Writes `config.json` and an untrained `encoder.keras` and `classifier.keras`
    into each run dir (the classifier only `--stage evaluate` reads).

    Args:
        jobs: `(run_dir, data_root, n)` per size.
        image_size: Model resolution.
    """
    import keras

    from kerasolr import config as cfg
    from kerasolr.data.celeba import split_indices
    from kerasolr.models import build_classifier, build_encoder
    from kerasolr.rundir import RunDir

    demo = cfg.demo()
    for run_dir, root, n in jobs:
        data = dataclasses.replace(demo.data, dataset="folder", root=os.path.abspath(root),
                                   image_size=image_size, num_train=n, num_test=n,
                                   split_mode="random", train_fraction=TRAIN_FRACTION)
        run = RunDir(run_dir)
        run.prepare(dataclasses.replace(demo, data=data).validate(), LABELS)
        # The training split's size from the split itself (no image read): the
        # rows every measurement of this run must embed.
        filenames = [f"{i}" for i in range(n)]
        train = split_indices(filenames, "random", "train", None, data.train_fraction,
                              data.seed, data.val_fraction)
        with open(os.path.join(run_dir, EXPECTED_ROWS), "w") as f:
            f.write(f"{len(train)}\n")
        if not run.has_model("encoder"):
            keras.utils.set_random_seed(0)
            encoder = build_encoder(len(LABELS), demo.siamese.k, image_size,
                                    demo.siamese.filters)
            run.save_model(encoder, "encoder")
        if not run.has_model("classifier"):
            keras.utils.set_random_seed(0)
            classifier = build_classifier(len(LABELS), image_size, demo.classifier.filters,
                                          demo.classifier.dense_units)
            run.save_model(classifier, "classifier")


def run_in_spawned_process(target, *args) -> None:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")


# === The measurement ===

def npz_rows(path: str, name: str = "embeddings") -> int:
    """Rows of one array of an `.npz`, from its `.npy` header only."""
    with zipfile.ZipFile(path) as archive, archive.open(name + ".npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, _ = read_header(member)
    return shape[0]


def run_child(command: list[str], log_path: str, arenas: str | None = None):
    """Runs `command` to its end; `(peak RSS in MB, seconds)` of that process
    (`arenas`: its `KERASOLR_MALLOC_ARENAS`, default the command line's own cap).
    A failure stops the benchmark with the tail of its log."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        if arenas is not None:
            env["KERASOLR_MALLOC_ARENAS"] = arenas
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        with open(log_path) as f:
            tail = f.read()[-2000:]
        raise SystemExit(f"{' '.join(command)} failed (log {log_path}):\n{tail}")
    # Linux reports ru_maxrss in KiB.
    return usage.ru_maxrss / 1024, seconds


def measure(run_dir: str, arenas: str | None = None, stage: str = "embed") -> dict[str, float]:
    """Runs `python -m kerasolr embed RUN_DIR --split train` (or, `stage="evaluate"`,
    `python -m kerasolr evaluate RUN_DIR`) in a fresh process.

    Returns:
        `{"rows", "peak_rss_mb", "seconds"}` of that process (`rows`: the
        training embeddings written, or read by the evaluation).
    """
    from kerasolr.rundir import RESULTS_FILE, RunDir

    run = RunDir(run_dir)
    embeddings = run.embeddings_path("train")
    if stage == "embed":
        if os.path.exists(embeddings):
            os.remove(embeddings)
        command = [sys.executable, "-m", "kerasolr", "embed", run_dir, "--split", "train"]
        output = embeddings
    else:
        # Every split embedded once beforehand (kept between runs; not measured).
        if not all(os.path.exists(run.embeddings_path(s)) for s in ("train", "validation", "test")):
            run_child([sys.executable, "-m", "kerasolr", "embed", run_dir],
                      os.path.join(run_dir, "embed_all.log"))
        output = run.file(RESULTS_FILE)
        if os.path.exists(output):
            os.remove(output)
        command = [sys.executable, "-m", "kerasolr", "evaluate", run_dir]
    peak_mb, seconds = run_child(command, os.path.join(run_dir, f"{stage}.log"), arenas)
    if not os.path.exists(output):
        raise SystemExit(f"{' '.join(command)} wrote no {output}")
    return {"rows": npz_rows(embeddings), "peak_rss_mb": peak_mb, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000,200000",
                        help="comma-separated image counts, smallest first")
    parser.add_argument("--workdir", default="/tmp/kerasolr-memory",
                        help="images, datasets and run dirs (reused when complete)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--processes", type=int, default=2, help="image writers")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs: each measures every N once, in a fresh process per N")
    parser.add_argument("--arenas", default="default",
                        help="comma-separated KERASOLR_MALLOC_ARENAS settings to measure, "
                             "interleaved within each run: 'default' (the command line's "
                             "cap), '0' (glibc's own arenas) or a number")
    parser.add_argument("--stage", choices=("embed", "evaluate"), default="embed",
                        help="the command measured: `embed --split train` or `evaluate` "
                             "(sections 4.1-4.3 on the N images' splits)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) < 2 or sizes != sorted(sizes) or sizes[0] < 100:
        parser.error(f"--sizes={args.sizes!r}: expected at least two increasing counts >= 100")
    settings = args.arenas.split(",")

    make_images(args.workdir, max(sizes), args.processes)
    jobs = [(os.path.join(args.workdir, "runs", f"n{n}"), make_subset(args.workdir, n), n)
            for n in sizes]
    run_in_spawned_process(prepare_runs, jobs, args.image_size)

    # On Linux a child's ru_maxrss is at least the parent's peak RSS (see the docstring).
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"parent peak_rss_mb={parent_mb:.0f} (a floor under every child's figure)", flush=True)
    name = (("evaluate_" if args.stage == "evaluate" else "")
            + f"rss_growth_{_short(sizes[0])}_to_{_short(sizes[-1])}")
    growth: dict[str, list[float]] = {setting: [] for setting in settings}
    for repeat in range(args.repeats):
        for setting in settings:
            peaks = []
            for run_dir, _, n in jobs:
                with open(os.path.join(run_dir, EXPECTED_ROWS)) as f:
                    expected = int(f.read())
                result = measure(run_dir, None if setting == "default" else setting,
                                 args.stage)
                if result["rows"] != expected:
                    raise SystemExit(f"{run_dir}: embedded {result['rows']} images, "
                                     f"expected {expected}")
                peaks.append(result["peak_rss_mb"])
                seconds, peak = result["seconds"], result["peak_rss_mb"]
                if args.stage == "embed":
                    figures = (f"embedded={expected} peak_rss_mb={peak:.0f} "
                               f"seconds={seconds:.1f} images_per_s={expected / seconds:.0f}")
                else:
                    figures = (f"train_embeddings={expected} peak_rss_mb={peak:.0f} "
                               f"evaluate_seconds={seconds:.1f}")
                print(f"run={repeat + 1} stage={args.stage} arenas={setting} n={n} {figures}",
                      flush=True)
            growth[setting].append(peaks[-1] / peaks[0])
            print(f"run={repeat + 1} arenas={setting} {name}={growth[setting][-1]:.3f}",
                  flush=True)
    # The target holds for every run, not for a median: the worst run is the figure.
    print(" ".join(f"{name}_max[arenas={setting}]={max(values):.3f}"
                   for setting, values in growth.items()))


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


if __name__ == "__main__":
    main()
