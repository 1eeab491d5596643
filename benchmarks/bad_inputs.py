"""Bad inputs a newcomer makes, each tried as a real `kerasolr` process (issue 15).

Every case runs `python -m kerasolr ...` in a fresh scratch folder and records
the exit code, the seconds it took, the lines printed on stderr (the last one
shown), whether a Python traceback appeared and whether the command left a
run directory behind. Writes the table to `docs/bad_inputs.md` (or OUT) and
prints the summary: tracebacks, silent accepts (exit 0), errors after more
than 10 s of work (a stage had started: "[kerasolr] <stage>: ..." was printed;
importing TensorFlow alone takes 5-10 s here and is not work), and half-made
run directories should all be 0.

    python benchmarks/bad_inputs.py RUN_DIR [--out docs/bad_inputs.md]

RUN_DIR: a finished run with a decoder, for the commands that need one (any
`kerasolr demo --preset tiny` run; its labels must include `Male`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

LATE = 10.0          # seconds: an error later than this could have come earlier


def folder(root, n=200, names=("Smiling", "Male"), rows=None, header=None, seed=0):
    """A labelled folder of small JPEGs; `rows` / `header` replace labels.csv's."""
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            os.path.join(root, f"img{i:03d}.jpg"))
        lines.append(f"img{i:03d}.jpg," + ",".join(str(int(v)) for v in
                                                    rng.integers(0, 2, len(names))))
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write((header or "filename," + ",".join(names)) + "\n")
        f.write("\n".join(rows if rows is not None else lines) + "\n")
    return root


