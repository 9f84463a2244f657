"""Device choice and mixed precision in `select_device`."""

from __future__ import annotations

import logging

import pytest

from whalecat.matching import device
from whalecat.matching.device import DeviceError, keras, select_device, tensorflow
from whalecat.matching.embedding import build_embedding_model
from whalecat.matching.seed_cnn import build_seed_model

# The GPU is mocked because the test machines have none, so no real GPU setup runs here.


@pytest.fixture(autouse=True)
def fresh_selection(monkeypatch):
    """Forget any earlier device choice, and restore the float32 policy after each test."""
    monkeypatch.setattr(device, "_selected", None)
    yield
    keras().mixed_precision.set_global_policy("float32")


class FakeDevices:
    """Replaces TensorFlow's device calls and records the calls select_device makes."""

    def __init__(self, monkeypatch, gpu_count: int):
        tf = tensorflow()
        self.gpus = [
            tf.config.PhysicalDevice(name=f"/physical_device:GPU:{index}", device_type="GPU")
            for index in range(gpu_count)
        ]
        self.visible_calls: list[tuple] = []
        self.memory_growth_calls: list[tuple] = []
        monkeypatch.setattr(tf.config, "list_physical_devices", self.list_physical_devices)
        monkeypatch.setattr(tf.config, "set_visible_devices", self.set_visible_devices)
        monkeypatch.setattr(tf.config.experimental, "set_memory_growth", self.set_memory_growth)

    def list_physical_devices(self, device_type=None):
        return list(self.gpus) if device_type == "GPU" else []

    def set_visible_devices(self, devices, device_type=None):
        self.visible_calls.append((devices, device_type))

    def set_memory_growth(self, gpu, enable):
        self.memory_growth_calls.append((gpu, enable))


def _policy_name() -> str:
    return keras().mixed_precision.global_policy().name


@pytest.mark.parametrize("choice", ["auto", "gpu"])
def test_gpu_turns_on_mixed_precision(monkeypatch, choice):
    devices = FakeDevices(monkeypatch, gpu_count=1)

    description = select_device(choice)

    assert description.startswith("GPU")
    assert "/physical_device:GPU:0" in description
    assert "mixed precision" in description
    assert _policy_name() == "mixed_float16"
    assert devices.memory_growth_calls == [(devices.gpus[0], True)]
    assert devices.visible_calls == []


def test_cpu_hides_gpu(monkeypatch):
    devices = FakeDevices(monkeypatch, gpu_count=1)

    description = select_device("cpu")

    assert description.startswith("CPU")
    assert "mixed precision" not in description
    assert _policy_name() == "float32"
    assert devices.visible_calls == [([], "GPU")]
    assert devices.memory_growth_calls == []


def test_auto_without_gpu_uses_cpu(monkeypatch):
    devices = FakeDevices(monkeypatch, gpu_count=0)

    description = select_device("auto")

    assert description.startswith("CPU")
    assert _policy_name() == "float32"
    assert devices.visible_calls == []


def test_gpu_request_without_gpu(monkeypatch):
    FakeDevices(monkeypatch, gpu_count=0)

    with pytest.raises(DeviceError) as raised:
        select_device("gpu")

    assert "finds no GPU" in str(raised.value)
    assert "pip install whalecat[gpu]" in str(raised.value)
    assert device._selected is None
    assert _policy_name() == "float32"


def test_invalid_choice(monkeypatch):
    FakeDevices(monkeypatch, gpu_count=1)

    with pytest.raises(ValueError) as raised:
        select_device("tpu")

    assert "'tpu'" in str(raised.value)
    assert device._selected is None


def test_first_choice_stays(monkeypatch):
    devices = FakeDevices(monkeypatch, gpu_count=1)

    first = select_device("gpu")
    second = select_device("cpu")

    assert second == first
    assert devices.visible_calls == []
    assert _policy_name() == "mixed_float16"


def test_models_keep_float32_output_under_mixed_precision(monkeypatch):
    FakeDevices(monkeypatch, gpu_count=1)
    select_device("gpu")

    embedding = build_embedding_model(width=8, embedding_size=16)
    seed = build_seed_model(3)

    # float16 inside shows the policy reached the layers; the output stays float32 so
    # similarities and softmax probabilities keep full precision.
    assert embedding.get_layer("standardize").compute_dtype == "float16"
    assert embedding.outputs[0].dtype == "float32"
    assert seed.layers[0].compute_dtype == "float16"
    assert seed.outputs[0].dtype == "float32"


def test_retracing_warning_is_dropped(caplog):
    tf = tensorflow()
    double = tf.function(lambda values: values * 2)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for size in range(1, 9):
            double(tf.zeros((size,)))
    # Eight traces of one function make TensorFlow warn; the filter on its logger drops that.
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
