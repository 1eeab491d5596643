"""synthfaces: procedural cartoon faces with CelebA-named binary attributes.

The default dataset of kerasolr. Every example is drawn from a small discrete
Bayesian network over latent choices; the 16 labels are a deterministic
function of those choices, so their joint distribution (and hence the exact
label correlation matrix) is known by enumeration, and every label has a
visible phenotype in the image.

Generative model (latent node | parents: P(node = 1 | parent values)):

    male                          0.45
    young                         0.58
    smiling                       0.48
    mouth_open   | smiling        0.12 / 0.55           (not smiling / smiling)
    narrow_eyes  | smiling        0.10 / 0.22
    eyeglasses   | young          0.26 / 0.09           (old / young)
    hat          | male           0.13 / 0.18           (female / male)
    hair         | male, young    categorical over (bald, black, blond, gray, brown):
                   P(bald) = 0.04 f-old, 0.01 f-young, 0.45 m-old, 0.10 m-young; otherwise
                   colour ~ (0.28, 0.17, 0.38, 0.17) if old, (0.38, 0.34, 0.02, 0.26) if young
    bangs        | male           0.45 / 0.22
    mustache     | male, young    0.01 (female), 0.42 (male, old), 0.26 (male, young)
    lipstick     | male           0.58 / 0.02
    makeup       | male, lipstick 0.10 / 0.62 (female, no / lipstick), 0.01 / 0.30 (male)
    chubby       | male, young    0.18 / 0.05 (female old / young), 0.26 / 0.08 (male)

Labels: Male, Young, Smiling, Mouth_Slightly_Open, Eyeglasses, Wearing_Hat,
Mustache, Wearing_Lipstick, Heavy_Makeup, Narrow_Eyes and Chubby copy their
node. A hat hides all hair, so with `hat = 1` the hair labels are 0:
Bald / Black_Hair / Blond_Hair / Gray_Hair = (hair is that state) and not hat
(brown is the unlabelled fourth colour); Bangs = bangs and not hat and not bald.

Phenotypes (scaled by a per-image, per-attribute strength s ~ U[0.5, 1], except
Bald, which is all or nothing):
Male = square jaw + thick eyebrows; not Young = forehead / under-eye /
nasolabial wrinkle lines + paler skin; Smiling = mouth corners curved up;
Mouth_Slightly_Open = dark mouth opening with teeth; Eyeglasses = two rings +
bridge; Wearing_Hat = crown + brim over the top of the head; Bald = no hair
(skin-coloured scalp); Black / Blond / Gray / (brown) hair colour; Mustache =
dark band above the mouth; Wearing_Lipstick = thicker bright red lips;
Heavy_Makeup = coloured eyeshadow + cheek blush; Narrow_Eyes = thin eyes;
Chubby = wider face + cheeks bulging out of the outline; Bangs = fringe across
the forehead.

Nuisance variation (not labels): skin tone, face width / height, position and
scale, hair volume and length, eye / mouth size, gaze, iris, eyebrow, hat and
clothing colours, a two-colour background gradient, directional shading,
brightness / contrast and pixel noise.

Determinism: indices are generated in fixed chunks of `CHUNK_SIZE`; chunk c of
seed `seed` uses stateless TF random streams seeded from (seed, c), so example
i is identical however the index range is requested. Optional label noise
flips each label independently with probability `label_noise` (its own random
stream), keeping the clean labels alongside.

Speed: a chunk is rendered at once with TF ops: shapes are signed distances on
a pixel grid turned into anti-aliased coverage (a 1-pixel ramp) and composited
back to front; see the "drawing" section for how the work is kept small.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

ATTRIBUTES: tuple[str, ...] = (
    "Male", "Young", "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Bald",
    "Black_Hair", "Blond_Hair", "Gray_Hair", "Mustache", "Wearing_Lipstick", "Heavy_Makeup",
    "Narrow_Eyes", "Chubby", "Bangs",
)
DEFAULT_IMAGE_SIZE = 64
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 178
CHUNK_SIZE = 32  # small enough for a chunk's intermediates to stay in cache
HAIR_STATES = ("bald", "black", "blond", "gray", "brown")

_A = {name: i for i, name in enumerate(ATTRIBUTES)}  # attribute -> strength column


def _bern(p) -> np.ndarray:
    """Bernoulli table(s): P(1) = p -> [..., (P(0), P(1))]."""
    p = np.asarray(p, np.float64)
    return np.stack([1.0 - p, p], axis=-1)


def _hair_row(p_bald: float, colours: tuple[float, float, float, float]) -> list[float]:
    return [p_bald] + [(1.0 - p_bald) * c for c in colours]


_OLD_COLOURS, _YOUNG_COLOURS = (0.28, 0.17, 0.38, 0.17), (0.38, 0.34, 0.02, 0.26)
# (node, parents, table indexed [parent values..., value]); parents come before children.
_NETWORK: tuple[tuple[str, tuple[str, ...], np.ndarray], ...] = (
    ("male", (), _bern(0.45)),
    ("young", (), _bern(0.58)),
    ("smiling", (), _bern(0.48)),
    ("mouth_open", ("smiling",), _bern([0.12, 0.55])),
    ("narrow_eyes", ("smiling",), _bern([0.10, 0.22])),
    ("eyeglasses", ("young",), _bern([0.26, 0.09])),
    ("hat", ("male",), _bern([0.13, 0.18])),
    ("hair", ("male", "young"), np.array([
        [_hair_row(0.04, _OLD_COLOURS), _hair_row(0.01, _YOUNG_COLOURS)],
        [_hair_row(0.45, _OLD_COLOURS), _hair_row(0.10, _YOUNG_COLOURS)]])),
    ("bangs", ("male",), _bern([0.45, 0.22])),
    ("mustache", ("male", "young"), _bern([[0.01, 0.01], [0.42, 0.26]])),
    ("lipstick", ("male",), _bern([0.58, 0.02])),
    ("makeup", ("male", "lipstick"), _bern([[0.10, 0.62], [0.01, 0.30]])),
    ("chubby", ("male", "young"), _bern([[0.18, 0.05], [0.26, 0.08]])),
)
_NODES = tuple(name for name, _, _ in _NETWORK)
_CARD = {name: table.shape[-1] for name, _, table in _NETWORK}

# Nuisance parameters: (name, number of U[0, 1) columns).
_NUISANCE = (
    ("skin", 1), ("cx", 1), ("cy", 1), ("scale", 1), ("width", 1), ("height", 1), ("bg1", 3),
    ("bg2", 3), ("bg_angle", 1), ("cloth", 3), ("hair_tint", 1), ("hair_volume", 1),
    ("hair_length", 1), ("hat_colour", 3), ("brow_colour", 1), ("iris", 1), ("mouth_curve", 1),
    ("mouth_width", 1), ("lip_width", 1), ("eye_size", 1), ("gaze", 1), ("shadow_colour", 1),
    ("light_angle", 1), ("light", 1), ("brightness", 1), ("contrast", 1), ("noise", 1),
)
_NUM_NUISANCE = sum(width for _, width in _NUISANCE)
_NUISANCE_SLICES = {name: slice(end - width, end) for (name, width), end in zip(
    _NUISANCE, np.cumsum([width for _, width in _NUISANCE]).tolist(), strict=True)}

# Random streams of a chunk (folded into the (seed, chunk) seed).
_STREAM_LATENT, _STREAM_STRENGTH, _STREAM_NUISANCE, _STREAM_PIXELS, _STREAM_FLIPS = range(5)


def validate_attributes(attributes=None) -> tuple[str, ...]:
    """Checks a selection of attribute names.

    Args:
        attributes: None (all of `ATTRIBUTES`) or a sequence of attribute names.

    Returns:
        The selected names, in the requested order.

    Raises:
        ValueError: If a name is not in `ATTRIBUTES` (or a plain string is given).
    """
    if attributes is None:
        return ATTRIBUTES
    if isinstance(attributes, str):
        raise ValueError(f"attributes must be a sequence of names, not the string {attributes!r}")
    for name in attributes:
        if name not in _A:
            raise ValueError(
                f"unknown synthfaces attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
    return tuple(attributes)


def _validate_args(start, stop, image_size, label_noise) -> None:
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if stop < start:
        raise ValueError(f"stop must be >= start, got start={start}, stop={stop}")
    if int(image_size) != image_size or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be an integer in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}], "
            f"got {image_size}")
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must be in [0, 1), got {label_noise}")


# ----------------------------------------------------------------------------- labels


def labels_from_latents(latents: dict[str, tf.Tensor]) -> tf.Tensor:
    """Labels as a deterministic function of the latent nodes.

    Args:
        latents: Node name -> int32 (B,) values.

    Returns:
        float32 (B, 16) 0/1 labels in `ATTRIBUTES` order.
    """
    def f(t):
        return tf.cast(t, tf.float32)

    visible = 1.0 - f(latents["hat"])  # a hat hides every hair cue
    hair = latents["hair"]
    cols = {
        "Male": f(latents["male"]), "Young": f(latents["young"]),
        "Smiling": f(latents["smiling"]), "Mouth_Slightly_Open": f(latents["mouth_open"]),
        "Eyeglasses": f(latents["eyeglasses"]), "Wearing_Hat": f(latents["hat"]),
        "Mustache": f(latents["mustache"]), "Wearing_Lipstick": f(latents["lipstick"]),
        "Heavy_Makeup": f(latents["makeup"]), "Narrow_Eyes": f(latents["narrow_eyes"]),
        "Chubby": f(latents["chubby"]),
        "Bangs": f(latents["bangs"]) * visible * f(hair != 0),
    }
    for state, name in enumerate(("Bald", "Black_Hair", "Blond_Hair", "Gray_Hair")):
        cols[name] = visible * f(tf.equal(hair, state))
    return tf.stack([cols[a] for a in ATTRIBUTES], axis=-1)


@functools.lru_cache(maxsize=1)
def _exact_moments() -> tuple[np.ndarray, np.ndarray]:
    """Enumerates the network: E[labels] (16,) and E[labels labels^T] (16, 16)."""
    grids = np.meshgrid(*[np.arange(_CARD[n]) for n in _NODES], indexing="ij")
    config = np.stack([g.ravel() for g in grids], axis=-1)  # (num_configs, num_nodes)
    prob = np.ones(len(config))
    for j, (_, parents, table) in enumerate(_NETWORK):
        index = tuple(config[:, _NODES.index(p)] for p in parents) + (config[:, j],)
        prob *= table[index]
    assert abs(prob.sum() - 1.0) < 1e-9, prob.sum()
    latents = {n: tf.constant(config[:, j], tf.int32) for j, n in enumerate(_NODES)}
    labels = labels_from_latents(latents).numpy().astype(np.float64)
    return prob @ labels, labels.T @ (labels * prob[:, None])


def exact_marginals(attributes=None) -> np.ndarray:
    """Exact label prevalences P(label = 1) under the generator.

    Args:
        attributes: Optional subset / order of `ATTRIBUTES`.

    Returns:
        float64 (L,).
    """
    idx = [_A[a] for a in validate_attributes(attributes)]
    return _exact_moments()[0][idx].copy()


def exact_correlation_matrix(attributes=None) -> np.ndarray:
    """Exact Pearson correlation of the (clean) labels, by enumerating the network.

    Args:
        attributes: Optional subset / order of `ATTRIBUTES`.

    Returns:
        float64 (L, L), symmetric with unit diagonal.
    """
    idx = [_A[a] for a in validate_attributes(attributes)]
    mean, second = _exact_moments()
    cov = second - np.outer(mean, mean)
    std = np.sqrt(np.diag(cov))
    corr = cov / np.outer(std, std)
    np.fill_diagonal(corr, 1.0)
    return corr[np.ix_(idx, idx)]


# ----------------------------------------------------------------------------- sampling


def _stream_seed(seed, chunk, stream: int) -> tf.Tensor:
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(chunk, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, stream)


def _sample_latents(u: tf.Tensor) -> dict[str, tf.Tensor]:
    """Ancestral sampling of the network by inverse CDF.

    Args:
        u: float32 (B, num_nodes) uniforms, one column per node.

    Returns:
        Node name -> int32 (B,).
    """
    latents: dict[str, tf.Tensor] = {}
    for j, (name, parents, table) in enumerate(_NETWORK):
        card = table.shape[-1]
        thresholds = np.cumsum(table.reshape(-1, card), axis=-1)[:, :-1].astype(np.float32)
        row = tf.zeros_like(u[:, 0], tf.int32)
        for p in parents:  # row-major index into the flattened parent axes
            row = row * _CARD[p] + latents[p]
        thr = tf.gather(tf.constant(thresholds), row)  # (B, card - 1)
        latents[name] = tf.reduce_sum(tf.cast(u[:, j:j + 1] >= thr, tf.int32), axis=-1)
    return latents


def chunk_params(seed, chunk) -> dict:
    """All random choices of one chunk of `CHUNK_SIZE` examples.

    Returns:
        {"latents": name -> int32 (B,), "strength": float32 (B, 16) in [0.5, 1],
        "nuisance": float32 (B, N) in [0, 1), "pixel_seed": int64 (2,)}.
    """
    def uniform(stream, width):
        return tf.random.stateless_uniform((CHUNK_SIZE, width), _stream_seed(seed, chunk, stream))

    return {
        "latents": _sample_latents(uniform(_STREAM_LATENT, len(_NODES))),
        "strength": 0.5 + 0.5 * uniform(_STREAM_STRENGTH, len(ATTRIBUTES)),
        "nuisance": uniform(_STREAM_NUISANCE, _NUM_NUISANCE),
        "pixel_seed": _stream_seed(seed, chunk, _STREAM_PIXELS),
    }


def set_attribute(params: dict, name: str, value: int) -> dict:
    """Returns params whose latents give label `name` = `value` (for what-if renders)."""
    lat = dict(params["latents"])

    def const(v):
        return tf.fill(tf.shape(lat["male"]), tf.constant(v, tf.int32))

    direct = {"Male": "male", "Young": "young", "Smiling": "smiling",
              "Mouth_Slightly_Open": "mouth_open", "Eyeglasses": "eyeglasses",
              "Wearing_Hat": "hat", "Mustache": "mustache", "Wearing_Lipstick": "lipstick",
              "Heavy_Makeup": "makeup", "Narrow_Eyes": "narrow_eyes", "Chubby": "chubby"}
    hair_state = {"Bald": "bald", "Black_Hair": "black", "Blond_Hair": "blond",
                  "Gray_Hair": "gray"}
    brown = HAIR_STATES.index("brown")  # the unlabelled colour: "off" for every hair label
    if name in direct:
        lat[direct[name]] = const(value)
    elif name in hair_state:
        lat["hat"] = const(0)
        lat["hair"] = const(HAIR_STATES.index(hair_state[name]) if value else brown)
    elif name == "Bangs":
        lat["hat"], lat["bangs"] = const(0), const(value)
        lat["hair"] = tf.where(lat["hair"] == HAIR_STATES.index("bald"), brown, lat["hair"])
    else:
        validate_attributes([name])
    return {**params, "latents": lat}


# ----------------------------------------------------------------------------- drawing
# Shapes are signed distances d (normalised units, < 0 inside) on a pixel-centre grid
# x (1, 1, S), y (1, R, 1); per-example parameters are (B, 1, 1). Separable terms are
# computed at (B, 1, S) / (B, R, 1) before broadcasting to (B, R, S) to save work.
# Each layer is only evaluated and composited on the rows its shape can reach (its
# "extent"): the image is kept as horizontal blocks of rows, which roughly halves the work.

# Ranges of the face-frame parameters (cy, sc, ry) set in `render`; extents are
# y = cy + a * sc + b * ry, bounded over these ranges.
_FRAME_RANGES = ((0.5, 0.56), (0.92, 1.06), (0.33 * 0.92 * 0.95, 0.33 * 1.06 * 1.05))
_NUM_BLOCKS = 16


def _block_bounds(size: int) -> list[int]:
    count = min(_NUM_BLOCKS, size // 2)
    return [round(k * size / count) for k in range(count + 1)]


def _extent_blocks(extent, bounds: list[int]) -> tuple[int, int]:
    """Blocks [b0, b1) covering y in extent ((a_top, b_top), (a_bottom, b_bottom)) + 2 px."""
    (at, bt), (ab, bb) = extent
    corners = [(cy, sc, ry) for cy in _FRAME_RANGES[0] for sc in _FRAME_RANGES[1]
               for ry in _FRAME_RANGES[2]]
    size = bounds[-1]
    top = min(cy + at * sc + bt * ry for cy, sc, ry in corners) * size - 2.0
    bottom = max(cy + ab * sc + bb * ry for cy, sc, ry in corners) * size + 2.0
    b0 = max(b for b in range(len(bounds) - 1) if bounds[b] <= max(top, 0.0))
    b1 = min(b for b in range(1, len(bounds)) if bounds[b] >= min(bottom, size))
    return b0, b1


def _cover(d, size):
    """Anti-aliased coverage: a linear ramp one pixel wide across the boundary."""
    return tf.clip_by_value(0.5 - d * size, 0.0, 1.0)


def _ellipse(x, y, cx, cy, rx, ry):
    u, v = (x - cx) / rx, (y - cy) / ry
    return (tf.sqrt(u * u + v * v) - 1.0) * tf.minimum(rx, ry)


def _ellipse_cover(x, y, cx, cy, rx, ry, size):
    """`_cover(_ellipse(...))` with the scalar factors folded (fewer full-size ops)."""
    u, v = (x - cx) / rx, (y - cy) / ry
    k = tf.minimum(rx, ry) * size
    return tf.clip_by_value((0.5 + k) - tf.sqrt(u * u + v * v) * k, 0.0, 1.0)


def _box(x, y, cx, cy, hx, hy, r):
    """Box of half sizes (hx, hy) with corner radius r."""
    qx, qy = tf.abs(x - cx) - hx + r, tf.abs(y - cy) - hy + r
    outside = tf.sqrt(tf.square(tf.maximum(qx, 0.0)) + tf.square(tf.maximum(qy, 0.0)))
    return outside + tf.minimum(tf.maximum(qx, qy), 0.0) - r


def _arc(x, y, x0, y0, half_width, bend, thickness):
    """Band of half thickness around y = y0 + bend * ((x - x0) / half_width)^2."""
    u = (x - x0) / half_width
    return tf.maximum(tf.abs(y - (y0 + bend * u * u)) - thickness, tf.abs(x - x0) - half_width)


def _mix(a, b, t):
    return a + (b - a) * t


def _rgb(*c):
    return tf.constant(c, tf.float32)


_HAIR_RGB = _rgb([0.0, 0.0, 0.0], [0.09, 0.07, 0.06], [0.93, 0.79, 0.42], [0.74, 0.74, 0.76],
                 [0.37, 0.21, 0.09])  # indexed by hair state; bald is never drawn
_HAIR_STRENGTH_COLUMN = tf.constant(
    [_A["Bald"], _A["Black_Hair"], _A["Blond_Hair"], _A["Gray_Hair"], _A["Bald"]], tf.int32)
_SHADOW_RGB = _rgb([0.55, 0.22, 0.72], [0.2, 0.45, 0.9], [0.15, 0.65, 0.55])


def render(params: dict, image_size: int, banded: bool = True) -> tf.Tensor:
    """Renders faces from explicit parameters (see `chunk_params`).

    Args:
        params: Latents, strengths, nuisance values and the pixel-noise seed of B faces.
        image_size: Output side S.
        banded: Evaluate each layer only on the rows it can reach (False: on all rows,
            same result, slower; for testing the extents).

    Returns:
        float32 (B, S, S, 3) images in [0, 1].
    """
    size = image_size
    lat = {k: tf.cast(v, tf.float32)[:, None, None] for k, v in params["latents"].items()}
    hair_state = params["latents"]["hair"]
    st = {a: params["strength"][:, i, None, None] for a, i in _A.items()}
    nz = params["nuisance"]

    def n(name):  # nuisance value(s) per example: (B, 1, 1), or (B, 3) for colours
        v = nz[:, _NUISANCE_SLICES[name]]
        return v if v.shape[-1] == 3 else v[:, :, None]

    batch = tf.shape(nz)[0]
    grid = (tf.range(size, dtype=tf.float32) + 0.5) / size
    x = tf.reshape(grid, (1, 1, size))

    # Face frame: every feature is placed relative to (cx, cy) in units of sc
    # (ranges in _FRAME_RANGES).
    sc = 0.92 + 0.14 * n("scale")
    cx, cy = 0.46 + 0.08 * n("cx"), 0.5 + 0.06 * n("cy")
    rx0 = 0.26 * sc * (0.95 + 0.1 * n("width"))
    ry = 0.33 * sc * (0.95 + 0.1 * n("height"))
    rx = rx0 * (1.0 + 0.2 * st["Chubby"] * lat["chubby"])
    ax = tf.abs(x - cx)  # mirrored x: symmetric pairs (eyes, cheeks...) in one shape
    old = 1.0 - lat["young"]
    ex, ey = 0.105 * sc, cy - 0.03 * sc  # eye centres at cx -/+ ex

    skin = _mix(_rgb(0.98, 0.84, 0.72), _rgb(0.6, 0.42, 0.3), n("skin")[:, :, 0])
    skin = _mix(skin, _rgb(0.9, 0.87, 0.85), (0.2 * st["Young"] * old)[:, :, 0])  # paler
    # A weak hair colour is mixed towards the unlabelled brown.
    strength_column = tf.gather(_HAIR_STRENGTH_COLUMN, hair_state)[:, None]
    hair_strength = tf.gather(params["strength"], strength_column, batch_dims=1)  # (B, 1)
    hair_rgb = _mix(_HAIR_RGB[HAIR_STATES.index("brown")], tf.gather(_HAIR_RGB, hair_state),
                    0.5 + 0.5 * hair_strength)
    hair_rgb *= 0.9 + 0.2 * n("hair_tint")[:, :, 0]
    brow_rgb = _rgb(0.1, 0.07, 0.05) + 0.18 * n("brow_colour")[:, :, 0]
    bald = tf.cast(hair_state == HAIR_STATES.index("bald"), tf.float32)[:, None, None]
    hair_shown = (1.0 - lat["hat"]) * (1.0 - bald)
    layers = []  # (extent, coverage function of y (1, R, 1), colours (B, 3)), back to front

    def add(extent, coverage_fn, *colours):  # coverage_fn returns one coverage per colour
        layers.append((extent, coverage_fn, [tf.broadcast_to(c, (batch, 3)) for c in colours]))

    # Clothes, neck, hair behind the head.
    add(((0.05, 1), (1, 0)), lambda y: _ellipse_cover(
        x, y, cx, cy + ry + 0.3 * sc, 0.45 * sc, 0.25 * sc, size), n("cloth"))
    add(((-0.2, 1), (0.2, 1)), lambda y: _cover(
        _box(x, y, cx, cy + ry, 0.1 * sc, 0.2 * sc, 0.02 * sc), size), skin * 0.75)
    length = cy + sc * (0.25 * n("hair_length") - 0.05)
    add(((-0.05, -1), (0.2, 0)), lambda y: _ellipse_cover(
        x, y, cx, cy - 0.02 * sc, rx + sc * (0.025 + 0.04 * n("hair_volume")), ry + 0.03 * sc,
        size) * (_cover(y - length, size) * hair_shown), hair_rgb)

    # Face: ellipse, union the square jaw (Male) and the cheek bulges (Chubby), with a dark
    # outline so that its shape shows whatever the background. (+ 1: shape switched off.)
    def face(y):
        jaw = _box(x, y, cx, cy + 0.46 * ry, rx * (0.6 + 0.24 * st["Male"]), 0.46 * ry,
                   0.05 * sc) + (1.0 - lat["male"])
        cheeks = _ellipse(ax, y, 0.82 * rx, cy + 0.1 * sc, 0.1 * sc * st["Chubby"],
                          0.09 * sc * st["Chubby"]) + (1.0 - lat["chubby"])
        d = tf.minimum(tf.minimum(_ellipse(x, y, cx, cy, rx, ry), jaw), cheeks)
        return _cover(d - 0.014 * sc, size), _cover(d, size)

    add(((-0.02, -1), (0.02, 1)), face, skin * 0.5, skin)
    add(((0.015, 0), (0.105, 0)), lambda y: _ellipse_cover(
        x, y, cx, cy + 0.06 * sc, 0.025 * sc, 0.045 * sc, size) * 0.5, skin * 0.8)

    # Make-up: eyeshadow and soft-edged cheek blush.
    shadow_rgb = tf.gather(_SHADOW_RGB, tf.cast(n("shadow_colour")[:, 0, 0] * 2.999, tf.int32))
    shadow_alpha = lat["makeup"] * (0.55 + 0.4 * st["Heavy_Makeup"])
    add(((-0.09, 0), (-0.01, 0)), lambda y: _ellipse_cover(
        ax, y, ex, ey - 0.02 * sc, 0.065 * sc, 0.038 * sc, size) * shadow_alpha, shadow_rgb)
    add(((0.03, 0), (0.17, 0)), lambda y: tf.clip_by_value(
        0.5 - _ellipse(ax, y, 0.15 * sc, cy + 0.1 * sc, 0.055 * sc, 0.05 * sc) / (0.03 * sc),
        0.0, 1.0) * (lat["makeup"] * (0.45 + 0.45 * st["Heavy_Makeup"])), _rgb(0.95, 0.3, 0.45))

    # Age: forehead, under-eye and nasolabial lines (over make-up, so it cannot hide them).
    def wrinkles(y):
        t = (0.009 + 0.004 * st["Young"]) * sc
        lines = tf.minimum(_arc(x, y, cx, cy - 0.16 * sc, 0.13 * sc, 0.02 * sc, t),
                           _arc(x, y, cx, cy - 0.125 * sc, 0.11 * sc, 0.015 * sc, t))
        lines = tf.minimum(lines, _arc(ax, y, ex, ey + 0.055 * sc, 0.04 * sc, -0.012 * sc, t))
        v = (y - cy - 0.2 * sc) / (0.08 * sc)
        fold = tf.maximum(tf.abs(ax - 0.12 * sc - 0.04 * sc * v * v) - t,
                          tf.abs(y - cy - 0.14 * sc) - 0.06 * sc)
        return _cover(tf.minimum(lines, fold), size) * (old * (0.5 + 0.5 * st["Young"]))

    add(((-0.175, 0), (0.205, 0)), wrinkles, skin * 0.4)

    # Hair on the head; Bangs lower the hairline across the forehead with a wavy fringe.
    u = (x - cx) / rx
    hairline = cy - 0.19 * sc + 0.08 * sc * u * u
    fringe = cy - (0.14 - 0.035 * st["Bangs"]) * sc + 0.012 * sc * tf.sin((x - cx) * 70.0 / sc)
    fringe_span = tf.clip_by_value((0.85 - tf.abs(u)) * 8.0, 0.0, 1.0)
    hairline = tf.maximum(hairline, _mix(hairline, fringe, fringe_span * lat["bangs"]))
    add(((-0.015, -1), (-0.09, 0)), lambda y: _ellipse_cover(
        x, y, cx, cy, rx + 0.012 * sc, ry + 0.015 * sc, size) * _cover(y - hairline, size)
        * hair_shown, hair_rgb)

    # Eyes (outlined, so narrowing shows on any skin), eyebrows, eyeglasses.
    eye_h = 0.036 * sc * (0.9 + 0.2 * n("eye_size")) * (
        1.0 - (0.35 + 0.4 * st["Narrow_Eyes"]) * lat["narrow_eyes"])
    gaze = 0.012 * sc * (n("gaze") - 0.5)  # vertical, so the mirrored eyes stay parallel

    def eyes(y):
        d = _ellipse(ax, y, ex, ey, 0.055 * sc, eye_h)
        iris = _ellipse_cover(ax, y, ex, ey + gaze, 0.025 * sc, 0.025 * sc, size)
        white = _cover(d, size)
        return _cover(d - 0.008 * sc, size), white, white * iris

    add(((-0.08, 0), (0.02, 0)), eyes, _rgb(0.15, 0.1, 0.08), _rgb(0.96, 0.96, 0.95),
        _mix(_rgb(0.3, 0.18, 0.08), _rgb(0.15, 0.35, 0.6), n("iris")[:, :, 0]))
    brow_t = (0.005 + 0.016 * st["Male"] * lat["male"]) * sc
    add(((-0.13, 0), (-0.065, 0)), lambda y: _cover(
        _arc(ax, y, ex, ey - 0.075 * sc, 0.055 * sc, 0.015 * sc, brow_t), size), brow_rgb)
    gt = (0.005 + 0.006 * st["Eyeglasses"]) * sc

    def glasses(y):
        rings = tf.abs(_ellipse(ax, y, ex, ey, 0.07 * sc, 0.058 * sc)) - gt
        bridge = _box(x, y, cx, ey - 0.01 * sc, 0.04 * sc, gt, 0.0)
        return _cover(tf.minimum(rings, bridge), size) * lat["eyeglasses"]

    add(((-0.1, 0), (0.04, 0)), glasses, _rgb(0.08, 0.08, 0.1))

    # Mouth: lips around a curve whose corners go up when Smiling; an opening between them.
    my, mw = cy + 0.17 * sc, 0.085 * sc * (0.9 + 0.2 * n("mouth_width"))
    add(((0.09, 0), (0.16, 0)), lambda y: _cover(_arc(
        x, y, cx, my - 0.052 * sc, 0.08 * sc, 0.015 * sc, (0.011 + 0.009 * st["Mustache"]) * sc),
        size) * lat["mustache"], brow_rgb * 0.8)
    bend = _mix((0.012 - 0.016 * n("mouth_curve")) * sc, -(0.04 + 0.04 * st["Smiling"]) * sc,
                lat["smiling"])
    um = tf.clip_by_value((x - cx) / mw, -1.0, 1.0)
    mid, lens = my + bend * um * um, (1.0 - um * um) * lat["mouth_open"]
    opening = (0.03 + 0.025 * st["Mouth_Slightly_Open"]) * sc * lens
    top, bottom = mid - 0.4 * opening, mid + opening
    x_out = tf.abs(x - cx) - mw
    mouth_extent = ((0.04, 0), (0.265, 0))
    add(mouth_extent, lambda y: _cover(tf.maximum(tf.maximum(top - y, y - bottom), x_out), size)
        * lat["mouth_open"], _rgb(0.3, 0.05, 0.08))
    teeth_bottom = top + 0.45 * (bottom - top)
    add(mouth_extent, lambda y: _cover(tf.maximum(tf.maximum(top - y, y - teeth_bottom), x_out),
                                       size) * lat["mouth_open"], _rgb(0.95, 0.93, 0.88))
    lipstick = st["Wearing_Lipstick"] * lat["lipstick"]
    lip_w = (0.008 + 0.003 * n("lip_width") + 0.005 * lipstick) * sc
    add(mouth_extent, lambda y: _cover(tf.maximum(tf.minimum(
        tf.abs(y - top) - lip_w, tf.abs(y - bottom) - 1.3 * lip_w), x_out), size),
        _mix(skin * _rgb(0.6, 0.35, 0.35), _rgb(0.82, 0.05, 0.15),
             ((0.6 + 0.4 * lipstick) * lat["lipstick"])[:, :, 0]))

    # Hat: crown and brim over the top of the head.
    brim_y = cy - (0.21 - 0.05 * st["Wearing_Hat"]) * sc
    crown_top = cy - ry - 0.07 * sc

    def hat(y):
        crown = _box(x, y, cx, 0.5 * (crown_top + brim_y), rx * 0.98,
                     0.5 * (brim_y - crown_top), 0.05 * sc)
        brim = _box(x, y, cx, brim_y, rx * 1.3, 0.02 * sc, 0.01 * sc)
        return _cover(tf.minimum(crown, brim), size) * lat["hat"]

    add(((-0.07, -1), (-0.14, 0)), hat, 0.15 + 0.75 * n("hat_colour"))
    return _composite(layers, params, n, size, banded)


def _composite(layers, params, n, size: int, banded: bool) -> tf.Tensor:
    """Background, "over" compositing of the layers by row blocks, lighting and noise."""
    batch = tf.shape(params["nuisance"])[0]
    bounds = _block_bounds(size)
    grid = (tf.range(size, dtype=tf.float32) + 0.5) / size
    x, y = tf.reshape(grid, (1, 1, size)), tf.reshape(grid, (1, size, 1))
    angle = 2.0 * math.pi * n("bg_angle")
    ramp = tf.clip_by_value(0.5 + (x - 0.5) * tf.cos(angle) + (y - 0.5) * tf.sin(angle), 0, 1)
    bg1, bg2 = 0.1 + 0.85 * n("bg1"), 0.1 + 0.85 * n("bg2")
    sizes = [b1 - b0 for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True)]
    # Channels lead, (3, B, rows, S): broadcasting a coverage over the leading axis is cheap,
    # over a trailing channel axis several times slower in TF on CPU.
    rgb = tf.transpose(bg1)[:, :, None, None] + ramp * tf.transpose(bg2 - bg1)[:, :, None, None]
    planes = tf.split(rgb, sizes, axis=2)
    for extent, coverage_fn, colours in layers:
        b0, b1 = _extent_blocks(extent, bounds) if banded else (0, len(sizes))
        rows = tf.reshape(grid[bounds[b0]:bounds[b1]], (1, -1, 1))
        covers = coverage_fn(rows)
        for cover, colour in zip(covers if isinstance(covers, tuple) else (covers,), colours,
                                 strict=True):
            cover = tf.broadcast_to(cover, (batch, bounds[b1] - bounds[b0], size))
            parts = tf.split(cover, sizes[b0:b1], axis=1) if b1 - b0 > 1 else [cover]
            colour = tf.transpose(colour)[:, :, None, None]  # (3, B, 1, 1)
            for b, part in enumerate(parts, start=b0):
                planes[b] += part * (colour - planes[b])

    # Global lighting (directional shading, contrast, brightness) and pixel noise.
    angle = 2.0 * math.pi * n("light_angle")
    shade = 1.0 + 0.5 * n("light") * ((x - 0.5) * tf.cos(angle) + (y - 0.5) * tf.sin(angle))
    contrast = 0.8 + 0.35 * n("contrast")
    gain, offset = shade * contrast, 0.5 - 0.5 * contrast + 0.16 * n("brightness") - 0.08
    # Grey (luminance) noise: a third of the random numbers of colour noise.
    noise = tf.random.stateless_uniform((batch, size, size), params["pixel_seed"], -1.0, 1.0)
    image = tf.concat(planes, axis=2) * gain + (offset + (0.005 + 0.03 * n("noise")) * noise)
    return tf.clip_by_value(tf.transpose(image, (1, 2, 3, 0)), 0.0, 1.0)


# ----------------------------------------------------------------------------- datasets


def _chunk_examples(seed, chunk, label_noise, image_size: int | None) -> dict[str, tf.Tensor]:
    """The `CHUNK_SIZE` examples of one chunk, all 16 label columns (images unless None)."""
    params = chunk_params(seed, chunk)
    clean = labels_from_latents(params["latents"])
    flips = tf.random.stateless_uniform((CHUNK_SIZE, len(ATTRIBUTES)),
                                        _stream_seed(seed, chunk, _STREAM_FLIPS))
    out = {"labels": tf.abs(clean - tf.cast(flips < label_noise, tf.float32)),  # XOR
           "clean_labels": clean,
           "id": chunk * CHUNK_SIZE + tf.range(CHUNK_SIZE, dtype=tf.int64)}
    if image_size is not None:
        out["image"] = render(params, image_size)
    return out


_SCALARS = [tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.float32)]


@functools.cache
def _chunk_graph(image_size: int) -> tf.types.experimental.Function:
    """Graph function (seed, chunk, label_noise) -> `_chunk_examples`.

    Traced once per image size (seed and noise level are inputs), so making datasets is cheap.
    """
    return tf.function(lambda seed, chunk, noise: _chunk_examples(seed, chunk, noise, image_size),
                       input_signature=_SCALARS)


@functools.cache
def _labels_graph() -> tf.types.experimental.Function:
    """Graph function (seed, chunks (n,), label_noise) -> labels of n whole chunks, no images."""
    def fn(seed, chunks, label_noise):
        out = tf.map_fn(lambda c: _chunk_examples(seed, c, label_noise, None), chunks,
                        fn_output_signature={"labels": tf.float32, "clean_labels": tf.float32,
                                             "id": tf.int64})
        return {k: tf.reshape(v, (-1, *v.shape[2:])) for k, v in out.items()}

    return tf.function(fn, input_signature=[_SCALARS[0], tf.TensorSpec((None,), tf.int64),
                                            _SCALARS[2]])


def _chunk_fn(image_size: int, seed: int, label_noise: float, attributes):
    """chunk index -> dict of the chunk's examples, with the selected label columns."""
    graph = _chunk_graph(image_size)
    columns = tf.constant([_A[a] for a in attributes], tf.int32)

    def fn(chunk):
        out = graph(tf.constant(seed, tf.int64), chunk, tf.constant(label_noise, tf.float32))
        for key in ("labels", "clean_labels"):
            out[key] = tf.gather(out[key], columns, axis=1)
        return out

    return fn


