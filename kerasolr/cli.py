"""The `kerasolr` command line: parse -> config -> one library call.

Bad input (unknown dataset, missing directory, impossible config) prints one
line `kerasolr: error: ...` and exits with code 2; a fit whose loss becomes NaN
prints one line saying where (its last good checkpoint is kept) and exits with 1.
Every training command resumes an interrupted run when re-run unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from kerasolr.rundir import (
    LABELS_FILE,
    RESULTS_FILE,
    SEEDS_RESULTS_FILE,
    SUMMARY_FILE,
    RunDir,
)


def _add_model_args(p) -> None:
    """`--run` / `--preset`: the model of `edit`, `generate` and `search`."""
    p.add_argument("--run", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--preset", metavar="NAME",
                   help="a ready-made model shipped with kerasolr instead of --run (e.g. "
                        "synthfaces-64)")


def _add_align_args(p) -> None:
    """`--align` / `--face`: `edit` and `search` on any photo of a face."""
    p.add_argument("--align", action="store_true",
                   help="IMAGE is any photo of a face: find the face and bring it to the "
                        "aligned-CelebA geometry first (needs the align extra: "
                        "pip install \"kerasolr[align]\")")
    p.add_argument("--face", type=int, default=0,
                   help="with --align: which face of the photo, 0 the largest (default 0)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasolr",
        description="Occlusion-based Latent Representations: per-label embeddings from labels.")
    from kerasolr import __version__

    parser.add_argument("--version", action="version", version=f"kerasolr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_args(p):
        p.add_argument("--preset", default="demo", help="paper, demo or tiny (default: demo)")
        p.add_argument("--dataset", help="dataset name (default: synthfaces)")
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="SECTION.FIELD=VALUE",
                       help="override a config field, e.g. --set siamese.k=32 (repeatable)")

    p = sub.add_parser("train", help="train the classifier and the Siamese encoder")
    p.add_argument("--out", required=True, help="run directory to create or continue")
    config_args(p)

    p = sub.add_parser("prepare", help="decode every split of an image-file dataset once into "
                                       "a store that runs read with --set data.store=STORE")
    p.add_argument("--out", required=True, help="the store folder to create (must not exist)")
    config_args(p)

    p = sub.add_parser("embed", help="embed the train, validation and test splits of a "
                                     "trained run")
    p.add_argument("run_dir")
    p.add_argument("--split", action="append", choices=["train", "validation", "test"],
                   help="split to embed (repeatable; default: all three)")
    p.add_argument("--force", action="store_true", help="re-embed even if the file exists")
    p.add_argument("--images", nargs="+", metavar="IMAGE",
                   help="embed these image files instead of the run's splits (with --out)")
    p.add_argument("--out", help="with --images: the .npz to write (embeddings, slot_norms, "
                                 "files, label_names)")
    _add_align_args(p)

    p = sub.add_parser("align-folder", help="bring every image of a labelled folder to the "
                                            "aligned-CelebA geometry --align uses (needs the "
                                            "align extra)")
    p.add_argument("src", help="a folder with labels.csv (see README: labelled folders)")
    p.add_argument("--out", required=True, help="the new folder: images/, labels.csv and, for "
                                               "images without a usable face, unaligned.csv")
    p.add_argument("--face", type=int, default=0,
                   help="which face of each image, 0 the largest (default 0)")

    p = sub.add_parser("evaluate", help="paper sections 4.1-4.5 on the run's held-out split "
                                        "(or 4.1 on another dataset with --data); writes "
                                        f"{RESULTS_FILE}")
    p.add_argument("run_dir")
    p.add_argument("--data", metavar="DATASET:ROOT",
                   help="evaluate on another dataset instead: celeba:FOLDER, folder:FOLDER or "
                        "celeba_tfds[:DATA_DIR] (same labels as the run)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"],
                   help="split of --data to evaluate (default: test)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="data.FIELD=VALUE",
                   help="with --data: a data field, e.g. --set data.split_mode=official")
    p.add_argument("--out", help="with --data: output folder "
                                 "(default: RUN_DIR/evaluations/DATASET-SPLIT)")

    p = sub.add_parser("train-decoder",
                       help="train the reconstruction decoder (and its baselines) on a run's "
                            "embeddings")
    p.add_argument("run_dir")

    p = sub.add_parser("report", help="write RUN_DIR/report.html: every figure and metric")
    p.add_argument("run_dir")
    p.add_argument("--out", help="output path (default: RUN_DIR/report.html)")

    p = sub.add_parser("edit", help="edit an image through its embedding")
    p.add_argument("image", help="a PNG/JPEG image at the run's resolution")
    _add_model_args(p)
    p.add_argument("--add", action="append", default=[], metavar="LABELS",
                   help="labels to add, comma-separated (repeatable)")
    p.add_argument("--remove", action="append", default=[], metavar="LABELS",
                   help="labels to remove, comma-separated (repeatable)")
    p.add_argument("--emphasise", action="append", default=[], metavar="LABELS",
                   help="labels whose slot is multiplied by --scale (repeatable)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="factor for added samples and emphasised slots (default 1.0)")
    p.add_argument("--structured", action="store_true",
                   help="follow the labels' structure: also remove the labels an added one "
                        "excludes and add those it implies (from the training labels), and "
                        "move the other slots by the edited labels' mean effect on them (times "
                        "the run's edit.context_scale)")
    p.add_argument("--intensity", type=float, default=1.0,
                   help="how far --add / --remove move a slot towards its target: 1 the "
                        "paper's edit, 2 as far again (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    _add_align_args(p)
    p.add_argument("--paste", choices=("edit", "replace"), default="edit",
                   help="with --align, what goes back into the photo: the edit alone, on the "
                        "photo's own face (default), or the decoded face, colour-matched")
    p.add_argument("--out", default="edited.png",
                   help="output image, .png or .jpg (default: edited.png; with --align the "
                        "whole photo with its face edited)")

    p = sub.add_parser("generate", help="generate images from labels alone")
    p.add_argument("--labels", required=True, help="comma-separated label names")
    _add_model_args(p)
    p.add_argument("--num", type=int, default=8, help="images to generate (default 8)")
    p.add_argument("--scale", type=float, default=1.0, help="factor for the samples")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--out", default="generated.png", help="output PNG (default: generated.png)")

    p = sub.add_parser("search", help="find a run's images nearest to a query image, judged "
                                      "by chosen labels' slots")
    p.add_argument("image", help="a PNG/JPEG image at the run's resolution")
    _add_model_args(p)
    p.add_argument("--by", action="append", default=[], metavar="LABELS",
                   help="labels whose slots decide similarity, comma-separated (default: the "
                        "whole embedding)")
    p.add_argument("--top", type=int, default=16, help="results (default 16)")
    _add_align_args(p)
    p.add_argument("--out", default="search.png", help="output grid PNG (default: search.png)")

    p = sub.add_parser("app", help="a local web app: edit with one slider per label, generate, "
                                   "search (needs the app extra: pip install \"kerasolr[app]\")")
    p.add_argument("run_dir", nargs="?", help="a run directory with a decoder")
    p.add_argument("--preset", metavar="NAME",
                   help="a ready-made model shipped with kerasolr instead of RUN_DIR (e.g. "
                        "synthfaces-64)")
    p.add_argument("--savedmodel", metavar="PATH",
                   help="an exported SavedModel version folder (savedmodels/NAME/VERSION) "
                        "instead of RUN_DIR; it has no gallery to search")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    _add_align_args(p)

    p = sub.add_parser("export", help="export a run as a TensorFlow Serving SavedModel "
                                      "(savedmodels/NAME/VERSION)")
    p.add_argument("run_dir")
    p.add_argument("--name", required=True, help="model name (a folder under --base)")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")
    p.add_argument("--base", default="savedmodels",
                   help="base folder of TF Serving models (default: savedmodels)")

    p = sub.add_parser("compare", help="train OLR and every baseline on the same data, evaluate "
                                       "them alike; writes OUT/compare.json and compare.md")
    p.add_argument("--out", required=True, help="comparison directory to create or continue")
    p.add_argument("--olr-run", metavar="RUN_DIR",
                   help="reuse this finished OLR run (its config, with any --set baselines.*) "
                        "instead of training one in OUT/olr")
    config_args(p)

    p = sub.add_parser("repeat", help="the whole chain under several seeds; writes every "
                                      "figure's mean and 95%% interval to "
                                      "OUT/results_seeds.json")
    p.add_argument("--out", required=True, help="folder of the runs (OUT/seed_<s>/)")
    p.add_argument("--seeds", type=int, default=3, help="how many seeds (default 3, >= 2)")
    p.add_argument("--aggregate", action="store_true",
                   help="only aggregate the seed runs already finished under OUT (e.g. after "
                        "re-evaluating them); trains and evaluates nothing")
    config_args(p)

    p = sub.add_parser("demo", help="the whole chain on synthfaces: train, embed, decoders, "
                                    "evaluate, report")
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    config_args(p)
    return parser


def _config(args):
    from kerasolr import config as cfg

    config = cfg.preset(args.preset)
    overrides = list(args.overrides)
    if args.dataset:
        overrides.insert(0, f"data.dataset={args.dataset}")
    return cfg.override(config, overrides) if overrides else config.validate()


def _compare_config(args):
    """The preset's config, or with `--olr-run` that run's config; then `--set`."""
    from kerasolr import config as cfg

    if args.olr_run is None:
        return _config(args)
    if args.dataset or args.preset != "demo":
        raise ValueError("--olr-run takes the run's own config: drop --preset and --dataset")
    bad = [item for item in args.overrides if not item.startswith("baselines.")]
    if bad:
        raise ValueError(f"{bad[0]!r}: with --olr-run only baselines.* fields can be set")
    return cfg.override(RunDir(args.olr_run).read_config(), list(args.overrides))


def _names(values) -> list[str]:
    """`["A,B", "C"]` -> `["A", "B", "C"]` (repeatable, comma-separated options)."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _check_request(args) -> None:
    """`edit` / `generate` / `search`: the labels, counts and image file asked
    for, checked against the run's `labels.json` before TensorFlow loads."""
    from kerasolr import checks

    run = RunDir(args.run)
    names = run.label_names() if run.exists(LABELS_FILE) else None
    if args.command == "edit":
        checks.check_edit(names, _names(args.add), _names(args.remove), _names(args.emphasise),
                          args.scale, args.intensity)
    elif args.command == "generate":
        checks.check_at_least_one("num", args.num)
        if names is not None:
            checks.check_labels(names, _names([args.labels]))
    else:
        checks.check_at_least_one("--top", args.top)
        if names is not None:
            checks.check_labels(names, _names(args.by))
    if args.command != "generate":
        checks.check_image_file(args.image)
        if args.face < 0 or (args.face and not args.align):
            raise ValueError(f"--face {args.face} is invalid: expected >= 0, with --align")


