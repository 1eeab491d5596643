"""Every consumer of randomness in a run, and the seed it draws from, in one place.

All seeds derive from the run's `config.seed` (the judge has its own,
`config.edit.judge_seed`, so its errors are not the run classifier's). The
offsets keep the streams apart; changing one changes that consumer's figures.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Seeds:
    """The named seeds of a run whose `config.seed` is `run`.

    Attributes:
        run: The run seed: data shuffles, the linear probe, the occlusion of
            the evaluation's occluded images, and the label samples of edits.
    """

    run: int

    @property
    def classifier_occlusion(self) -> int:
        """Occlusion rectangles while the classifier trains."""
        return self.run + 1

    @property
    def siamese_occlusion(self) -> int:
        """Occlusion rectangles of the Siamese pairs."""
        return self.run + 2

    @property
    def decoders(self) -> int:
        """Global seed before the decoders are built and trained."""
        return self.run + 3

    @property
    def beta_vae(self) -> int:
        """Global seed of the beta-VAE baseline (`kerasolr compare`)."""
        return self.run + 4

    @property
    def pse(self) -> int:
        """Global seed of the PSE baseline (`kerasolr compare`)."""
        return self.run + 5

    @property
    def probe(self) -> int:
        """Initial weights and shuffling of the linear probe."""
        return self.run

    @property
    def edits(self) -> int:
        """Label samples of the edit metrics and the edit figures."""
        return self.run

    @property
    def generation(self) -> int:
        """Label samples of the generation metrics (and PSE's prior noise in `compare`)."""
        return self.run + 1

    @property
    def generation_figure(self) -> int:
        """Label samples of the generation figure."""
        return self.run + 2

    @property
    def diversity(self) -> int:
        """Label samples of the generation-diversity figure (sample `j`: `+ j`)."""
        return self.run + 6

    @property
    def protocol(self) -> int:
        """Label samples of the edit protocol (the same at every intensity; a
        sample of label `j` also mixes in `j`)."""
        return self.run + 8
