import pytest
import torch
from torch import nn

from lecture_utils import training


def blobs(n=400, seed=0):
    """Two well-separated classes of 1x8x8 'images' (bright top half vs bright bottom half), uint8."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 60, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 2
    x[y == 0, :, :4] += 150
    x[y == 1, :, 4:] += 150
    return x, y


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_fit_learns_and_records_history():
    train, test = blobs(400, 0), blobs(200, 1)
    model = small_net()
    history = training.fit(model, train, test, epochs=3, lr=0.05, batch_size=32, progress=False)
    assert len(history.train_loss) == len(history.test_acc) == len(history.images_per_s) == 3
    assert history.test_acc[-1] >= 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert not model.training  # left in eval mode


def test_fit_is_seeded():
    a = training.fit(small_net(), blobs(), epochs=1, lr=0.01, progress=False, seed=1)
    b = training.fit(small_net(), blobs(), epochs=1, lr=0.01, progress=False, seed=1)
    assert a.train_loss == b.train_loss


def test_fit_param_groups_scale_the_learning_rate():
    model = small_net()
    conv, head = model[0], model[4]
    frozen_rate = [{"params": list(conv.parameters()), "lr_scale": 0.0}, {"params": list(head.parameters())}]
    before_conv, before_head = conv.weight.clone(), head.weight.clone()
    training.fit(model, blobs(), epochs=1, lr=0.05, param_groups=frozen_rate, optimizer="sgd", progress=False)
    assert torch.equal(conv.weight, before_conv)  # lr * 0: never moves
    assert not torch.equal(head.weight, before_head)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"epochs": 0}, "epochs >= 1"),
    ],
)
def test_fit_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        training.fit(small_net(), blobs(), **{"epochs": 1, **kwargs})


def test_fit_rejects_bad_data():
    x, y = blobs()
    with pytest.raises(ValueError, match="train must be a tuple"):
        training.fit(small_net(), x, epochs=1)
    with pytest.raises(ValueError, match=r"train labels must be a tensor of shape \(400,\)"):
        training.fit(small_net(), (x, y[:10]), epochs=1)


def test_evaluate_matches_sklearn_macro_metrics():
    x, y = blobs(100)

    class Fixed(nn.Module):  # predicts class 0 for every image
        def forward(self, images):
            return torch.tensor([1.0, 0.0]).expand(len(images), 2)

    m = training.evaluate(Fixed(), x, y)
    assert m.accuracy == 0.5
    assert m.recall == 0.5  # macro: (1 + 0) / 2
    assert m.precision == 0.25  # (0.5 + 0 [zero_division]) / 2
    assert m.f1 == pytest.approx((2 / 3) / 2)
    assert training.predict(Fixed(), x, batch_size=7).shape == (100, 2)


def test_config_hash_is_stable_and_rejects_objects():
    assert training.config_hash({"a": 1, "b": [2]}) == training.config_hash({"b": [2], "a": 1})
    assert training.config_hash({"a": 1}) != training.config_hash({"a": 2})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        training.config_hash({"model": nn.Linear(1, 1)})


def test_cached_trains_once_then_loads(tmp_data):
    calls = []

    def train(model):
        calls.append(1)
        return training.fit(model, blobs(), epochs=1, lr=0.05, progress=False)

    model, history = training.cached("blobs", {"epochs": 1}, small_net, train)
    again, history2 = training.cached("blobs", {"epochs": 1}, small_net, train)
    assert len(calls) == 1
    assert history2 == history
    x, _ = blobs(10)
    assert torch.equal(training.predict(model, x), training.predict(again, x))
    stem = f"blobs-{training.config_hash({'epochs': 1})}"
    assert sorted(p.name for p in (tmp_data / "checkpoints").iterdir()) == [f"{stem}.pt", f"{stem}.pt.sha256"]
    training.cached("blobs", {"epochs": 2}, small_net, train)  # another config: another file, trained
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_checksum"])
def test_cached_detects_damaged_checkpoints_and_retrains(tmp_data, damage):
    calls = []

    def train(model):
        calls.append(1)
        return training.History(train_loss=[0.5])

    training.cached("net", {"v": 1}, small_net, train)
    path = next((tmp_data / "checkpoints").glob("net-*.pt"))
    payload = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(payload[: len(payload) // 2])
    elif damage == "flip":
        path.write_bytes(payload[:-10] + bytes(b ^ 0xFF for b in payload[-10:]))
    else:
        path.with_name(path.name + ".sha256").unlink()
    with pytest.warns(UserWarning, match="unusable"):
        _, history = training.cached("net", {"v": 1}, small_net, train)
    assert len(calls) == 2 and history.train_loss == [0.5]
    training.cached("net", {"v": 1}, small_net, train)  # the rewritten checkpoint is good again
    assert len(calls) == 2


def test_cached_rejects_bad_names(tmp_data):
    with pytest.raises(ValueError, match="name must be"):
        training.cached("a/b", {}, small_net, lambda m: training.History())


def train_blobs(calls):
    def train(model):
        calls.append(1)
        return training.fit(model, blobs(), blobs(100, 1), epochs=1, lr=0.05, progress=False)

    return train


def test_shipped_checkpoints_are_written_by_make_checkpoints_and_loaded_first(tmp_data, monkeypatch, capsys):
    from lecture_utils import runtime
    from lecture_utils.course import checkpoints

    calls = []
    monkeypatch.setenv("LECTURE_SHIP", "1")
    model, history = training.cached("blobs", {"epochs": 1}, small_net, train_blobs(calls))
    assert "trained in" in capsys.readouterr().out
    manifest = training.shipped_manifest()
    stem = f"blobs-{training.config_hash({'epochs': 1})}"
    entry = manifest[stem]
    assert entry["config"] == {"epochs": 1} and entry["metrics"] == training.final_metrics(history)
    assert entry["metrics"]["test_acc"] == history.test_acc[-1] and entry["torch"] == torch.__version__
    assert entry["shapes"]["4.weight"] == "2x4" and checkpoints.verify() == []

    # A new user (empty cache, no shipping) loads the shipped file: no training, same predictions.
    monkeypatch.delenv("LECTURE_SHIP")
    monkeypatch.setenv("LECTURE_DATA", str(tmp_data.parent / "fresh"))
    again, history2 = training.cached("blobs", {"epochs": 1}, small_net, train_blobs(calls))
    assert len(calls) == 1 and history2 == history
    assert f"blobs: loaded the shipped checkpoint {runtime.shown_path(runtime.shipped_dir() / stem)}.pt" in (
        capsys.readouterr().out)
    x, _ = blobs(10)
    assert torch.equal(training.predict(model, x), training.predict(again, x))

    monkeypatch.setenv("LECTURE_RETRAIN", "1")  # always trains, and leaves the shipped set alone
    shipped_bytes = (runtime.shipped_dir() / f"{stem}.pt").read_bytes()
    training.cached("blobs", {"epochs": 1}, small_net, train_blobs(calls))
    assert len(calls) == 2 and "LECTURE_RETRAIN=1" in capsys.readouterr().out
    assert (runtime.shipped_dir() / f"{stem}.pt").read_bytes() == shipped_bytes


def test_a_damaged_shipped_checkpoint_is_never_loaded_nor_overwritten(tmp_data, monkeypatch):
    from lecture_utils import runtime
    from lecture_utils.course import checkpoints

    monkeypatch.setenv("LECTURE_SHIP", "1")
    training.cached("blobs", {"epochs": 1}, small_net, train_blobs([]))
    monkeypatch.delenv("LECTURE_SHIP")
    path = next(runtime.shipped_dir().glob("blobs-*.pt"))
    damaged = path.read_bytes()[:-10] + b"0123456789"
    path.write_bytes(damaged)
    assert checkpoints.verify() == [f"{path.stem}: checksum mismatch (truncated or corrupted file)"]
    monkeypatch.setenv("LECTURE_DATA", str(tmp_data.parent / "fresh"))
    calls = []
    with pytest.warns(UserWarning, match="unusable"):
        training.cached("blobs", {"epochs": 1}, small_net, train_blobs(calls))
    assert len(calls) == 1 and path.read_bytes() == damaged  # retrained into the cache only


def test_verify_finds_every_kind_of_mismatch(tmp_data, monkeypatch):
    import json

    from lecture_utils import runtime
    from lecture_utils.course import checkpoints

    monkeypatch.setenv("LECTURE_SHIP", "1")
    training.cached("blobs", {"epochs": 1}, small_net, train_blobs([]))
    training.cached("blobs", {"epochs": 2}, small_net, train_blobs([]))
    folder = runtime.shipped_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    one, two = sorted(manifest)
    manifest[one]["metrics"]["test_acc"] = 0.123  # a manifest the training did not produce
    manifest[two]["shapes"]["4.weight"] = "3x4"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "stray-0.pt").write_bytes(b"x")
    monkeypatch.setattr(checkpoints, "MAX_TOTAL_BYTES", 100)
    problems = checkpoints.verify()
    assert problems == [
        f"{one}: the stored history's final metrics differ from the manifest's",
        f"{two}: tensor names or shapes differ from the manifest's",
        "stray-0.pt: not in the manifest",
        f"the shipped set is {sum(e['bytes'] for e in manifest.values()) / 1e6:.1f} MB, over the 0 MB limit",
    ]


def curve_table(calls):
    """A small results table as learning_curve returns it: numbers, strings and an array per row."""
    def compute():
        import pandas as pd

        calls.append(1)
        g = torch.Generator().manual_seed(0)
        correct = [torch.rand(7, generator=g).numpy() > 0.5 for _ in range(3)]
        return pd.DataFrame({"per class": [1, 5, 10], "strategy": ["probe", "probe", "all"],
                             "test accuracy": [float(c.mean()) for c in correct], "correct": correct})

    return compute


def test_cached_table_computes_once_then_loads_the_same_table(tmp_data, capsys):
    calls = []
    table = training.cached_table("curve", {"n": 3}, curve_table(calls))
    again = training.cached_table("curve", {"n": 3}, curve_table(calls))
    assert len(calls) == 1 and "curve: computed in" in capsys.readouterr().out
    assert list(again.columns) == list(table.columns)
    assert again.drop(columns="correct").equals(table.drop(columns="correct"))
    for ours, theirs in zip(again["correct"], table["correct"], strict=True):
        assert ours.dtype == bool and (ours == theirs).all()
    training.cached_table("curve", {"n": 4}, curve_table(calls))  # another config: computed again
    assert len(calls) == 2


CONFIG = {"sizes": (1, 5, 10)}  # a tuple: stored as JSON reads it back, a list, in file and manifest alike


def test_cached_table_is_shipped_verified_and_never_loaded_when_damaged(tmp_data, monkeypatch, capsys):
    import json

    from lecture_utils import runtime
    from lecture_utils.course import checkpoints

    monkeypatch.setenv("LECTURE_SHIP", "1")
    table = training.cached_table("curve", CONFIG, curve_table([]))
    stem = f"curve-{training.config_hash(CONFIG)}"
    entry = training.shipped_manifest()[stem]
    assert entry["columns"] == {"per class": "list of 3", "strategy": "list of 3", "test accuracy": "list of 3",
                                "correct": "3x1"}  # 7 booleans packed in a byte
    assert entry["config"] == {"sizes": [1, 5, 10]} and entry["train_seconds"] >= 0 and checkpoints.verify() == []

    monkeypatch.delenv("LECTURE_SHIP")  # a new user: the shipped table, nothing computed
    monkeypatch.setenv("LECTURE_DATA", str(tmp_data.parent / "fresh"))
    calls = []
    loaded = training.cached_table("curve", CONFIG, curve_table(calls))
    assert not calls and loaded["test accuracy"].tolist() == table["test accuracy"].tolist()
    assert f"curve: loaded the shipped results {runtime.shown_path(runtime.shipped_dir() / stem)}.pt" in (
        capsys.readouterr().out)

    folder = runtime.shipped_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[stem]["columns"]["correct"] = "3x8"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert checkpoints.verify() == [f"{stem}: the table's columns or lengths differ from the manifest's"]

    path = folder / f"{stem}.pt"
    damaged = path.read_bytes()[:-10] + b"0123456789"
    path.write_bytes(damaged)
    monkeypatch.setenv("LECTURE_DATA", str(tmp_data.parent / "fresher"))
    with pytest.warns(UserWarning, match="results .* is unusable"):
        training.cached_table("curve", CONFIG, curve_table(calls))
    assert len(calls) == 1 and path.read_bytes() == damaged  # recomputed into the cache only

    monkeypatch.setenv("LECTURE_RETRAIN", "1")
    training.cached_table("curve", CONFIG, curve_table(calls))
    assert len(calls) == 2 and "LECTURE_RETRAIN=1" in capsys.readouterr().out
