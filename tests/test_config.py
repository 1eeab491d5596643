import json

import pytest

from kerasolr import config as cfg


@pytest.mark.parametrize("name", sorted(cfg.PRESETS))
def test_presets_are_valid_and_roundtrip_through_json(name):
    config = cfg.preset(name).validate()
    assert config.preset == name
    assert cfg.RunConfig.from_dict(json.loads(config.to_json())) == config


def test_paper_preset_is_the_paper_recipe():
    p = cfg.paper()
    assert (p.siamese.occlusion, p.siamese.occlusion_rate) == ("rectangle", 1.0)
    assert (p.siamese.occlusion_min, p.siamese.occlusion_max) == (0.33, 0.66)
    assert p.siamese.temperature == 1.0 and p.classifier.occlusion_rate == 0.0
    assert p.siamese.k == 32                          # section 4: 32 numbers per label


def test_override_parses_values():
    c = cfg.override(cfg.paper(), ["siamese.k=32", "classifier.filters=[8,16]", "seed=3",
                                  "data.dataset=synthfaces"])
    assert c.siamese.k == 32 and c.classifier.filters == (8, 16) and c.seed == 3


@pytest.mark.parametrize("assignment, message", [
    ("siamese.k=0", "siamese.k=0"),
    ("siamese.occlusion_min=0", "occlusion_min"),
    ("siamese.occlusion_max=1.2", "1.2"),
    ("siamese.occlusion_rate=2", "occlusion_rate=2"),
    ("siamese.temperature=0", "temperature=0"),
    ("data.dataset=imagenet", "'imagenet'"),
    ("data.image_size=8", "image_size=8"),
    ("data.label_noise=1", "label_noise=1"),
    ("data.label_noise=0.5", "flipped labels are the majority"),
    ("seed=-1", "seed=-1 is invalid"),
    ("data.seed=4294967296", "data.seed=4294967296"),
    ("data.attributes=[]", "a non-empty list of distinct names"),
    ('data.attributes=["Male","Male"]', "distinct names"),
    ("siamese.occlusion=circle", "'circle'"),
    ("siamese.colour=3", "siamese.colour"),
    ("nonsense", "nonsense"),
    ("siamese.filters=[8,8,8,8,8,8,8]", "siamese.filters"),  # 7 halvings of 64 px
])
def test_impossible_configs_name_the_bad_value(assignment, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        cfg.override(cfg.demo(), [assignment])


def test_unknown_preset():
    with pytest.raises(ValueError, match="'fast'"):
        cfg.preset("fast")


def test_encoder_warm_start_needs_matching_filters():
    with pytest.raises(ValueError, match="init_from_classifier"):
        cfg.override(cfg.demo(), ["siamese.filters=[8,16]"])
    assert cfg.override(cfg.paper(), ["siamese.filters=[8,16]"]).siamese.filters == (8, 16)


def test_a_config_from_before_the_analysis_section_loads_with_its_default():
    d = cfg.demo().to_dict()
    del d["analysis"]
    config = cfg.RunConfig.from_dict(d)
    assert config.analysis.pca_strip_label == "Mouth_Slightly_Open"   # the paper's Fig. 5
    assert cfg.override(config, ["analysis.pca_strip_label=Smiling"]).analysis.pca_strip_label \
        == "Smiling"
