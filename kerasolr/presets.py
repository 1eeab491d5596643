"""Ready-to-use models shipped inside the package (issue 16, part 4).

A preset is a trimmed run directory under `kerasolr/presets/<name>/`: the
config, label names, classifier, encoder, decoder, label Gaussians, the test
split's embeddings (for `search`), what the structured edit reads off the
training split (`edit_structure.npz`) and a model card. Anything that takes a run
directory (`kerasolr edit / generate / search --preset NAME`, `RunDir`) takes
`preset_dir(NAME)`; `from_preset(NAME)` loads the models.

    import kerasolr
    preset = kerasolr.from_preset("synthfaces-64")
    embeddings = preset.encoder(images)          # (n, 64, 64, 3) in [0, 1] -> (n, L, k)

Made from a finished run with one command (it copies, it trains nothing):

    python -m kerasolr.presets build RUN_DIR NAME
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys

from kerasolr import editing
from kerasolr.rundir import (
    CONFIG_FILE,
    EDIT_STRUCTURE_FILE,
    EMBEDDINGS_DIR,
    GAUSSIANS_FILE,
    LABELS_FILE,
    MODEL_SUFFIX,
    RESULTS_FILE,
    RunDir,
)

PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")
MODELS = ("classifier", "encoder", "decoder")
FILES = (CONFIG_FILE, LABELS_FILE, GAUSSIANS_FILE, os.path.join(EMBEDDINGS_DIR, "test.npz"),
         *(m + MODEL_SUFFIX for m in MODELS))
CARD = "MODEL_CARD.md"


def available() -> list[str]:
    """The names of the shipped presets."""
    if not os.path.isdir(PRESETS_DIR):
        return []
    return sorted(name for name in os.listdir(PRESETS_DIR)
                  if os.path.exists(RunDir(os.path.join(PRESETS_DIR, name)).config_path))


def preset_dir(name: str) -> str:
    """The run directory of a shipped preset.

    Raises:
        ValueError: An unknown name (one line listing the known ones).
    """
    if name not in available():
        raise ValueError(f"unknown model preset {name!r}; shipped: "
                         f"{', '.join(available()) or 'none'}")
    return os.path.join(PRESETS_DIR, name)


@dataclasses.dataclass
class Preset:
    """A loaded preset: `config` (a `RunConfig`), `names` (the L labels),
    the Keras models and the label Gaussians (`editing.LabelGaussians`)."""

    name: str
    path: str
    config: object
    names: tuple[str, ...]
    classifier: object
    encoder: object
    decoder: object
    gaussians: object


def from_preset(name: str) -> Preset:
    """Loads a shipped preset (the models with Keras's `safe_mode`)."""
    run = RunDir(preset_dir(name))
    return Preset(name, run.path, run.read_config(), run.label_names(),
                  *(run.load_model(m) for m in MODELS), run.label_gaussians())


def build(run_dir: str, name: str, out_dir: str = PRESETS_DIR) -> str:
    """Copies a finished run's files into `out_dir/name` and writes its model
    card from the run's `results.json` and `config.json`.

    Raises:
        FileNotFoundError: Naming the first file the run lacks.
    """
    run = RunDir(run_dir)
    for file in (*FILES, RESULTS_FILE, os.path.join(EMBEDDINGS_DIR, "train.npz")):
        if not run.exists(file):
            raise FileNotFoundError(f"{run.file(file)} not found: a preset needs a finished "
                                    "run (kerasolr demo)")
    target = os.path.join(out_dir, name)
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(os.path.join(partial, EMBEDDINGS_DIR))
    for file in FILES:
        shutil.copy(run.file(file), os.path.join(partial, file))
    editing.save_edit_structure(os.path.join(partial, EDIT_STRUCTURE_FILE), *run.edit_structure())
    with open(run.config_path) as f:
        config = json.load(f)
    with open(os.path.join(partial, CARD), "w") as f:
        f.write(model_card(name, config, run.read_results(), run.label_names()))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target


CARD_FIGURES = (("classifier.mean_accuracy", "classifier, mean accuracy"),
                ("probe.mean_accuracy", "linear probe on the embeddings"),
                ("slots.norm_auc_mean", "slot-norm ROC AUC, mean over labels"),
                ("recon.ssim", "reconstruction SSIM"),
                ("flip.accuracy_i1_mean", "edit accuracy, AttGAN protocol, intensity 1"),
                ("flip_structured.accuracy_i1_mean", "the same, structured edit"),
                ("flip.preservation_i1_mean", "other labels preserved"),
                ("generation.balanced_accuracy", "generation balanced accuracy"))


def model_card(name: str, config: dict, results: dict, names) -> str:
    data = config["data"]
    rows = "\n".join(f"| {what} | `{key}` | {results[key]:.3f} |"
                     for key, what in CARD_FIGURES if key in results)
    return f"""# Model card: `{name}`

**What it is.** An OLR model (kerasolr {_version()}): a multi-label classifier, the Siamese
encoder that maps a {data['image_size']} x {data['image_size']} image to {len(names)} x
{config['siamese']['k']} per-label embeddings (labels: {', '.join(names)}), the decoder
trained on those embeddings, and the per-label Gaussians used to add, remove and generate
labels.

**Data.** `{data['dataset']}`: kerasolr's built-in synthetic faces (generated, no people), the
first {data['num_train']:,} generator images for training, {data['num_val']:,} for validation and
{data['num_test']:,} for test (data seed {data['seed']}). Labels: the generator's own attributes.

**Training command.** `kerasolr demo --out RUN` (preset `{config.get('preset', 'demo')}`, seed
{config['seed']}), then `python -m kerasolr.presets build RUN {name}`.

**Figures** (test split of the run it was built from; `docs/results.md` says what each means):

| figure | key | value |
|---|---|---|
{rows}

**Intended use.** Trying kerasolr in seconds: editing, generating and searching synthetic faces
(`kerasolr edit IMG --preset {name}`), tests and demos. Not for photos of people: it has never
seen one, and its judge-measured edit accuracy is the figure above, not a guarantee.
"""


def _version() -> str:
    from kerasolr import __version__

    return __version__


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "build":
        print("usage: python -m kerasolr.presets build RUN_DIR NAME", file=sys.stderr)
        return 2
    print(build(argv[1], argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
