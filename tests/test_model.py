"""Model folders: deterministic saving, and refusal to unpickle anything unverified."""

from __future__ import annotations

import json

import pytest

from codesuggest.core.cache import sha256_file
from codesuggest.core.errors import ArtifactError
from codesuggest.core.records import Term
from codesuggest.rank import model as model_mod
from codesuggest.train.corpus import LabelledNote
from codesuggest.train.prepare import Prepared
from codesuggest.train.recipe import fit, load_config

NOTES = [
    ("a", "Assessment: essential hypertension, on lisinopril.", ["I10"], "essential hypertension"),
    ("b", "Hypertension poorly controlled; blood pressure high.", ["I10"], "Hypertension"),
    ("c", "Type 2 diabetes with hyperglycemia, glucose 320.", ["E11.65"], "hyperglycemia"),
    ("d", "Diabetes type 2 uncontrolled with hyperglycemia.", ["E11.65"], "hyperglycemia"),
    ("e", "Fever and cough; pneumonia of right lower lobe.", ["J18.9"], "pneumonia"),
    ("f", "Community acquired pneumonia with fever.", ["J18.9"], "pneumonia"),
    ("g", "Essential hypertension and type 2 diabetes.", ["I10", "E11.9"], "hypertension"),
    ("h", "Pneumonia and hypertension, both treated.", ["J18.9", "I10"], "Pneumonia"),
]


def _prepared() -> list[Prepared]:
    out = []
    for nid, text, codes, phrase in NOTES:
        start = text.find(phrase)
        term = Term(
            text=phrase,
            start=start,
            end=start + len(phrase),
            label="diagnosis",
            codes=(codes[0],),
            source="dictionary",
        )
        out.append(
            Prepared(LabelledNote(nid, text, [("ICD-10-CM", c) for c in codes]), [term], codes)
        )
    return out


@pytest.fixture(scope="module")
def tiny_model(book):
    config = load_config(None)
    config["document_model"].update(min_df=1, n_neighbors=3)
    config["ranker"].update(max_iter=20, cv=2)
    config["training"]["folds"] = 2
    return fit(_prepared(), book, config, seed=0)


def test_same_model_saves_byte_identical_files(tiny_model, tmp_path):
    sha1 = model_mod.save_model(tiny_model, tmp_path / "one", card="# card\n")
    sha2 = model_mod.save_model(tiny_model, tmp_path / "two", card="# card\n")
    assert sha1 == sha2
    for name in (*model_mod.ARTIFACTS, "MODEL_CARD.md", "manifest.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_saved_model_loads_and_reports_its_identity(tiny_model, tmp_path):
    tiny_model.meta = {"name": "tiny", "version": "1"}
    sha = model_mod.save_model(tiny_model, tmp_path / "m")
    model_mod.trust_model(tmp_path / "m")
    loaded = model_mod.load_model(tmp_path / "m")
    assert loaded.info == {"name": "tiny", "version": "1", "sha256": sha}
    assert list(loaded.document_model.classes_) == list(tiny_model.document_model.classes_)


def test_tampered_artifact_is_refused_before_unpickling(tiny_model, tmp_path, monkeypatch):
    model_mod.save_model(tiny_model, tmp_path / "m")
    path = tmp_path / "m" / "ranker.joblib"
    path.write_bytes(path.read_bytes() + b"\x00")
    monkeypatch.setattr(model_mod.joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ArtifactError, match=r"ranker.joblib does not match its sha256"):
        model_mod.load_model(tmp_path / "m")


def test_missing_artifact_is_named(tiny_model, tmp_path):
    model_mod.save_model(tiny_model, tmp_path / "m")
    (tmp_path / "m" / "document_model.joblib").unlink()
    with pytest.raises(ArtifactError, match=r"document_model\.joblib is missing"):
        model_mod.load_model(tmp_path / "m")


def test_unlisted_pickle_is_refused(tiny_model, tmp_path):
    model_mod.save_model(tiny_model, tmp_path / "m")
    (tmp_path / "m" / "extra.joblib").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="unlisted pickles"):
        model_mod.load_model(tmp_path / "m")


def test_model_built_with_other_library_versions_is_refused(tiny_model, tmp_path):
    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["libraries"]["scikit-learn"] = "0.24.2"
    (folder / "model.json").write_text(json.dumps(meta))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model.json"] = sha256_file(folder / "model.json")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"scikit-learn 0.24.2"):
        model_mod.load_model(folder)


def test_folder_without_manifest_is_not_a_model(tmp_path):
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        model_mod.load_model(tmp_path)


def _rewrite(folder, name, data: bytes) -> None:
    """Replace one file of a model folder and recompute its manifest, as an attacker would."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))


class _Payload:
    """A pickle that runs code on load: it creates the file named by ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_untrusted_folder_with_a_malicious_pickle_is_refused_before_unpickling(
    tiny_model, tmp_path
):
    import pickle

    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    marker = tmp_path / "code-ran"
    _rewrite(folder, "ranker.joblib", pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ArtifactError, match=r"not a trusted model.*codesuggest models trust"):
        model_mod.load_model(folder)
    assert not marker.exists()


