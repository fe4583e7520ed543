"""cluster.yaml is a valid Ray cluster-launcher config (checked offline, no cloud calls)."""

import copy
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML comes with ray, like the cluster launcher that reads the file

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_validates():
    util = pytest.importorskip("ray.autoscaler._private.util")
    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text(encoding="utf-8"))
    full = util.prepare_config(copy.deepcopy(cfg))
    util.validate_config(full)
    assert full["head_node_type"] == "head"
    assert full["available_node_types"]["gpu_h200"]["resources"]["GPU"] == 8


def test_cluster_yaml_rejects_unknown_keys():
    util = pytest.importorskip("ray.autoscaler._private.util")
    import jsonschema

    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text(encoding="utf-8"))
    cfg["not_a_key"] = 1
    with pytest.raises(jsonschema.ValidationError):
        util.validate_config(util.prepare_config(cfg))
