import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def assert_config_roundtrip(obj):
    """get_config -> from_config -> get_config through JSON gives the same config."""
    config = obj.get_config()
    rebuilt = type(obj).from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    return rebuilt
