import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def assert_config_roundtrip(obj):
    """get_config -> from_config -> get_config through JSON gives the same config."""
    config = obj.get_config()
    rebuilt = type(obj).from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    return rebuilt


def write_labelled_folder(root, count: int, shape, seed: int,
                          labels=("Smiling", "Eyeglasses")) -> None:
    """A `folder` dataset in `root`: `count` random RGB PNGs `0.png ...` of `shape`
    (height, width, 3) drawn in order from one seeded generator, and `labels.csv`
    with Smiling = i % 2 and Eyeglasses = (i % 3 == 0) for the names in `labels`."""
    import numpy as np
    from PIL import Image

    rules = {"Smiling": lambda i: i % 2, "Eyeglasses": lambda i: int(i % 3 == 0)}
    rng = np.random.default_rng(seed)
    rows = [",".join(("filename", *labels))]
    for i in range(count):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(
            os.path.join(root, f"{i}.png"))
        rows.append(",".join((f"{i}.png", *(str(rules[name](i)) for name in labels))))
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
