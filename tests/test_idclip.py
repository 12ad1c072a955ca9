"""Id-CLIP end to end on CPU with the tiny-test model and a generated dataset of real, credited faces."""
import threading

import numpy as np
import pytest
import torch

from core.clip.embedder import ClipEmbedder
from core.settings import models_dir

from core.registry import face_backend as default_backend
from core.idclip.data import load_dataset
from core.idclip.evaluate import evaluate
from core.idclip.model import IdClip, IdClipError
from core.idclip.train import train
from tests import media_factory as mf


@pytest.fixture
def dataset(tmp_path):
    return load_dataset(mf.idclip_dataset(tmp_path / "pfs"), default_backend())


def tiny() -> ClipEmbedder:
    """The tiny test CLIP, fp32 (Id-CLIP's torch text tower is compared with it), from the run's shared models."""
    return ClipEmbedder("tiny-test", models_dir(), int8=False)

def test_token_injection_changes_only_placeholder_queries(tmp_path):
    emb = tiny()
    idc = IdClip.create(emb, face_dim=128, face_backend="yunet-sface")
    faces = np.random.default_rng(0).normal(size=(2, 128)).astype(np.float32)
    with torch.no_grad():
        a = idc.encode_text(["[TOK] on a beach", "[TOK] on a beach"], faces)
        plain = idc.encode_text(["a dog on a beach"], faces[:1])
    assert not torch.allclose(a[0], a[1])                       # the identity reaches the text embedding
    np.testing.assert_allclose(plain.numpy(), emb.encode_texts(["a dog on a beach"]), atol=1e-5)  # no [TOK]: CLIP
    assert torch.allclose(torch.linalg.norm(a, dim=1), torch.ones(2), atol=1e-5)


def test_train_resume_and_evaluate(dataset, tmp_path):
    emb = tiny()
    idc = IdClip.create(emb, face_dim=128, face_backend="yunet-sface", vpt_tokens=2)
    ckpt = tmp_path / "idclip.pt"
    cancel = threading.Event()
    losses = []
    for p in train(idc, dataset, ckpt, epochs=30, batch_size=8, lr=1e-3, cancel=cancel):
        losses.append(p.loss)
        if p.epoch == 2:
            cancel.set()   # stop early: the checkpoint must let the next run continue
    stopped_at = torch.load(ckpt, weights_only=False)["step"]
    assert stopped_at == len(losses)
    idc2 = IdClip.create(tiny(), face_dim=128, face_backend="yunet-sface", vpt_tokens=2)
    more = [p for p in train(idc2, dataset, ckpt, epochs=30, batch_size=8, lr=1e-3)]
    assert more[0].step == stopped_at + 1 and more[-1].epoch == 30
    assert np.mean([p.loss for p in more[-4:]]) < np.mean(losses[:4])  # it learns

    trained = IdClip.load(ckpt, tiny())
    result = evaluate(trained, trained.embedder, dataset, face_backend=default_backend())
    assert result["samples"] == 8 and result["identities"] == 4
    for name in ("clip", "clip_names", "idclip", "fusion"):
        assert set(result[name]) == {"R@1", "R@5", "R@10", "R@50"}
        assert set(result["identity"][name]) == {"kmin-R@1", "kmin-R@5", "kmin-R@10", "AP@10"}
    # Explicit face matching knows who is in each test image: the fused identity retrieval is perfect here.
    assert result["identity"]["fusion"]["kmin-R@1"] == 100.0


def test_mismatched_checkpoint_and_bad_dataset_are_refused(dataset, tmp_path):
    emb = tiny()
    idc = IdClip.create(emb, face_dim=128, face_backend="yunet-sface")
    ckpt = tmp_path / "a.pt"
    for _ in train(idc, dataset, ckpt, epochs=1, batch_size=8):
        pass
    other = IdClip.create(tiny(), face_dim=128, face_backend="yunet-sface", hidden=16)
    with pytest.raises(IdClipError, match="another configuration"):
        list(train(other, dataset, ckpt, epochs=2))
    with pytest.raises(IdClipError, match="captions.jsonl"):
        load_dataset(tmp_path / "nowhere")


