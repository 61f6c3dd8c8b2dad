import random

import numpy as np
import pytest
import torch

from lecture_utils import course, runtime


def test_mode_defaults_to_fast_on_cpu(monkeypatch):
    monkeypatch.delenv("LECTURE_MODE", raising=False)
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    assert runtime.mode() == "fast"
    assert runtime.pick(1, 2) == 1


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch sees one CUDA GPU (no GPU is touched: device() only asks whether one is available)."""
    monkeypatch.delenv("LECTURE_DEVICE", raising=False)
    monkeypatch.delenv("LECTURE_MODE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")


def test_mode_defaults_to_fast_on_cuda_until_full_mode_is_validated_there(fake_cuda, monkeypatch):
    assert runtime.device() == torch.device("cuda")
    assert runtime.FULL_MODE_VALIDATED_ON_CUDA is False
    assert runtime.mode() == "fast" and runtime.pick(1, 2) == 1
    monkeypatch.setattr(runtime, "FULL_MODE_VALIDATED_ON_CUDA", True)  # once a GPU run has validated full mode
    assert runtime.mode() == "full"
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    assert runtime.mode() == "fast"


def test_describe_on_a_gpu_says_how_to_opt_in_to_full_mode(fake_cuda, monkeypatch, tmp_data):
    lines = course.description().splitlines()
    assert lines[0] == "mode      fast  (the default on a GPU until full mode has been validated there)"
    assert lines[1] == ("          for full mode: a first cell %env LECTURE_MODE=full (before the imports), "
                        "then run all")
    assert lines[2].startswith("device    cuda (NVIDIA H200)")
    monkeypatch.setenv("LECTURE_MODE", "full")  # what the %env cell does
    assert course.description().splitlines()[0] == "mode      full  (set LECTURE_MODE=fast|full to change)"
    monkeypatch.setenv("LECTURE_MODE", "fast")  # chosen, not the default: no hint
    assert "%env" not in course.description()


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("LECTURE_MODE", "FULL")
    assert runtime.mode() == "full"
    assert not runtime.is_fast()
    assert runtime.pick("small", "large") == "large"


@pytest.mark.parametrize(
    ("variable", "value", "fn"),
    [
        ("LECTURE_MODE", "medium", runtime.mode),
        ("LECTURE_DEVICE", "tpu", runtime.device),
        ("LECTURE_DEVICE", "cuda:x", runtime.device),
        ("LECTURE_OFFLINE", "yes", runtime.offline),
    ],
)
def test_unknown_values_list_the_allowed_ones(monkeypatch, variable, value, fn):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"{variable}=.*{value}.*(fast|cpu|0)"):
        fn()


def test_device_override_and_unavailable_cuda(monkeypatch):
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("LECTURE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            runtime.device()


def test_seed_everything_repeats_all_generators():
    def draw():
        g = runtime.seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()

    assert draw() == draw()
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)


def test_data_dir_follows_environment(tmp_data):
    assert runtime.data_dir() == tmp_data
    assert runtime.checkpoint_dir() == tmp_data / "checkpoints"
    assert runtime.checkpoint_dir().is_dir()


def test_data_dir_default_is_git_ignored_cache(monkeypatch):
    monkeypatch.delenv("LECTURE_DATA", raising=False)
    assert runtime.data_dir() == runtime.REPO_ROOT / "data" / "cache"
    assert "data/cache/" in (runtime.REPO_ROOT / ".gitignore").read_text()


def test_describe_names_mode_device_versions_and_sources(monkeypatch, tmp_data, capsys):
    monkeypatch.setenv("LECTURE_MODE", "fast")
    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    course.describe()
    text = capsys.readouterr().out
    assert text.strip() == course.description()
    for expected in ("mode      fast", "device    ", f"torch {torch.__version__}", str(tmp_data), "MNIST",
                     "Fashion-MNIST", "CIFAR-10", "offline"):
        assert expected in text
