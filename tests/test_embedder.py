"""The model layer: spec parsing, local checkpoints, offline behaviour — real open_clip models converted to ONNX."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

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

    from core.clip.openclip import _open_clip

    _open_clip()
    torch.manual_seed(7)  # other weights than tiny-test's own seed
    model = open_clip.create_model("tiny-test")
    path = tmp_path / "my-weights.pt"
    torch.save(model.state_dict(), path)
    model.eval()
    tok = open_clip.get_tokenizer("tiny-test")
    with torch.inference_mode():
        expected = model.encode_text(tok(["a cat on a sofa"]), normalize=True).numpy()

    from_file = ClipEmbedder(f"tiny-test:{path}", tmp_path / "models", int8=False)
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


def test_int8_towers_are_kept_only_when_faithful(tmp_path, monkeypatch):
    from core.clip import install

    monkeypatch.setattr(install, "FAITHFUL", 1.01)  # an impossible bar: the install keeps fp32
    strict = ClipEmbedder("tiny-test", tmp_path / "strict")
    assert strict.int8["visual"]["faithful"] is False and strict.int8["textual"]["faithful"] is False
    package = install.installed("tiny-test", tmp_path / "strict")
    assert not (package.folder / "visual-int8.onnx").exists()
    assert package.tower("visual", package.manifest()).name == "visual.onnx"
    vectors = strict.encode_images(np.stack([strict.preprocess(mf.picture(i)) for i in range(4)]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
