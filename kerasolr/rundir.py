"""The run directory: one owner for its layout, its files and how they are read.

Every file name of a run lives here; other modules ask a `RunDir` for paths,
models, embeddings, results and timing instead of spelling names themselves.

Layout of `RUN_DIR`:
    config.json              the RunConfig used
    labels.json              the L label names, in slot order (written by training)
    classifier.keras         trained classifier
    encoder.keras            trained Siamese encoder
    history_<fit>.csv        per-epoch losses of each fit
    embeddings/{train,validation,test}.npz
    decoder.keras            reconstruction decoder on frozen embeddings (Table 1)
    decoder_probs.keras      baseline: decoder fed the classifier's L probabilities
    autoencoder.keras        baseline: autoencoder with an L x k bottleneck
    label_gaussians.npz      per-label slot Gaussians (eq. 4-5)
    judge.keras              independent attribute classifier judging edits
    figures/*.png            heatmap, PCA strip, reconstructions, edits, generations
    figures/training/*.png   visual checks saved during training
    tensorboard/<fit>/       the same checks as TensorBoard image summaries
    norm_correlation.csv, pca.csv
    results.json             flat metrics (see README)
    summary.txt              the same, for people
    report.html              everything above on one page (`kerasolr report`)
    timing.json              seconds per stage
    checkpoints/<fit>/       the last completed epoch of a running fit
    cache/                   with data.cache=disk: decoded training images
    evaluations/<name>/      `kerasolr evaluate --data` results on other datasets

Nothing here imports TensorFlow at module level: `kerasolr report` reads a run
without it. JSON files and models are written under a temporary name and
renamed into place, so a killed process never leaves a half file.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import sys
import tempfile

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.json"
RESULTS_FILE = "results.json"
TIMING_FILE = "timing.json"
SUMMARY_FILE = "summary.txt"
REPORT_FILE = "report.html"
DATA_FILE = "data.json"
GAUSSIANS_FILE = "label_gaussians.npz"
EDIT_STRUCTURE_FILE = "edit_structure.npz"   # presets: the structured edit's training-split reads
NORM_CORRELATION_CSV = "norm_correlation.csv"
PCA_CSV = "pca.csv"
FIGURES_DIR = "figures"
TRAINING_FIGURES_DIR = os.path.join(FIGURES_DIR, "training")
EMBEDDINGS_DIR = "embeddings"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CACHE_DIR = "cache"
EVALUATIONS_DIR = "evaluations"
SEEDS_RESULTS_FILE = "results_seeds.json"   # `kerasolr repeat`: intervals over seeds
SEEDS_TABLE_FILE = "seeds.md"
COMPARE_FILE = "compare.json"               # `kerasolr compare`: its folder's files
COMPARE_PER_LABEL_FILE = "compare_per_label.json"
COMPARE_TABLE_FILE = "compare.md"
MODEL_SUFFIX = ".keras"
HISTORY_PATTERN = "history_*.csv"
LOCK_FILE = ".lock"                         # held by the one process writing the run
_HELD_LOCKS: dict[str, int] = {}            # real path -> open descriptor (this process)


class RunDirInUse(ValueError):
    """Another process is writing the run directory."""

# The models of a run, and the command that makes each (for "not found" hints).
MODELS = {
    "classifier": "kerasolr train",
    "encoder": "kerasolr train",
    "decoder": "kerasolr train-decoder",
    "decoder_probs": "kerasolr train-decoder",
    "autoencoder": "kerasolr train-decoder",
    "judge": "kerasolr evaluate",
}


def log(message: str) -> None:
    """One progress line on stderr, prefixed `[kerasolr]`."""
    print(f"[kerasolr] {message}", file=sys.stderr, flush=True)


def write_json_atomically(path: str, obj) -> None:
    """Writes `obj` as sorted, indented JSON under a temporary name, then renames it."""
    from kerasolr.resume import write_text_atomically

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_text_atomically(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


class RunDir:
    """A run directory: paths, and reading and writing what it holds.

    Args:
        path: The run directory.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    def lock(self) -> None:
        """Makes this process the only one writing the run (an exclusive
        `flock` on `RUN_DIR/.lock`, held until the process ends, so a crash or
        a kill frees it); a second process gets `RunDirInUse` naming the first.
        Calling it again in the same process does nothing."""
        import fcntl

        os.makedirs(self.path, exist_ok=True)
        key = os.path.realpath(self.path)
        if key in _HELD_LOCKS:
            return
        fd = os.open(self.file(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 300).decode(errors="replace").split()
            os.close(fd)
            pid = holder[0] if holder else "unknown"
            host = f" on host {holder[1]}" if len(holder) > 1 else ""
            raise RunDirInUse(f"{self.path} is in use by another kerasolr process (pid "
                              f"{pid}{host}); wait for it to end, or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}".encode())
        _HELD_LOCKS[key] = fd

    def file(self, *parts: str) -> str:
        """`RUN_DIR/<parts...>`."""
        return os.path.join(self.path, *parts)

    def exists(self, *parts: str) -> bool:
        return os.path.exists(self.file(*parts))

    # --- config and labels ---

    @property
    def config_path(self) -> str:
        return self.file(CONFIG_FILE)

    def read_config(self):
        """Reads and validates `config.json` (a `RunConfig`)."""
        from kerasolr.config import RunConfig

        if not os.path.isdir(self.path):
            raise FileNotFoundError(f"run directory {self.path} does not exist")
        if not os.path.exists(self.config_path):
            raise FileNotFoundError(f"{self.config_path} not found: not a kerasolr run "
                                    "directory")
        try:
            return RunConfig.from_dict(read_json(self.config_path)).validate()
        except (json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{self.config_path} is not a valid kerasolr config: "
                             f"{err}") from None

    def prepare(self, config, names) -> None:
        """Creates the directory and writes `config.json` and `labels.json`,
        refusing a different config already there (so a run's figures always
        match its recorded settings)."""
        config.validate()
        self.lock()
        if os.path.exists(self.config_path):
            existing = self.read_config()
            if existing != config:
                from kerasolr.config import config_differences

                differing = config_differences(existing, config)
                if self.has_work():
                    raise ValueError(
                        f"{self.config_path} holds a different config ({differing}); use a new "
                        "--out directory, or the same settings to continue this run")
                # Nothing was trained with the old config (a run that failed
                # before its first model): the new one replaces it.
                log(f"{self.path}: nothing trained yet; replacing its config ({differing})")
                write_json_atomically(self.config_path, config.to_dict())
                self.write_label_names(names)
        else:
            write_json_atomically(self.config_path, config.to_dict())
        if not self.exists(LABELS_FILE):
            self.write_label_names(names)

    def has_work(self) -> bool:
        """Whether anything was trained or computed here: a model, a
        checkpoint, embeddings or results (not just `config.json`)."""
        if any(name.endswith(".keras") for name in os.listdir(self.path)):
            return True
        checkpoints = self.file(CHECKPOINTS_DIR)
        if os.path.isdir(checkpoints) and any(os.scandir(checkpoints)):
            return True
        return os.path.isdir(self.file(EMBEDDINGS_DIR)) or os.path.exists(self.results_path)

    def write_label_names(self, names) -> None:
        write_json_atomically(self.file(LABELS_FILE), {"label_names": list(names)})

    def label_names(self) -> tuple[str, ...]:
        """The L label names in slot order, from `labels.json`.

        Runs made before `labels.json` existed get them from their dataset
        (which must then be on disk), with a one-line note.
        """
        path = self.file(LABELS_FILE)
        if os.path.exists(path):
            try:
                names = read_json(path)["label_names"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{path} is not a kerasolr label file: {err}") from None
            return tuple(str(name) for name in names)
        from kerasolr.data import pipeline

        log(f"note: {path} not found (a run from before it existed); reading the label names "
            "from the run's dataset")
        return tuple(pipeline.label_names(self.read_config().data))

    # --- models ---

    def model_path(self, name: str) -> str:
        """`RUN_DIR/<name>.keras` for a model name of `MODELS` (or another stem)."""
        return self.file(name + MODEL_SUFFIX)

    def has_model(self, name: str) -> bool:
        return os.path.exists(self.model_path(name))

    def load_model(self, name: str):
        """Loads a model of the run (uncompiled), with kerasolr's layers registered.

        Raises:
            FileNotFoundError: The model was not trained yet (one line naming
                the command that makes it).
        """
        path = self.model_path(name)
        if not os.path.exists(path):
            command = MODELS.get(name, "kerasolr train")
            raise FileNotFoundError(f"{path} not found: run `{command}` on this run first")
        import keras

        import kerasolr.layers  # noqa: F401  (registers the custom layers)

        return keras.saving.load_model(path, compile=False)

    def save_model(self, model, name: str) -> str:
        """Saves `RUN_DIR/<name>.keras` atomically; returns the path."""
        from kerasolr.training import save_model_atomically

        os.makedirs(self.path, exist_ok=True)
        save_model_atomically(model, self.model_path(name))
        return self.model_path(name)

    # --- embeddings and label Gaussians ---

    def embeddings_path(self, split: str) -> str:
        return self.file(EMBEDDINGS_DIR, f"{split}.npz")

    def has_embeddings(self, split: str) -> bool:
        return os.path.exists(self.embeddings_path(split))

    def load_embeddings(self, split: str, on_disk=()) -> dict:
        """`{"embeddings", "labels", "clean_labels", "ids"}` of a split (those
        named in `on_disk` as `kerasolr.embeddings.NpzArray` row readers)."""
        from kerasolr.embeddings import load_embeddings

        path = self.embeddings_path(split)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: run `kerasolr embed {self.path}` first "
                                    f"(it embeds the splits that are missing)")
        return load_embeddings(path, on_disk)

    @property
    def gaussians_path(self) -> str:
        return self.file(GAUSSIANS_FILE)

    def fit_label_gaussians(self, out: RunDir | None = None):
        """Fits the label Gaussians (eq. 4-5) on the training embeddings and
        labels, and writes them (to `out`, default this run)."""
        from kerasolr import editing

        train = self.load_embeddings("train")
        gaussians = editing.fit_label_gaussians(train["embeddings"], train["labels"],
                                                self.label_names())
        gaussians.save((out or self).gaussians_path)
        return gaussians

    def label_gaussians(self):
        """The run's label Gaussians: read from `label_gaussians.npz`, or
        fitted (and written) when the file is not there yet."""
        from kerasolr import editing

        if os.path.exists(self.gaussians_path):
            return editing.LabelGaussians.load(self.gaussians_path)
        return self.fit_label_gaussians()

    def edit_structure(self):
        """`(editing.LabelStructure, editing.ContextEffects)` of the run's
        training split: read from `edit_structure.npz` when there (a preset,
        which ships no training embeddings), else fitted on
        `embeddings/train.npz`.

        Raises:
            FileNotFoundError: Neither is there (one line naming both).
        """
        from kerasolr import editing

        saved = self.file(EDIT_STRUCTURE_FILE)
        if os.path.exists(saved):
            return editing.load_edit_structure(saved)
        if not self.has_embeddings("train"):
            raise FileNotFoundError(
                f"the structured edit reads the training labels: neither {saved} nor "
                f"{self.embeddings_path('train')} exists (run `kerasolr embed {self.path}`)")
        train = self.load_embeddings("train", on_disk=("embeddings",))
        return editing.fit_edit_structure(train["embeddings"], train["labels"],
                                          self.label_names())

    # --- results, timing, summary ---

    @property
    def results_path(self) -> str:
        return self.file(RESULTS_FILE)

    def read_results(self) -> dict:
        """`results.json` (a flat dict), with one-line errors naming the path."""
        if not os.path.isdir(self.path):
            raise FileNotFoundError(f"run directory {self.path} does not exist")
        if not os.path.exists(self.results_path):
            raise FileNotFoundError(f"{self.results_path} not found: run `kerasolr evaluate "
                                    f"{self.path}` first")
        try:
            results = read_json(self.results_path)
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.results_path} is not valid JSON: {err}") from None
        if not isinstance(results, dict):
            raise ValueError(f"{self.results_path} must hold a flat JSON object of metric "
                             "name -> value")
        return results

    def write_results(self, results: dict) -> None:
        os.makedirs(self.path, exist_ok=True)
        write_json_atomically(self.results_path, results)

    def read_timing(self) -> dict[str, float]:
        """`{stage_seconds: seconds}` of the stages run so far (empty if none)."""
        path = self.file(TIMING_FILE)
        if not os.path.exists(path):
            return {}
        return {key: float(value) for key, value in read_json(path).items()}

    def record_timing(self, key: str, seconds: float) -> None:
        """Sets one stage's seconds in `timing.json`."""
        timing = self.read_timing()
        timing[key] = float(seconds)
        os.makedirs(self.path, exist_ok=True)
        write_json_atomically(self.file(TIMING_FILE), timing)

    def write_text(self, name: str, text: str) -> str:
        """Writes a text file of the run (e.g. `SUMMARY_FILE`) atomically."""
        from kerasolr.resume import write_text_atomically

        os.makedirs(self.path, exist_ok=True)
        write_text_atomically(self.file(name), text)
        return self.file(name)

    # --- folders ---

    @property
    def figures_dir(self) -> str:
        return self.file(FIGURES_DIR)

    @property
    def training_figures_dir(self) -> str:
        return self.file(TRAINING_FIGURES_DIR)

    def figure_path(self, name: str) -> str:
        return self.file(FIGURES_DIR, name)

    def checkpoint_dir(self, fit: str) -> str:
        return self.file(CHECKPOINTS_DIR, fit)

    def history_path(self, fit: str) -> str:
        return self.file(f"history_{fit}.csv")

    def best_epoch(self, fit: str) -> float:
        """The epoch of lowest validation loss in `history_<fit>.csv` (what an
        early-stopped fit kept); NaN without a history or a validation loss."""
        path = self.history_path(fit)
        if not os.path.exists(path):
            return float("nan")
        with open(path) as f:
            rows = list(csv.DictReader(f))
        losses = [float(row["val_loss"]) for row in rows if row.get("val_loss")]
        return float(losses.index(min(losses)) + 1) if losses else float("nan")

    def tensorboard_dir(self, fit: str) -> str:
        return self.file(TENSORBOARD_DIR, fit)

    @property
    def cache_dir(self) -> str:
        return self.file(CACHE_DIR)

    def evaluation_dir(self, dataset: str, split: str) -> str:
        return self.file(EVALUATIONS_DIR, f"{dataset}-{split}")

    def output_for(self, strategy) -> RunDir:
        """Where this process writes: this run on the chief (and in a single
        process); on the other workers of a multi-worker run, a scratch folder
        of their own (they read the chief's files: the run directory must be on
        storage every worker sees)."""
        from kerasolr.distribute import is_chief

        if is_chief(strategy):
            return self
        scratch = os.path.join(tempfile.gettempdir(), f"kerasolr-worker-{os.getpid()}")
        os.makedirs(scratch, exist_ok=True)
        return RunDir(scratch)