def _chunked(start: int, stop: int, fn) -> tf.data.Dataset:
    """Maps `fn` over the chunks covering [start, stop), unbatches and trims to the range."""
    first, last = start // CHUNK_SIZE, max(start, stop - 1) // CHUNK_SIZE
    ds = tf.data.Dataset.range(first, last + 1)
    ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    return ds.skip(start - first * CHUNK_SIZE).take(stop - start)


def make_dataset(start: int, stop: int, *, image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0,
                 label_noise: float = 0.0, attributes=None) -> tf.data.Dataset:
    """Streams examples start..stop-1 in index order.

    Args:
        start: First index (>= 0).
        stop: One past the last index (>= start).
        image_size: Side S of the square images, in [16, 178].
        seed: Dataset seed; example i depends only on (seed, i) (and S for pixel noise).
        label_noise: Probability in [0, 1) that each label is flipped (independently).
        attributes: Optional subset / order of `ATTRIBUTES` for the label columns.

    Returns:
        Unbatched elements {"image": float32 (S, S, 3) in [0, 1], "labels": float32 (L,),
        "clean_labels": float32 (L,), "id": int64 ()}.
    """
    _validate_args(start, stop, image_size, label_noise)
    attributes = validate_attributes(attributes)
    return _chunked(start, stop, _chunk_fn(int(image_size), int(seed), float(label_noise),
                                           attributes))