def _app_source(args) -> tuple[str, str]:
    """`kerasolr app`'s model: `(path, "run" | "savedmodel")`, from exactly one of
    RUN_DIR, --preset and --savedmodel."""
    given = [name for name, value in (("RUN_DIR", args.run_dir), ("--preset", args.preset),
                                      ("--savedmodel", args.savedmodel)) if value]
    if len(given) != 1:
        raise ValueError("kerasolr app takes one of RUN_DIR, --preset NAME or --savedmodel "
                         f"PATH, got {' and '.join(given) or 'none'}")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.savedmodel:
        if not os.path.isdir(args.savedmodel):
            raise FileNotFoundError(f"SavedModel folder {args.savedmodel} does not exist")
        return args.savedmodel, "savedmodel"
    if args.preset:
        from kerasolr.presets import preset_dir

        return preset_dir(args.preset), "run"
    _check_run_dir(args.run_dir)
    return args.run_dir, "run"


def _check_embed(args) -> None:
    """`embed`: `--images` goes with `--out` (a .npz) and `--align`; `--split`
    and `--force` with the run's own splits."""
    if args.images:
        if not args.out or not args.out.endswith(".npz"):
            raise ValueError(f"--images needs --out FILE.npz, got {args.out!r}")
        if args.split or args.force:
            raise ValueError("--split and --force are for the run's splits, not --images")
    elif args.out or args.align:
        raise ValueError("--out and --align go with --images")