def cases(run: str, tmp: str) -> list[tuple[str, list[str]]]:
    """(what is wrong, argv) pairs; the fixtures they need are made here."""
    img = os.path.join(tmp, "face.png")
    size = json.load(open(os.path.join(run, "config.json")))["data"]["image_size"]
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(img)
    text = os.path.join(tmp, "notes.png")
    open(text, "w").write("not an image\n")
    empty = os.path.join(tmp, "empty.jpg")
    open(empty, "w").close()
    truncated = os.path.join(tmp, "cut.jpg")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(truncated)
    data = open(truncated, "rb").read()
    open(truncated, "wb").write(data[: len(data) // 2])

    good = folder(os.path.join(tmp, "good"))
    no_labels = os.path.join(tmp, "no_labels")
    os.makedirs(no_labels)
    two = "filename,Smiling,Male"
    bad_value = folder(os.path.join(tmp, "bad_value"), header=two,
                       rows=["img000.jpg,1,2"] + [f"img{i:03d}.jpg,0,1" for i in range(1, 200)])
    short_row = folder(os.path.join(tmp, "short_row"), header=two,
                       rows=["img000.jpg,1"] + [f"img{i:03d}.jpg,0,1" for i in range(1, 200)])
    missing = folder(os.path.join(tmp, "missing"), header=two,
                     rows=["nosuch.jpg,1,0"] + [f"img{i:03d}.jpg,0,1" for i in range(1, 200)])
    duplicate = folder(os.path.join(tmp, "duplicate"), header=two,
                       rows=["img001.jpg,1,0"] + [f"img{i:03d}.jpg,0,1" for i in range(1, 200)])
    header_only = folder(os.path.join(tmp, "header_only"), header=two, rows=[])
    not_image = folder(os.path.join(tmp, "not_image"))
    shutil.copy(text, os.path.join(not_image, "img005.jpg"))
    cut = folder(os.path.join(tmp, "cut"))
    shutil.copy(truncated, os.path.join(cut, "img007.jpg"))
    small = folder(os.path.join(tmp, "small"), n=40)
    never = folder(os.path.join(tmp, "never"), header=two,
                   rows=[f"img{i:03d}.jpg,{i % 2},0" for i in range(200)])
    no_header = folder(os.path.join(tmp, "no_header"), header="img000.jpg,1,0")
    celeba = os.path.join(tmp, "celeba")
    os.makedirs(os.path.join(celeba, "img_align_celeba"))
    open(os.path.join(celeba, "list_attr_celeba.txt"), "w").write("2\nSmiling Male\n"
                                                                  "000001.jpg 1 -1\n")
    not_run = os.path.join(tmp, "not_run")
    os.makedirs(not_run)
    broken = os.path.join(tmp, "broken_run")
    os.makedirs(broken)
    open(os.path.join(broken, "config.json"), "w").write("{ not json")
    untrained = os.path.join(tmp, "untrained")
    os.makedirs(untrained)
    shutil.copy(os.path.join(run, "config.json"), untrained)
    shutil.copy(os.path.join(run, "labels.json"), untrained)
    trained = os.path.join(tmp, "trained")
    shutil.copytree(run, trained)
    out = os.path.join(tmp, "OUT")

    def train(*sets):
        return ["train", "--out", out, "--preset", "tiny",
                *[a for s in sets for a in ("--set", s)]]

    def on(root, *sets):
        return ["demo", "--out", out, "--preset", "tiny", "--dataset", "folder",
                "--set", f"data.root={root}", *[a for s in sets for a in ("--set", s)]]

    return [
        # --- config values ---
        ("k of zero", train("siamese.k=0")),
        ("k not a number", train("siamese.k=abc")),
        ("k not an integer", train("siamese.k=1.5")),
        ("k a boolean", train("siamese.k=true")),
        ("filters not a list", train("classifier.filters=32")),
        ("filters list with a word", train("classifier.filters=[32,abc]")),
        ("attributes not a list", train("data.attributes=Male")),
        ("bool given as 1", train("data.skip_bad=1")),
        ("unknown section", train("nosuch.field=1")),
        ("unknown field", train("siamese.nosuch=1")),
        ("--set without =", train("siamese.k")),
        ("occlusion side above 1", train("siamese.occlusion_max=1.5")),
        ("occlusion min above max", train("siamese.occlusion_min=0.9")),
        ("negative learning rate", train("classifier.learning_rate=-1")),
        ("zero epochs", train("classifier.epochs=0")),
        ("zero pairs per batch", train("siamese.batch_pairs=0")),
        ("image size too small", train("data.image_size=8")),
        ("unknown split mode", train("data.split_mode=sideways")),
        ("train fraction above 1", train("data.train_fraction=1.5")),
        ("label noise above 0.5", train("data.label_noise=0.7")),
        ("unknown precision", train("precision=float8")),
        ("negative seed", train("seed=-1")),
        ("unknown attribute", train('data.attributes=["Smiling","Nope"]')),
        ("no attributes", train("data.attributes=[]")),
        ("decoder alpha above 1", train("decoder.alpha=2")),
        ("NaN learning rate", train("classifier.learning_rate=nan")),
        ("unknown preset", ["train", "--out", out, "--preset", "huge"]),
        ("unknown dataset", ["demo", "--out", out, "--dataset", "imagenet"]),
        ("train without --out", ["train"]),
        ("misspelt command", ["trian", "--out", out]),
        ("test split under 8 images", ["demo", "--out", out, "--preset", "tiny",
                                       "--set", "data.num_test=4"]),
        ("validation split under 8 images", ["demo", "--out", out, "--preset", "tiny",
                                             "--set", "data.num_val=2"]),
        # --- datasets ---
        ("celeba without a root", ["train", "--out", out, "--dataset", "celeba"]),
        ("celeba root missing", ["train", "--out", out, "--dataset", "celeba",
                                 "--set", "data.root=/no/such"]),
        ("celeba official split without the partition file",
         ["train", "--out", out, "--dataset", "celeba", "--set", f"data.root={celeba}",
          "--set", "data.split_mode=official"]),
        ("celeba attribute file naming a missing image",
         ["train", "--out", out, "--dataset", "celeba", "--set", f"data.root={celeba}"]),
        ("celeba_tfds not prepared, no manual_dir",
         ["train", "--out", out, "--dataset", "celeba_tfds", "--set",
          f"data.root={os.path.join(tmp, 'tfds')}"]),
        ("folder root missing", on("/no/such/dir")),
        ("folder without labels.csv", on(no_labels)),
        ("labels.csv value 2", on(bad_value)),
        ("labels.csv short row", on(short_row)),
        ("labels.csv names a missing image", on(missing)),
        ("labels.csv names a file twice", on(duplicate)),
        ("labels.csv with no rows", on(header_only)),
        ("labels.csv without a header", on(no_header)),
        ("a text file named .jpg", on(not_image)),
        ("a truncated JPEG", on(cut)),
        ("40 images (splits under 8)", on(small)),
        ("a label never positive", on(never)),
        # --- run directories ---
        ("embed a missing run", ["embed", "/no/such/run"]),
        ("evaluate a missing run", ["evaluate", "/no/such/run"]),
        ("evaluate a folder that is not a run", ["evaluate", not_run]),
        ("evaluate a run with broken config.json", ["evaluate", broken]),
        ("train-decoder before train", ["train-decoder", untrained]),
        ("embed before train", ["embed", untrained]),
        ("report of a missing run", ["report", "/no/such/run"]),
        ("evaluate --data with no colon", ["evaluate", run, "--data", "folder"]),
        ("evaluate --data on a missing folder", ["evaluate", run, "--data", "folder:/no/such"]),
        ("evaluate --data with other labels", ["evaluate", run, "--data", f"folder:{good}"]),
        ("evaluate --split unknown", ["evaluate", run, "--split", "sideways"]),
        ("train a trained run with another k", ["train", "--out", trained, "--preset", "tiny",
                                                "--set", "siamese.k=8"]),
        # --- edit / generate / search / export ---
        ("edit a missing image", ["edit", os.path.join(tmp, "nosuch.png"), "--run", run,
                                  "--add", "Male"]),
        ("edit a text file", ["edit", text, "--run", run, "--add", "Male"]),
        ("edit an empty file", ["edit", empty, "--run", run, "--add", "Male"]),
        ("edit a truncated JPEG", ["edit", truncated, "--run", run, "--add", "Male"]),
        ("edit an unknown label", ["edit", img, "--run", run, "--add", "Nope"]),
        ("edit with nothing to do", ["edit", img, "--run", run]),
        ("edit to a .gif", ["edit", img, "--run", run, "--add", "Male", "--out", "e.gif"]),
        ("edit at intensity 0", ["edit", img, "--run", run, "--add", "Male",
                                 "--intensity", "0"]),
        ("edit at scale -1", ["edit", img, "--run", run, "--emphasise", "Male",
                              "--scale", "-1"]),
        ("edit adding and removing one label", ["edit", img, "--run", run, "--add", "Male",
                                                "--remove", "Male"]),
        ("edit with a missing run", ["edit", img, "--run", "/no/such/run", "--add", "Male"]),
        ("edit with a run without a decoder", ["edit", img, "--run", untrained, "--add",
                                               "Male"]),
        ("generate an unknown label", ["generate", "--labels", "Nope", "--run", run]),
        ("generate zero images", ["generate", "--labels", "Male", "--run", run, "--num", "0"]),
        ("search by an unknown label", ["search", img, "--run", run, "--by", "Nope"]),
        ("search for zero results", ["search", img, "--run", run, "--top", "0"]),
        ("search with a text file", ["search", text, "--run", run]),
        ("export with an empty name", ["export", run, "--name", ""]),
        ("export with a path as name", ["export", run, "--name", "a/b"]),
        ("export version 0", ["export", run, "--name", "olr", "--version", "0"]),
        ("export a missing run", ["export", "/no/such/run", "--name", "olr"]),
        ("repeat with one seed", ["repeat", "--out", out, "--seeds", "1"]),
        ("repeat --aggregate with nothing run", ["repeat", "--out", out, "--seeds", "3",
                                                 "--aggregate"]),
        ("compare with a missing OLR run", ["compare", "--out", out, "--olr-run",
                                            "/no/such/run"]),
    ]


def attempt(argv: list[str], cwd: str) -> dict:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "kerasolr", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=900)
    seconds = time.time() - start
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("kerasolr: error:")]
    # Work done before the error: any stage line ("[kerasolr] classifier: ...").
    worked = any(line.startswith("[kerasolr] ") and not line.startswith("[kerasolr] note")
                 for line in lines)
    return {"rc": proc.returncode, "seconds": seconds, "lines": len(lines), "worked": worked,
            "line": (errors or lines or [proc.stdout.strip().splitlines()[-1]
                                         if proc.stdout.strip() else ""])[-1],
            "traceback": "Traceback" in proc.stderr}


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    run = os.path.abspath(argv[0])
    target = argv[argv.index("--out") + 1] if "--out" in argv else os.path.join(
        os.path.dirname(__file__), "..", "docs", "bad_inputs.md")
    rows, problems = [], {"traceback": 0, "accepted": 0, "late": 0, "left a run dir": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for number, (what, args) in enumerate(cases(run, tmp), 1):
            out = os.path.join(tmp, "OUT")
            shutil.rmtree(out, ignore_errors=True)
            result = attempt(args, tmp)
            flags = []
            if result["traceback"]:
                flags.append("traceback")
            if result["rc"] == 0:
                flags.append("accepted")
            if result["rc"] != 0 and result["worked"] and result["seconds"] > LATE:
                flags.append("late")
            if os.path.exists(out):
                flags.append("left a run dir")
            for flag in flags:
                problems[flag] += 1
            shown = " ".join(a if a.strip() else repr(a) for a in args).replace(
                tmp, "TMP").replace(run, "RUN")
            line = result["line"].replace(tmp, "TMP").replace(run, "RUN").replace("|", "\\|")
            rows.append(f"| {number} | {what} | `kerasolr {shown}` | {result['rc']} | "
                        f"{result['seconds']:.1f} | {result['lines']} | {line} | "
                        f"{', '.join(flags) or 'ok'} |")
            print(rows[-1], flush=True)
    summary = (f"{len(rows)} bad inputs: {problems['traceback']} tracebacks, "
               f"{problems['accepted']} accepted (exit 0), {problems['late']} errors after more "
               f"than {LATE:.0f} s of work, {problems['left a run dir']} left a run directory.")
    with open(target, "w") as f:
        f.write("# Bad inputs, tried as a newcomer would (issue 15)\n\n"
                "Each row is a real `python -m kerasolr` process in a scratch folder (`TMP`), run "
                "by\n`python benchmarks/bad_inputs.py RUN` (RUN: a `kerasolr demo --preset tiny` "
                "run).\n\"lines\": how many lines it printed on stderr; \"printed\": the error "
                "line (or the last line).\n\n" + summary + "\n\n"
                "| # | what is wrong | command | exit | s | lines | printed | flags |\n"
                "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
