"""CLIP on ONNX Runtime: the installed towers agree with open_clip on the same weights, an install happens once and
its int8 verdicts are kept, published exports download (both layouts, checked against the hub's checksums) from a
local hub, and a search never imports torch or open_clip."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.clip import hub
from core.clip.calibration import images, queries
from core.clip.embedder import ClipEmbedder, ModelUnavailable
from core.clip.install import QUANTISE_STEPS, installed
from tests import hub_factory
from tests.conftest import ROOT

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")


@pytest.fixture(scope="module")
def reference():
    """open_clip's own tiny-test model, with the seed the install uses."""
    from core.clip.openclip import load_model
    from core.clip.spec import ModelSpec

    model, _, tokenizer = load_model(ModelSpec.parse("tiny-test"), Path("/nonexistent"))
    return model, tokenizer


def _cosines(a, b):
    return (a * b).sum(axis=1)


def test_onnx_towers_agree_with_open_clip(reference, shared_models):
    model, tokenizer = reference
    fp32 = ClipEmbedder("tiny-test", shared_models, int8=False)
    int8 = ClipEmbedder("tiny-test", shared_models, int8=True)
    pictures = images(8)
    batch = np.stack([fp32.preprocess(p) for p in pictures])
    texts = queries()
    with torch.inference_mode():
        ref_images = model.encode_image(torch.from_numpy(batch), normalize=True).numpy()
        ref_texts = model.encode_text(tokenizer(texts), normalize=True).numpy()
    assert _cosines(fp32.encode_images(batch), ref_images).min() > 0.9999
    assert _cosines(fp32.encode_texts(texts), ref_texts).min() > 0.9999
    assert _cosines(int8.encode_images(batch), ref_images).min() > 0.99
    assert _cosines(int8.encode_texts(texts), ref_texts).min() > 0.99
    assert np.array_equal(fp32.tokenize(texts), tokenizer(texts).numpy())
    manifest = installed("tiny-test", shared_models).manifest()
    assert manifest.open_clip_cosine > 0.9999 and manifest.int8["visual"]["faithful"]


def test_a_model_is_installed_once_and_its_verdicts_kept(tmp_path, monkeypatch):
    first = ClipEmbedder("tiny-test", tmp_path)
    vector = first.encode_texts(["a red car"])
    package = installed("tiny-test", tmp_path)
    stamp = (package.folder / "manifest.json").stat().st_mtime_ns
    assert package.verify() == []

    from core.clip import export, install

    def no_more(*args, **kwargs):
        raise AssertionError("installed twice")

    monkeypatch.setattr(export, "export", no_more)
    monkeypatch.setattr(install, "quantise", no_more)
    again = ClipEmbedder("tiny-test", tmp_path)
    np.testing.assert_allclose(again.encode_texts(["a red car"]), vector, atol=1e-6)
    assert (package.folder / "manifest.json").stat().st_mtime_ns == stamp
    (package.folder / "visual.onnx").write_bytes(b"damaged")
    assert package.verify() == ["visual.onnx"]


# -- a local hub in both published layouts ---------------------------------------------------------------------------
@pytest.fixture
def local_hub(tmp_path, shared_models, monkeypatch):
    """The tiny-test export laid out as rclip's and as Immich's repositories, served over HTTP (tests/hub_factory)."""
    root = hub_factory.build(tmp_path / "hub", hub_factory.tiny_package(shared_models))
    server = hub_factory.serve(root)
    monkeypatch.setenv("IDLENS_HUB", server.url)
    monkeypatch.setitem(hub.PUBLISHED, "tiny-test:rclip-layout",
                        hub.Source(hub_factory.RCLIP_REPO, "rclip", hub_factory.RCLIP_SUBDIR, 64))
    monkeypatch.setitem(hub.PUBLISHED, "tiny-test:immich-layout", hub.Source(hub_factory.IMMICH_REPO, "immich"))
    yield server, ClipEmbedder("tiny-test", shared_models, int8=False)
    server.shutdown()