def test_trust_goes_with_the_manifest_hash_not_the_folder(tiny_model, tmp_path):
    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    model_mod.trust_model(folder)
    assert model_mod.load_model(folder).ranker is not None
    meta = json.loads((folder / "model.json").read_text())
    meta["threshold"] = 0.25
    _rewrite(folder, "model.json", json.dumps(meta).encode())
    with pytest.raises(ArtifactError, match="not a trusted model"):
        model_mod.load_model(folder)


def test_a_machine_without_a_trust_file_trusts_the_hashes_in_the_environment(
    tiny_model, tmp_path, monkeypatch
):
    sha = model_mod.save_model(tiny_model, tmp_path / "m")
    monkeypatch.setenv("CODESUGGEST_TRUST_FILE", str(tmp_path / "absent.json"))
    assert not model_mod.is_trusted(tmp_path / "m", sha)
    monkeypatch.setenv("CODESUGGEST_TRUSTED_MODELS", f"{'0' * 64}, {sha}")
    assert model_mod.load_model(tmp_path / "m").sha256 == sha


def test_the_shipped_model_is_trusted_by_its_pinned_hash():
    _, sha = model_mod.verify_model_dir(model_mod.default_model_dir())
    assert model_mod.is_trusted(model_mod.default_model_dir(), sha)
    assert sha == model_mod.DEFAULT_MANIFEST_SHA256


def test_models_list_says_which_folders_are_trusted(tiny_model, tmp_path, capsys):
    from codesuggest.cli import main

    model_mod.save_model(tiny_model, tmp_path / "mine")
    model_mod.save_model(tiny_model, tmp_path / "theirs", card="# from a stranger\n")
    assert main(["models", "trust", str(tmp_path / "mine")]) == 0
    capsys.readouterr()
    assert main(["models", "list", str(tmp_path)]) == 0
    lines = {ln.split(":", 1)[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines[str(model_mod.default_model_dir())].endswith(", trusted")
    assert lines[str(tmp_path / "mine")].endswith(", trusted")
    assert "UNTRUSTED" in lines[str(tmp_path / "theirs")]


def test_manifest_whose_files_is_a_list_is_refused_with_a_clear_error(tiny_model, tmp_path):
    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    (folder / "manifest.json").write_text(json.dumps({"format": 2, "files": ["model.json"]}))
    with pytest.raises(ArtifactError, match="'files' must map each file name to its sha256"):
        model_mod.load_model(folder)


@pytest.mark.parametrize(
    ("model_json", "message"),
    [
        (b"{not json", "model.json is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (json.dumps({"format": 2, "libraries": "sklearn"}).encode(), "'libraries' must be"),
    ],
)
def test_bad_model_json_with_a_recomputed_manifest_is_a_clear_error(
    tiny_model, tmp_path, model_json, message
):
    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    _rewrite(folder, "model.json", model_json)
    with pytest.raises(ArtifactError, match=message):
        model_mod.load_model(folder)


def test_model_json_without_priors_is_a_clear_error_even_when_trusted(tiny_model, tmp_path):
    folder = tmp_path / "m"
    model_mod.save_model(tiny_model, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["priors"] = [1, 2]
    _rewrite(folder, "model.json", json.dumps(meta).encode())
    model_mod.trust_model(folder)
    with pytest.raises(ArtifactError, match="no usable priors or threshold"):
        model_mod.load_model(folder)


FIT_AND_DUMP = """
import io, joblib, sys
from codesuggest.rank import DocumentModel
texts = ["essential hypertension", "hypertension high blood pressure", "type 2 diabetes",
         "diabetes with hyperglycemia", "pneumonia fever cough", "fever and pneumonia"]
labels = [["I10"], ["I10"], ["E11.9"], ["E11.65"], ["J18.9"], ["J18.9"]]
buf = io.BytesIO()
joblib.dump(DocumentModel(min_df=1, n_neighbors=3).fit(texts, labels), buf)
sys.stdout.write(buf.getvalue().hex())
"""


def test_document_model_pickles_identically_in_processes_with_other_hash_seeds():
    import os
    import subprocess
    import sys

    dumps = [
        subprocess.run(
            [sys.executable, "-c", FIT_AND_DUMP],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert dumps[0] == dumps[1]


def test_training_setting_must_be_a_known_setting(book):
    from codesuggest.core.errors import InputError

    config = load_config(None)
    config["training"]["setting"] = "home"
    with pytest.raises(InputError, match=r"training\.setting"):
        fit(_prepared(), book, config, seed=0)


def test_cli_train_setting_overrides_the_recipe(monkeypatch, tmp_path):
    from codesuggest.cli import main
    from codesuggest.train import recipe as train_mod

    seen = {}

    def fake_train_to_folder(out, **kwargs):
        seen["setting"] = kwargs["config"]["training"]["setting"]
        return None, type("Ev", (), {"results": {}})(), "0" * 64

    monkeypatch.setattr(train_mod, "train_to_folder", fake_train_to_folder)
    data = tmp_path / "notes.jsonl"
    data.write_text(json.dumps({"id": "1", "text": "Hypertension.", "codes": ["I10"]}) + "\n")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[training]\nsetting = "outpatient"\n')
    args = ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--config", str(recipe)]
    assert main([*args, "--quiet"]) == 0
    assert seen["setting"] == "outpatient"
    assert main([*args, "--quiet", "--setting", "inpatient"]) == 0
    assert seen["setting"] == "inpatient"