def generate(start: int, stop: int, *, image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0,
             label_noise: float = 0.0, attributes=None) -> dict[str, np.ndarray]:
    """Same content as `make_dataset`, as numpy arrays (same graph function, no tf.data).

    Returns:
        {"image": float32 (N, S, S, 3), "labels": float32 (N, L),
        "clean_labels": float32 (N, L), "id": int64 (N,)} with N = stop - start.
    """
    _validate_args(start, stop, image_size, label_noise)
    fn = _chunk_fn(int(image_size), int(seed), float(label_noise),
                   validate_attributes(attributes))
    return _run_chunks(start, stop, fn)


def sample_labels(start: int, stop: int, *, seed: int = 0, label_noise: float = 0.0,
                  attributes=None, clean: bool = True) -> np.ndarray:
    """Labels only (no rendering), identical to those of `generate`; fast.

    Args:
        start, stop, seed, label_noise, attributes: As for `make_dataset`.
        clean: Return the clean labels (default) rather than the noisy ones.

    Returns:
        float32 (N, L).
    """
    _validate_args(start, stop, DEFAULT_IMAGE_SIZE, label_noise)
    columns = [_A[a] for a in validate_attributes(attributes)]
    first, last = start // CHUNK_SIZE, max(start, stop - 1) // CHUNK_SIZE
    out = _labels_graph()(tf.constant(seed, tf.int64), tf.range(first, last + 1, dtype=tf.int64),
                          tf.constant(label_noise, tf.float32))
    labels = out["clean_labels" if clean else "labels"].numpy()
    lo = start - first * CHUNK_SIZE
    return labels[lo:lo + stop - start][:, columns]


def _run_chunks(start: int, stop: int, fn) -> dict[str, np.ndarray]:
    """Calls `fn` on the chunks covering [start, stop) and slices out the range."""
    first, last = start // CHUNK_SIZE, max(start, stop - 1) // CHUNK_SIZE
    parts = [fn(tf.constant(c, tf.int64)) for c in range(first, last + 1)]
    lo = start - first * CHUNK_SIZE
    return {k: np.concatenate([p[k].numpy() for p in parts])[lo:lo + stop - start]
            for k in parts[0]}
