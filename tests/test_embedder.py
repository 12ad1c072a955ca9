"""The model layer: spec parsing, local checkpoints, offline behaviour — with real open_clip models."""
import numpy as np
import pytest
import torch

from core.clip.embedder import ClipEmbedder, ModelSpec, ModelUnavailable
from tests import media_factory as mf


def test_spec_parsing():
    assert ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k") == ModelSpec("ViT-B-32", "laion2b_s34b_b79k")
    assert ModelSpec.parse("tiny-test").is_test_model
    assert ModelSpec.parse("ViT-B-32:random").is_test_model
    assert not ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k").is_test_model
    assert ModelSpec.parse("ViT-B-32:/models/clip.pt").local_checkpoint.name == "clip.pt"
    assert str(ModelSpec.parse(" ViT-L-14:openai ")) == "ViT-L-14:openai"


def test_local_checkpoint_is_loaded(tmp_path, monkeypatch):
    import open_clip

    from core.clip.embedder import _open_clip

    _open_clip()
    torch.manual_seed(7)  # other weights than tiny-test's own seed
    model = open_clip.create_model("tiny-test")
    path = tmp_path / "my-weights.pt"
    torch.save(model.state_dict(), path)
    model.eval()
    tok = open_clip.get_tokenizer("tiny-test")
    with torch.inference_mode():
        expected = model.encode_text(tok(["a cat on a sofa"]), normalize=True).numpy()

    from_file = ClipEmbedder(f"tiny-test:{path}", tmp_path / "models")
    random = ClipEmbedder("tiny-test", tmp_path / "models")
    np.testing.assert_allclose(from_file.encode_texts(["a cat on a sofa"]), expected, atol=1e-5)
    assert not np.allclose(random.encode_texts(["a cat on a sofa"]), expected, atol=1e-3)


def test_errors_are_clear_and_immediate(tmp_path):
    cases = {
        "ViT-B-32:datacomp_xl_s13b_b90k": "not downloaded yet",  # offline (HF_ENDPOINT is a closed port)
        "ViT-B-32:/no/such/file.pt": "does not exist",
        "No-Such-Net:foo": "unknown model architecture",
        "ViT-B-32:no_such_tag": "has no pretrained weights",
    }
    for spec, message in cases.items():
        with pytest.raises(ModelUnavailable, match=message):
            ClipEmbedder(spec, tmp_path).load()


def test_random_architecture_has_real_shapes(tmp_path):
    e = ClipEmbedder("ViT-B-32:random", tmp_path)
    x = e.preprocess(mf.picture(1))
    assert tuple(x.shape) == (3, 224, 224)
    assert e.dim == 512 and e.is_test_model
    assert e.encode_images([x]).shape == (1, 512)


def test_int8_image_tower_is_used_only_when_faithful(tmp_path):
    e = ClipEmbedder("tiny-test", tmp_path)
    batch = torch.stack([e.preprocess(mf.picture(i)) for i in range(8)])
    reference = e.encode_images(batch)
    cosine = e.accelerate(tmp_path / "accel", batch)
    assert cosine >= 0.99 and e.fast_images is not None
    fast = e.encode_images(batch)
    assert float((fast * reference).sum(axis=1).min()) >= 0.99
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    # An impossible bar keeps the fp32 tower: faithfulness decides, not the setting alone.
    import core.clip.accelerate as acc

    old = acc.FAITHFUL
    acc.FAITHFUL = 1.01
    try:
        e.fast_images = None
        e.accelerate(tmp_path / "accel", batch)
        assert e.fast_images is None
    finally:
        acc.FAITHFUL = old