@pytest.mark.parametrize("spec", ["tiny-test:rclip-layout", "tiny-test:immich-layout"])
def test_a_published_export_downloads_with_progress_and_runs(local_hub, tmp_path, spec):
    _, exported = local_hub
    seen = []
    model = ClipEmbedder(spec, tmp_path / "models", int8=False)
    model.load(progress=lambda what, done, total: seen.append((what, done, total)))
    downloads = [s for s in seen if s[0].startswith("downloading")]
    assert downloads and all(0 < done <= total for _, done, total in downloads)
    # One count for the whole model (its files one after the other), so a rate and a time left are the model's.
    assert len({total for _, _, total in downloads}) == 1
    assert [done for _, done, _ in downloads] == sorted(done for _, done, _ in downloads)
    assert downloads[-1][1] == downloads[-1][2]
    steps = [s for s in seen if not s[0].startswith("downloading")]
    assert [s[0] for s in steps] == [*QUANTISE_STEPS, "done"] and [s[1] for s in steps] == [0, 1, 2]
    assert {"downloading visual.onnx", "downloading textual.onnx"} <= {s[0] for s in downloads}
    texts = queries()
    np.testing.assert_allclose(model.encode_texts(texts), exported.encode_texts(texts), atol=1e-5)
    batch = np.stack([model.preprocess(p) for p in images(4)])
    np.testing.assert_allclose(model.encode_images(batch), exported.encode_images(batch), atol=1e-5)
    manifest = installed(spec, tmp_path / "models").manifest()
    assert manifest.source.endswith("test/rclip-models" if "rclip" in spec else "test/immich-tiny")
    assert manifest.dim == 64 and "visual" in manifest.int8


def test_a_download_that_does_not_match_the_hub_is_refused(local_hub, tmp_path):
    server, _ = local_hub
    server.lie["tiny/visual.onnx"] = "0" * 64
    with pytest.raises(ModelUnavailable, match="checksum"):
        ClipEmbedder("tiny-test:rclip-layout", tmp_path / "models").load()
    assert installed("tiny-test:rclip-layout", tmp_path / "models") is None
    assert not list((tmp_path / "models" / "onnx").glob("*")) or \
        not any(p.name.endswith(".partial") for p in (tmp_path / "models" / "onnx").iterdir())


def test_offline_a_published_model_says_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"download its CLIP model once \(about 600 MB\), and this computer "
                                               "cannot reach 127.0.0.1:9 now"):
        ClipEmbedder("ViT-B-32-256:datacomp_s34b_b86k", tmp_path).load()


def test_a_search_never_imports_torch_or_open_clip(tmp_path, photos, shared_models):
    env = dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_MODEL="tiny-test")
    library = str(tmp_path / "lib")
    subprocess.run([sys.executable, "-m", "app", "--library", library, "index", str(photos)], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    probe = ("import sys, json\nfrom app.cli import main\n"
             f"try:\n    main(['--library', {library!r}, 'search', 'a red car', '--json'])\n"
             "except SystemExit:\n    pass\n"
             "print(json.dumps(sorted(m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules)),"
             " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["results"]
    assert json.loads(out.stderr.strip().splitlines()[-1]) == []


def test_a_first_index_offline_ends_in_plain_words_and_keeps_the_scan(tmp_path, photos):
    env = dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_MODELS=str(tmp_path / "models"))
    env.pop("IDLENS_MODEL", None)
    library = str(tmp_path / "lib")
    proc = subprocess.run([sys.executable, "-m", "app", "--library", library, "index", str(photos)], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    *_, plain, details = proc.stderr.splitlines()  # what to do, then the system's reason
    assert "cannot reach 127.0.0.1:9 now. Connect to the internet, then try again." in plain
    assert details.startswith("  Details: ") and "IDLENS_HUB" in details
    assert "[Errno" not in proc.stderr  # plain words, not the socket's
    status = json.loads(subprocess.run([sys.executable, "-m", "app", "--library", library, "status", "--json"],
                                       env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert status["media"]["image"] == {"pending": 6}  # found, waiting for the model


def test_a_conversion_says_each_step_by_name_and_number(tmp_path):
    """Converting a model no one publishes (here the tiny random one) goes step by step, never "0 %" until done."""
    from core.clip.export import EXPORT_STEPS

    seen = []
    ClipEmbedder("tiny-test", tmp_path).load(progress=lambda what, done, total: seen.append((what, done, total)))
    steps = [*EXPORT_STEPS, *QUANTISE_STEPS]
    assert seen == [(what, i, len(steps)) for i, what in enumerate(steps)] + [("done", len(steps), len(steps))]
