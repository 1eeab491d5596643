"""The base of kerasolr's training models: `keras.Model` made to fit under
`MultiWorkerMirroredStrategy`.

Keras 3.15's TensorFlow trainer does not run `fit` under a multi-worker
strategy (keras-team/keras#20585, tensorflow/tensorflow#72388), for two
reasons this class works around, and nothing else:

1. Before the first epoch, `fit` builds the model from one batch, which it
   turns into a tensor with `strategy.reduce("MEAN", batch, axis=None)`; under
   `MultiWorkerMirroredStrategy` that reduce fails on a `PerReplica` batch.
   Building needs only the batch's structure and shapes, so here it uses zeros
   shaped by the dataset's element spec (under every strategy: drawing the
   batch also started an extra pass of the dataset, shifting the shuffle order
   of every epoch relative to a single-device run).
2. After each step, `fit` reduces the step's outputs with
   `strategy.reduce("MEAN", value, axis=0)` under a multi-worker strategy,
   which fails on the scalar metric results every `train_step` returns. Here
   the results are returned with shape `(1,)` in that case only, so the
   reduction averages the replicas' values into the scalar Keras logs.

Metric values are per-replica means averaged over replicas (every replica
holds an equal share of the global batch); the gradients, and so the
weights, are exact all-reduces.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _multi_worker(strategy) -> bool:
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())  # noqa: SLF001 (no public TF check)


class Trainer(keras.Model):
    """`keras.Model` whose custom `train_step`/`test_step` return `self.results()`.

    Every optimizer step through `minimize` also counts, in the graph, the
    steps whose loss was not finite (`nonfinite_steps`, over the whole fit):
    `kerasolr.resume.StopOnNaN` reads it once per epoch, so no step waits for
    the host to read its loss.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Not in `metrics` (each subclass lists its own): never reset, never logged.
        self.nonfinite_steps = keras.metrics.Sum(name="nonfinite_steps")

    def results(self, names=None) -> dict:
        """The metrics' current values (shape `(1,)` under a multi-worker strategy).

        Args:
            names: The metrics to report (default: all of `self.metrics`).
        """
        values = {m.name: m.result() for m in self.metrics if names is None or m.name in names}
        if _multi_worker(self.distribute_strategy):
            values = {name: tf.reshape(value, [1]) for name, value in values.items()}
        return values

    def minimize(self, compute_losses, variables):
        """One optimizer step on the first value `compute_losses()` returns.

        The loss is a mean over this replica's share of the global batch, so
        it is divided by the number of replicas (Keras sums the gradients over
        replicas) and scaled for dynamic loss scaling (`mixed_float16` only).

        Args:
            compute_losses: No-argument function returning `(loss, *rest)`,
                called under the gradient tape.
            variables: The variables to update.

        Returns:
            What `compute_losses` returned.
        """
        with tf.GradientTape() as tape:
            outputs = compute_losses()
            scaled = outputs[0] / self.distribute_strategy.num_replicas_in_sync
            scaled = self.optimizer.scale_loss(scaled)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        self.nonfinite_steps.update_state(
            tf.cast(tf.logical_not(tf.math.is_finite(outputs[0])), "float32"))
        return outputs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        # Zeros shaped like one batch, from the dataset's element spec: drawing a
        # real batch (as Keras does) would start an iteration of the dataset and
        # so shift every later epoch's shuffle order relative to one device.
        spec = iterator.data_adapter.get_tf_dataset().element_spec

        def zeros(s):
            # A distributed dataset's spec is per replica: take the first replica's.
            s = tf.nest.flatten(s, expand_composites=True)[0]
            return tf.zeros([1 if d is None else d for d in s.shape], s.dtype)

        data_batch = tf.nest.map_structure(zeros, spec)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)
