"""One self-contained HTML page per run directory.

`write_report(run_dir)` gathers what a run wrote (config, flat results, summary,
figures, CSV tables) into `RUN_DIR/report.html`: figures are embedded as base64
PNGs and the CSS is inline, so the page can be mailed or archived on its own.
Anything absent except `results.json` is reported as "not computed for this run".
"""

from __future__ import annotations

import base64
import csv
import glob
import html
import json
import math
import os

from kerasolr.rundir import (
    COMPARE_TABLE_FILE,
    CONFIG_FILE,
    FIGURES_DIR,
    HISTORY_PATTERN,
    NORM_CORRELATION_CSV,
    REPORT_FILE,
    RESULTS_FILE,
    SEEDS_RESULTS_FILE,
    SUMMARY_FILE,
    TRAINING_FIGURES_DIR,
    RunDir,
)

PER_LABEL = "per_label."
NOT_COMPUTED = "not computed for this run"
HISTORY_MAX_ROWS = 25

# Metric groups of the full metric tables, in display order; other prefixes go to "others".
METRIC_GROUPS = ("classifier", "probe", "majority", "slots", "correlation", "pca", "retrieval",
                 "recon", "judge", "flip", "flip_structured", "edit", "generation",
                 "disagreement", "validation", "timing")

# The figures a reader looks at first: key, what it means, which way is better, and
# the target it is held to (issues 2-4, 13, 14), if any.
KEY_FIGURES = (
    ("classifier.mean_accuracy", "convolutional classifier, mean accuracy on the test split",
     "higher", ""),
    ("probe.mean_accuracy", "linear probe on the OLR embeddings (paper section 4.1)", "higher",
     "within 2 points of the classifier"),
    ("majority.mean_accuracy", "every label guessed as its most common value (the floor)",
     "", ""),
    ("slots.norm_auc_mean", "how well each slot's norm tells its label apart (ROC AUC)",
     "higher", ">= 0.95"),
    ("correlation.norm_vs_truth_pearson",
     "slot-norm correlations against the generator's true label correlations", "higher",
     ">= 0.85"),
    ("retrieval.map_corrected_mean", "retrieval by each label's slot, chance-corrected mAP",
     "higher", ""),
    ("retrieval.classifier_map_corrected_mean",
     "the same, ranked by the classifier's own output (the competitor)", "higher", ""),
    ("recon.ssim", "reconstruction SSIM of the OLR decoder (section 4.4)", "higher",
     "clearly (>= 0.01) above the probabilities-only decoder"),
    ("recon.probs_baseline_ssim", "the same decoder fed the classifier's probabilities only",
     "", ""),
    ("recon.autoencoder_baseline_ssim", "an autoencoder of the same code size", "", ""),
    ("judge.mean_accuracy", "the independent judge on real test images", "higher", ""),
    ("flip.accuracy_i1_mean", "edit accuracy, every label flipped (AttGAN protocol), "
     "intensity 1", "higher", ">= 0.90"),
    ("flip.accuracy_i2_mean", "the same at intensity 2", "higher", ""),
    ("flip.preservation_i1_mean", "other labels unchanged by those edits", "higher", ">= 0.95"),
    ("flip_structured.accuracy_i1_mean", "edit accuracy of the structured edit, intensity 1",
     "higher", ""),
    ("generation.balanced_accuracy", "images generated from labels alone, judged", "higher",
     ">= 0.90"),
    ("timing.total_seconds", "seconds of all stages", "lower", ""),
)

# The paper's own figure (CelebA, 178 px, 190,000 training images), where it reports one.
PAPER_VALUES = {"classifier.mean_accuracy": "0.942", "probe.mean_accuracy": "0.916"}


def _at_least(bound):
    return lambda value, results: value >= bound