def test_cli_train_eval_and_use_in_search(tmp_path):
    import json

    from tests.test_cli import idlens
    from tests.test_identity_search import scene

    lib = str(tmp_path / "lib")
    data = mf.idclip_dataset(tmp_path / "pfs")
    ckpt = tmp_path / "t.pt"
    out = json.loads(idlens("--library", lib, "idclip", "train", str(data), "--out", str(ckpt), "--epochs", "2",
                            "--batch", "8", "--json").stdout)
    assert out["epoch"] == 2 and ckpt.exists()
    result = json.loads(idlens("--library", lib, "idclip", "eval", str(data), "--checkpoint", str(ckpt),
                               "--json").stdout)
    assert result["random_weights"] is True and "fusion" in result["identity"]
    assert "RANDOM WEIGHTS" in idlens("--library", lib, "idclip", "eval", str(data)).stdout

    album = tmp_path / "album"
    scene(album / "a.jpg", 1, ["person_a_1.jpg"])
    scene(album / "b.jpg", 2, ["person_a_2.jpg"])
    idlens("--library", lib, "index", str(album))
    idlens("--library", lib, "people", "add", "Emmanuel", "--photo", str(mf.FACES / "person_a_1.jpg"))
    idlens("--library", lib, "idclip", "use", str(ckpt))
    res = json.loads(idlens("--library", lib, "search", "Emmanuel in front of a red wall", "--json").stdout)
    assert len(res["results"]) == 2 and all("idclip" in r["why"] and "context" in r["why"] for r in res["results"])


def test_personal_adaptation_reports_held_out_metrics(make_library, tmp_path):
    from core.idclip.adapt import adapt
    from core.indexer import IndexJob
    from tests.test_identity_search import scene

    album = tmp_path / "album"
    for i in range(4):
        scene(album / f"a{i}.jpg", 10 + i, ["person_a_1.jpg" if i % 2 else "person_a_2.jpg"])
        scene(album / f"b{i}.jpg", 20 + i, ["person_b_1.jpg" if i % 2 else "person_b_2.jpg"])
    lib = make_library()
    for _ in IndexJob(lib, [str(album)]).run():
        pass
    people = lib.people
    for p in people.list():
        name = "Anna" if "a0.jpg" in {f["path"].rsplit("/", 1)[-1] for f in people.faces_of(p.id)} else "Ben"
        people.name(p.id, name)
    report = {}
    steps = list(adapt(lib, tmp_path / "mine.pt", epochs=5, report=report))
    assert steps and report["people"] == 2 and report["test"] == 2 and report["train"] == 6
    assert set(report["after"]) == {"kmin-R@1", "kmin-R@5", "kmin-R@10", "AP@10"}
    assert isinstance(report["improved"], bool) and (tmp_path / "mine.pt").exists()
    assert report["cancelled"] is False

    # Stopped after its first step: the checkpoint is kept, and no verdict is given on half a training.
    cancel, stopped = threading.Event(), {}
    for _ in adapt(lib, tmp_path / "stopped.pt", epochs=5, cancel=cancel, report=stopped):
        cancel.set()
    assert stopped["cancelled"] is True and (tmp_path / "stopped.pt").exists()
    assert "improved" not in stopped and "after" not in stopped


def test_a_checkpoint_for_another_face_recogniser_is_refused(tmp_path):
    from core.registry import idclip_translator

    emb = tiny()
    torch.save(IdClip.create(emb, face_dim=128, face_backend="arcface-r100").state(), tmp_path / "arc.pt")
    with pytest.raises(IdClipError, match="arcface-r100, not yunet-sface"):
        idclip_translator(tmp_path / "arc.pt", emb, "yunet-sface")
    assert idclip_translator(tmp_path / "arc.pt", emb, "arcface-r100").config.face_backend == "arcface-r100"


def test_identity_hooks_are_gone_after_each_call(tmp_path):
    """Id-CLIP shares CLIP with plain search: after an Id-CLIP call the model answers exactly as before."""
    emb = tiny()
    plain = emb.encode_texts(["sks playing guitar"])
    idc = IdClip.create(emb, face_dim=128, face_backend="yunet-sface", vpt_tokens=2)
    with_face = idc.encode_text(["[TOK] playing guitar"], np.ones((1, 128), np.float32) / np.sqrt(128))
    assert not np.allclose(with_face.detach().numpy(), plain, atol=1e-4)
    assert np.allclose(emb.encode_texts(["sks playing guitar"]), plain, atol=1e-6)
    model = emb.torch_model
    assert not model.token_embedding._forward_hooks and not model.visual.patch_dropout._forward_hooks


def test_metrics_match_their_definitions():
    from core.idclip.evaluate import _identity_metrics, _recalls

    # Caption 0 finds its image first, caption 1 third, caption 2 second.
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.1, 0.5], [0.1, 0.5, 0.4]])
    assert _recalls(scores) == {"R@1": round(100 / 3, 2), "R@5": 100.0, "R@10": 100.0, "R@50": 100.0}
    # One identity with 2 relevant images of 4: ranked 1st and 3rd.
    relevant = np.array([[True, False, True, False]])
    s = np.array([[0.9, 0.8, 0.7, 0.1]])
    m = _identity_metrics(s, relevant)
    assert m["kmin-R@1"] == 100.0 and m["kmin-R@5"] == 100.0
    assert m["AP@10"] == pytest.approx(100 * (1 / 1 + 2 / 3) / 2, abs=0.01)