def _check_run_dir(path: str) -> None:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"run directory {path} does not exist")


def main(argv=None) -> int:
    if argv is None:                # the command line, not a caller in Python
        from kerasolr import native_logs

        native_logs.quiet()
    args = _parser().parse_args(argv)
    try:
        if argv is None:
            from kerasolr import native_memory

            native_memory.limit_arenas(os.environ)      # before TensorFlow's threads
        # Validate everything cheap before the ~5 s TensorFlow import.
        if args.command in ("train", "demo", "repeat", "prepare"):
            config = _config(args)
            if args.command == "prepare" and os.path.exists(args.out):
                raise FileExistsError(f"{args.out} exists; a store is written only into a "
                                      "new folder")
            if args.command == "repeat" and args.seeds < 2:
                raise ValueError(f"--seeds must be >= 2 for an interval, got {args.seeds}")
        elif args.command == "compare":
            config = _compare_config(args)
        elif args.command in ("edit", "generate", "search"):
            if args.preset:
                from kerasolr.presets import preset_dir

                args.run = preset_dir(args.preset)
            _check_run_dir(args.run)
            from kerasolr.plots import image_format

            image_format(args.out)           # .png or .jpg, before any work
            _check_request(args)
        elif args.command == "app":
            source, kind = _app_source(args)
        elif args.command == "align-folder":
            if not os.path.isdir(args.src):
                raise FileNotFoundError(f"folder {args.src} does not exist")
        elif args.command == "embed":
            _check_run_dir(args.run_dir)
            _check_embed(args)
        else:
            _check_run_dir(args.run_dir)
        data = None
        if args.command == "evaluate":
            if args.data is None and (args.overrides or args.out or args.split != "test"):
                raise ValueError("--split, --set and --out need --data")
            if args.data is not None:
                from kerasolr import config as cfg

                data = cfg.data_from_spec(RunDir(args.run_dir).read_config(), args.data,
                                          args.overrides)
        if args.command == "report":     # needs no TensorFlow
            from kerasolr.report import write_report

            print(write_report(args.run_dir, args.out))
            return 0
        # The strategy first: a multi-worker one must exist before any TensorFlow
        # work, which importing the rest of kerasolr does.
        from kerasolr.distribute import strategy_from_environment

        strategy = (strategy_from_environment()
                    if args.command in ("train", "train-decoder", "demo", "compare", "repeat")
                    else None)
        from kerasolr import run

        if args.command == "train":
            run.train(config, args.out, strategy)
        elif args.command == "prepare":
            from kerasolr.data.store import prepare

            prepare(config.data, args.out)
        elif args.command == "align-folder":
            from kerasolr.data.folder import align_folder

            counts = align_folder(args.src, args.out, args.face)
            print(f"{counts['aligned']} images aligned into {args.out}"
                  + (f"; {counts['unaligned']} without a usable face, listed in "
                     f"{os.path.join(args.out, 'unaligned.csv')}" if counts["unaligned"] else ""))
        elif args.command == "embed" and args.images:
            from kerasolr.inference import embed_images

            written = embed_images(args.run_dir, args.images, args.out, args.align, args.face)
            print(f"{len(written['files'])} embeddings {written['embeddings'].shape[1:]}: "
                  f"{args.out}")
        elif args.command == "embed":
            run.embed(args.run_dir, tuple(args.split or ("train", "validation", "test")),
                      force=args.force)
        elif args.command == "evaluate":
            results = (run.evaluate(args.run_dir) if data is None
                       else run.evaluate_on(args.run_dir, data, args.split, args.out))
            print(json.dumps({k: v for k, v in results.items() if not k.startswith("per_label")},
                             indent=2, sort_keys=True))
        elif args.command == "train-decoder":
            run.train_decoders(args.run_dir, strategy)
        elif args.command == "edit":
            from kerasolr.inference import edit_image

            paths = edit_image(args.run, args.image, args.out, _names(args.add),
                               _names(args.remove), _names(args.emphasise), args.scale,
                               args.seed, args.intensity, args.structured,
                               align=args.align, face=args.face, paste=args.paste)
            print(f"edited image: {paths['edited']}\nside by side: {paths['comparison']}")
        elif args.command == "generate":
            from kerasolr.inference import generate_images

            print(generate_images(args.run, _names([args.labels]), args.out, args.num,
                                  args.seed, args.scale))
        elif args.command == "search":
            from kerasolr.inference import search_image

            found = search_image(args.run, args.image, args.out, _names(args.by), args.top,
                                 align=args.align, face=args.face)
            files = found["files"] or [None] * len(found["indices"])
            print(f"results grid: {found['grid']}\n" + "\n".join(
                f"{rank + 1:3d}. " + (f"{path} (" if path else "") + f"test image {i}, id "
                f"{image_id}, distance {d:.4f}" + (")" if path else "")
                for rank, (i, image_id, d, path) in enumerate(zip(
                    found["indices"], found["ids"], found["distances"], files, strict=True))))
        elif args.command == "app":
            from kerasolr.app import serve

            serve(source, kind, args.host, args.port, args.align, args.face)
        elif args.command == "export":
            from kerasolr.export import export_run

            print(export_run(args.run_dir, args.name, args.version, args.base))
        elif args.command == "compare":
            from kerasolr.compare import COMPARE_FILE, TABLE_FILE, compare

            compare(config, args.out, args.olr_run, strategy)
            from kerasolr.distribute import is_chief

            if is_chief(strategy):
                with open(os.path.join(args.out, TABLE_FILE)) as f:
                    print(f.read())
            print(f"comparison: {os.path.join(args.out, COMPARE_FILE)}")
        elif args.command == "repeat":
            from kerasolr.distribute import is_chief
            from kerasolr.repeat import format_table, repeat, summarize

            aggregated = (summarize(args.out, args.seeds, config.seed) if args.aggregate
                          else repeat(config, args.out, args.seeds, strategy))
            if is_chief(strategy):
                print(format_table(aggregated))
            print(f"intervals: {os.path.join(args.out, SEEDS_RESULTS_FILE)}")
        elif args.command == "demo":
            run.run_all(config, args.out, strategy)
            from kerasolr.distribute import is_chief

            if is_chief(strategy):
                with open(os.path.join(args.out, SUMMARY_FILE)) as f:
                    print(f.read())
            print(f"run directory: {args.out}")
    except (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError) as err:
        print(f"kerasolr: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:      # kerasolr.resume.TrainingDiverged
        print(f"kerasolr: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kerasolr: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