# Whether a figure meets its KEY_FIGURES target: `(value, results) -> bool`.
TARGET_CHECKS = {
    "probe.mean_accuracy": lambda value, results: (
        results["classifier.mean_accuracy"] - value <= 0.02
        if "classifier.mean_accuracy" in results else None),
    "slots.norm_auc_mean": _at_least(0.95),
    "correlation.norm_vs_truth_pearson": _at_least(0.85),
    "recon.ssim": lambda value, results: (
        value >= results["recon.probs_baseline_ssim"] + 0.01
        if "recon.probs_baseline_ssim" in results else None),
    "flip.accuracy_i1_mean": _at_least(0.90),
    "flip.preservation_i1_mean": _at_least(0.95),
    "generation.balanced_accuracy": _at_least(0.90),
}


def target_status(key: str, results: dict) -> str:
    """`"met"`, `"missed"` or `""` (no target, or nothing to hold it against)."""
    check = TARGET_CHECKS.get(key)
    value = results.get(key)
    if check is None or value is None or value != value:       # NaN: no verdict
        return ""
    verdict = check(value, results)
    return "" if verdict is None else ("met" if verdict else "missed")


# Keys that count or name things rather than measure: shown apart from the metrics.
NOT_METRICS = ("pca.strip_label_index", "edit.num_images", "flip.num_images",
               "flip_structured.num_images", "flip.skipped_adds", "flip_structured.skipped_adds",
               "flip.attgan13.labels", "flip_structured.attgan13.labels",
               "generation.diversity_reference_pairs", "probe.epochs_chosen",
               "judge.epochs_chosen", "disagreement.probe_right",
               "disagreement.classifier_right")

# Per-label columns, one narrow table per theme (the page must not scroll sideways).
PER_LABEL_THEMES = (
    ("accuracy (section 4.1)", ("classifier_accuracy", "classifier_balanced_accuracy",
                                "probe_accuracy", "probe_balanced_accuracy",
                                "majority_accuracy", "judge_accuracy")),
    ("slots and retrieval (sections 4.1-4.3)", ("norm_auc", "absent_present_norm_ratio",
                                                "retrieval_map_corrected",
                                                "classifier_retrieval_map_corrected",
                                                "pc1_explained_variance", "pc1_prob_spearman")),
    ("edits, AttGAN protocol (section 4.5)", ("flip_accuracy_i1", "flip_accuracy_i2",
                                              "flip_add_accuracy_i1",
                                              "flip_remove_accuracy_i1",
                                              "flip_preservation_i1",
                                              "flip_structured_accuracy_i1")),
    ("edits, diagnostics and generation", ("add_success", "remove_success",
                                           "edit_preservation", "emphasis_gain",
                                           "generation_accuracy",
                                           "generation_balanced_accuracy")),
)

# Known figures in display order: file name, heading, caption.
KNOWN_FIGURES = (
    ("norm_correlation.png", "Slot-norm correlations",
     "Pearson correlation of per-label slot norms next to the labels' own correlation (and the "
     "generator's true one on synthfaces); paper Fig. 4"),
    ("disagreements.png", "Where the probe and the classifier disagree",
     "Per label (the rows with the most such cases; counts probe right / classifier right): a "
     "held-out image whose label the linear probe on the embeddings gets right and the "
     "classifier wrong, and one the reverse; paper Fig. 3"),
    ("pca_strip.png", "Principal components of slots",
     "Held-out images ordered by their projection on the first principal component of one "
     "label's slot, projection above each image; paper Fig. 5"),
    ("reconstructions.png", "Reconstructions",
     "Originals / OLR decoder / probabilities-only baseline / autoencoder baseline, held-out "
     "images; paper Fig. 6"),
    ("edits.png", "Label edits",
     "Adding and removing labels by editing the per-label slots; paper Fig. 7-8"),
    ("flips_i1.png", "Every label flipped (AttGAN / STGAN protocol), intensity 1",
     "Rows: held-out images; columns: the input, its reconstruction, then each label flipped "
     "from the ground truth (added where absent, removed where present) by the paper's "
     "one-slot edit; the flip.* figures of results.json measure exactly these edits"),
    ("flips_i2.png", "Every label flipped, intensity 2",
     "The same edits taken twice as far (s + 2 (g - s): twice the sample, or the slot negated)"),
    ("generations.png", "Generations", "Images generated from labels alone"),
    ("slerp.png", "Slot interpolation",
     "Spherical interpolation (slerp) between embeddings, decoded"),
)

CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.15em 0.5em; text-align: left; }
td.num { text-align: right; font-family: monospace; }
th { background: #f2f2f2; overflow-wrap: anywhere; }
table { max-width: 100%; }
img { max-width: 100%; height: auto; }
figure { margin: 0.5em 0 1.5em; } figcaption { font-size: 0.9em; color: #555; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
p.missing { color: #888; font-style: italic; }
"""


# === Formatting ===


def format_value(value) -> str:
    """A metric value with 4 significant digits, in plain notation where readable.

    Examples: 0.912345 -> "0.9123", 35.678 -> "35.68", 1234.5 -> "1234"
    (values up to 1e6 keep all integer digits), 3e-05 -> "3e-05", NaN -> "nan".
    Non-numbers are returned as `str(value)`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0.0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        decimals = max(0, 3 - math.floor(math.log10(magnitude)))
        return f"{value:.{decimals}f}"
    return f"{value:.4g}"


def _format_cell(text: str, decimals: int | None) -> tuple[str, bool]:
    """CSV cell -> (display text, is a number). Integers stay as they are."""
    try:
        int(text)
        return text, True
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text, False
    return (format_value(value) if decimals is None else f"{value:.{decimals}f}"), True


def _esc(value) -> str:
    return html.escape(str(value))


def _table(header, rows, numeric_cols=()) -> str:
    """HTML table; every cell is escaped, `numeric_cols` are right-aligned."""
    out = ["<table>", "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = [f'<td class="num">{_esc(v)}</td>' if i in numeric_cols else f"<td>{_esc(v)}</td>"
                 for i, v in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _missing(what: str) -> str:
    return f'<p class="missing">{_esc(what)}: {NOT_COMPUTED}.</p>'


# === Pure pieces: results -> tables ===


def flatten_config(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config dict -> flat `section.field` -> compact value text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def group_metrics(results: dict) -> dict[str, dict]:
    """Non-per-label results grouped by prefix (before the first dot), in display order.

    Known groups come in `METRIC_GROUPS` order; everything else, including names
    without a dot, is collected under "others". Empty groups are left out.
    """
    groups: dict[str, dict] = {name: {} for name in (*METRIC_GROUPS, "others")}
    for key, value in results.items():
        if key.startswith(PER_LABEL):
            continue
        prefix = key.split(".", 1)[0] if "." in key else ""
        groups[prefix if prefix in METRIC_GROUPS else "others"][key] = value
    return {name: metrics for name, metrics in groups.items() if metrics}


def per_label_table(results: dict) -> tuple[list[str], list[str], dict]:
    """`per_label.<label>.<metric>` results -> (labels, metrics, {(label, metric): value}).

    Labels and metrics keep their order of first appearance. The metric is the
    text after the last dot, so label names may contain dots.
    """
    labels: dict[str, None] = {}
    metrics: dict[str, None] = {}
    cells = {}
    for key, value in results.items():
        if not key.startswith(PER_LABEL) or "." not in key[len(PER_LABEL):]:
            continue
        label, metric = key[len(PER_LABEL):].rsplit(".", 1)
        labels.setdefault(label)
        metrics.setdefault(metric)
        cells[label, metric] = value
    return list(labels), list(metrics), cells


# === Sections ===


def _config_section(run_dir: str) -> str:
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return _missing("Configuration")
    with open(path) as f:
        flat = flatten_config(json.load(f))
    return _table(("setting", "value"), sorted(flat.items(), key=lambda kv: kv[0]))


def _key_figures_section(results: dict) -> str:
    rows = [(meaning, key, format_value(results[key]), better, PAPER_VALUES.get(key, ""),
             target, target_status(key, results))
            for key, meaning, better, target in KEY_FIGURES if key in results]
    if not rows:
        return _missing("Key figures")
    return ("<p>Test split. <em>paper</em>: the paper's figure on CelebA at 178 px (190,000 "
            "training images), not comparable with a synthetic or smaller run.</p>"
            + _table(("what", "key", "value", "better", "paper", "target", "met?"), rows,
                     numeric_cols=(2,)))


def _metrics_section(results: dict) -> str:
    metrics = {k: v for k, v in results.items() if k not in NOT_METRICS}
    groups = group_metrics(metrics)
    if not groups:
        return _missing("All metrics")
    parts = ["<p>Every figure of <code>results.json</code> (test split; <code>validation."
             "</code>: the validation split, where choices are made). What each key means: "
             "<code>docs/results.md</code> in the kerasolr repository.</p>"]
    for name, group in groups.items():
        parts.append(f"<h3>{_esc(name)}</h3>")
        parts.append(_table(("metric", "value"),
                            [(k, format_value(v)) for k, v in group.items()], numeric_cols=(1,)))
    counts = [(k, format_value(results[k])) for k in NOT_METRICS if k in results]
    if counts:
        parts.append("<h3>counts and choices (not metrics)</h3>")
        parts.append(_table(("key", "value"), counts, numeric_cols=(1,)))
    return "\n".join(parts)


def _per_label_section(results: dict) -> str:
    labels, metrics, cells = per_label_table(results)
    if not labels:
        return _missing("Per-label metrics")
    parts = []
    themes = [(title, [m for m in columns if m in metrics]) for title, columns in
              PER_LABEL_THEMES]
    rest = [m for m in metrics if not any(m in columns for _, columns in PER_LABEL_THEMES)]
    for start in range(0, len(rest), 6):
        themes.append(("more per-label figures", rest[start:start + 6]))
    for title, columns in themes:
        if not columns:
            continue
        rows = [[label] + [format_value(cells[label, m]) if (label, m) in cells else ""
                           for m in columns] for label in labels]
        parts.append(f"<h3>{_esc(title)}</h3>")
        parts.append(_table(["label", *columns], rows, numeric_cols=range(1, len(columns) + 1)))
    return "\n".join(parts)


def _provenance() -> str:
    """When, with which kerasolr (and commit, in a git checkout) the page was made."""
    import datetime
    import subprocess

    from kerasolr import __version__

    made = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = ""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=os.path.dirname(os.path.abspath(__file__)))
        if out.returncode == 0:
            commit = f", commit {out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"Made {made} by kerasolr {__version__}{commit}."


def _summary_section(run_dir: str) -> str:
    path = os.path.join(run_dir, SUMMARY_FILE)
    if not os.path.exists(path):
        return _missing("Summary")
    with open(path) as f:
        return f"<pre>{_esc(f.read())}</pre>"


def _img(path: str, caption: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return (f'<figure><img alt="{_esc(os.path.basename(path))}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_esc(caption)}</figcaption>'
            "</figure>")


def _figures_section(run_dir: str) -> str:
    folder = os.path.join(run_dir, FIGURES_DIR)
    if not os.path.isdir(folder):
        return _missing("Figures")
    parts = []
    for file_name, heading, caption in KNOWN_FIGURES:
        path = os.path.join(folder, file_name)
        parts.append(f"<h3>{_esc(heading)}</h3>")
        parts.append(_img(path, caption) if os.path.isfile(path) else _missing(file_name))
    known = {name for name, _, _ in KNOWN_FIGURES}
    others = [p for p in sorted(glob.glob(os.path.join(folder, "*.png")))
              if os.path.basename(p) not in known]
    if others:
        parts.append("<h3>Other figures</h3>")
        parts.extend(_img(p, os.path.basename(p)) for p in others)
    return "\n".join(parts)


def _training_figures_section(run_dir: str) -> str:
    paths = sorted(glob.glob(os.path.join(run_dir, TRAINING_FIGURES_DIR, "*_latest.png")))
    if not paths:
        return _missing("Visual checks during training")
    return "\n".join(_img(p, os.path.basename(p)) for p in paths)


def _csv_table(path: str, decimals: int | None, max_rows: int | None = None) -> str:
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        return _missing(os.path.basename(path))
    header, body = rows[0], rows[1:]
    shown = body
    if max_rows is not None and len(body) > max_rows:
        half = max_rows // 2
        shown = body[:half] + [["..."] * len(header)] + body[-half:]
    numeric = set()
    formatted = []
    for row in shown:
        cells = []
        for i, text in enumerate(row):
            value, is_number = _format_cell(text, decimals)
            cells.append(value)
            if is_number:
                numeric.add(i)
        formatted.append(cells)
    return _table(header, formatted, numeric_cols=numeric)


def _tables_section(run_dir: str) -> str:
    paths = sorted(glob.glob(os.path.join(run_dir, "*.csv")))
    result_tables = [p for p in paths if os.path.basename(p) == NORM_CORRELATION_CSV
                     or os.path.basename(p).startswith("pca")]
    if not result_tables:
        return _missing("Tables")
    parts = []
    for path in result_tables:
        parts.append(f"<h3>{_esc(os.path.basename(path))}</h3>")
        parts.append(_csv_table(path, decimals=3))
    return "\n".join(parts)


def _history_section(run_dir: str) -> str:
    paths = sorted(glob.glob(os.path.join(run_dir, HISTORY_PATTERN)))
    if not paths:
        return _missing("Training history")
    parts = []
    for path in paths:
        parts.append(f"<h3>{_esc(os.path.basename(path))}</h3>")
        parts.append(_csv_table(path, decimals=None, max_rows=HISTORY_MAX_ROWS))
    return "\n".join(parts)


# === Page ===


def read_results(run_dir: str) -> dict:
    """Reads `RUN_DIR/results.json` (a flat dict), with one-line errors naming the path."""
    return RunDir(run_dir).read_results()


def _seeds_section(aggregated: dict) -> str:
    keys = [k for k in aggregated if not k.startswith(PER_LABEL)]
    seeds = sorted(next(iter(aggregated.values()))["values"], key=int) if aggregated else []
    rows = []
    for key in keys:
        a = aggregated[key]
        rows.append([key, format_value(a["mean"]),
                     f"[{format_value(a['ci95_low'])}, {format_value(a['ci95_high'])}]",
                     format_value(a["std"]), *(format_value(a["values"][s]) for s in seeds)])
    return _table(["figure", "mean", "95% interval", "std", *(f"seed {s}" for s in seeds)],
                  rows, numeric_cols=range(1, 4 + len(seeds)))


def _markdown_tables(text: str) -> str:
    """The pipe tables of a Markdown text as HTML tables, its other lines as paragraphs."""
    parts, table = [], []

    def flush():
        if table:
            rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                    for line in table if not set(line.strip()) <= set("|-: ")]
            parts.append(_table(rows[0], rows[1:], numeric_cols=range(1, len(rows[0]))))
            table.clear()

    for line in text.splitlines():
        if line.strip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.strip():
            parts.append(f"<p>{_esc(line.strip())}</p>")
    flush()
    return "\n".join(parts)


def _context_sections(run_dir: str) -> list[tuple[str, str]]:
    """Sections from the folder a run sits in: `kerasolr compare`'s table (the
    run is `DIR/olr`) and `kerasolr repeat`'s intervals (the run is `DIR/seed_<s>`)."""
    parent = os.path.dirname(os.path.normpath(os.path.abspath(run_dir)))
    sections = []
    table = os.path.join(parent, COMPARE_TABLE_FILE)
    if os.path.exists(table):
        with open(table) as f:
            sections.append(("Beside the baselines (kerasolr compare)",
                             _markdown_tables(f.read())))
    seeds = os.path.join(parent, SEEDS_RESULTS_FILE)
    if os.path.exists(seeds):
        with open(seeds) as f:
            aggregated = json.load(f)
        sections.append(("Across seeds (kerasolr repeat; this run is one of them)",
                         _seeds_section(aggregated)))
    return sections


def _render_seeds_page(run_dir: str) -> str:
    """The page of a `kerasolr repeat` folder: every figure over seeds, and links."""
    with open(os.path.join(run_dir, SEEDS_RESULTS_FILE)) as f:
        aggregated = json.load(f)
    name = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    title = f"kerasolr repeat: {name}"
    links = sorted(glob.glob(os.path.join(run_dir, "seed_*", REPORT_FILE)))
    runs = "<ul>" + "".join(
        f'<li><a href="{_esc(os.path.relpath(p, run_dir))}">'
        f"{_esc(os.path.basename(os.path.dirname(p)))}</a></li>" for p in links) + "</ul>"
    body = (f"<p>Mean, sample standard deviation and two-sided 95% Student-t interval of every "
            f"figure over the seeds' held-out results (<code>{SEEDS_RESULTS_FILE}</code>).</p>"
            f"<h2>Across seeds</h2>\n{_seeds_section(aggregated)}\n"
            f"<h2>Each seed's report</h2>\n{runs if links else _missing('Seed reports')}")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{_esc(title)}</h1>\n<p>{_esc(_provenance())}</p>\n{body}\n</body>\n"
            "</html>\n")


def render_report(run_dir: str) -> str:
    """The HTML text of a run's report (see `write_report`); for a `kerasolr
    repeat` folder (intervals, no `results.json`), its page over seeds."""
    if (os.path.isdir(run_dir) and not os.path.exists(os.path.join(run_dir, RESULTS_FILE))
            and os.path.exists(os.path.join(run_dir, SEEDS_RESULTS_FILE))):
        return _render_seeds_page(run_dir)
    results = read_results(run_dir)
    name = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    title = f"kerasolr report: {name}"
    sections = [
        ("Key figures", _key_figures_section(results)),
        ("Summary", _summary_section(run_dir)),
        *_context_sections(run_dir),
        ("Figures", _figures_section(run_dir)),
        ("Per-label metrics", _per_label_section(results)),
        ("All metrics", _metrics_section(results)),
        ("Tables", _tables_section(run_dir)),
        ("Training history", _history_section(run_dir)),
        ("Visual checks during training", _training_figures_section(run_dir)),
        ("Configuration", _config_section(run_dir)),
    ]
    body = "\n".join(f"<h2>{_esc(heading)}</h2>\n{content}" for heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{_esc(title)}</h1>\n<p>{_esc(_provenance())}</p>\n{body}\n</body>\n"
            "</html>\n")


def write_report(run_dir: str, out_path: str | None = None) -> str:
    """Writes a self-contained HTML report of a run directory, atomically.

    Sections: summary, headline metrics grouped by prefix, one per-label table,
    figures (base64 PNGs), result CSV tables, training histories, the latest
    visual checks from training, and the configuration. Absent inputs give a
    "not computed for this run" line instead of an error.

    Args:
        run_dir: The run directory (must hold `results.json`).
        out_path: Where to write; defaults to `RUN_DIR/report.html`.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If `run_dir` or `RUN_DIR/results.json` is missing.
    """
    page = render_report(run_dir)
    out_path = out_path or os.path.join(run_dir, REPORT_FILE)
    parent = os.path.dirname(out_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    partial = out_path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(partial, out_path)
    return out_path
