"""Model folders: saving, verifying and loading trained artifacts.

A model folder holds ``model.json`` (metadata, threshold, priors, library versions),
``document_model.joblib`` and ``ranker.joblib``, ``MODEL_CARD.md`` and ``manifest.json`` with
the sha256 of every other file. joblib files are pickles, and unpickling runs code, so
``load_model`` verifies every hash and the library versions *before* it unpickles anything.
The shipped default model's manifest hash is pinned in this module, so a tampered default
model is refused even if its manifest was rewritten to match.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import joblib

from codesuggest.core.cache import sha256_file
from codesuggest.core.errors import ArtifactError
from codesuggest.rank.document_model import DocumentModel
from codesuggest.rank.priors import Priors
from codesuggest.rank.ranker import CandidateRanker

# 2: five more ranker features (lookup precision, associations, history, document rank).
MODEL_FORMAT = 2
ARTIFACTS = ("model.json", "document_model.joblib", "ranker.joblib")
DEFAULT_MODEL_NAME = "default"
# sha256 of models/default/manifest.json; training/build_default.py prints the new value.
DEFAULT_MANIFEST_SHA256 = "27517a9d51edbb40bfa971c441a9daa01070c3bf184570570cb5be57ae4d9afe"

# A pickle made by one scikit-learn is not guaranteed to load in another.
PINNED_LIBRARIES = ("scikit-learn", "numpy", "scipy")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in (*PINNED_LIBRARIES, "joblib", "codesuggest"):
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "absent"
    return versions


@dataclass(slots=True)
class Model:
    """A trained model: the two estimators, the priors and the selection threshold."""

    document_model: DocumentModel
    ranker: CandidateRanker
    priors: Priors
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""

    @property
    def candidate_options(self) -> dict[str, Any]:
        """How this model was trained to build candidates; scoring must build them the same way."""
        return dict(self.meta.get("config", {}).get("candidates", {}))

    @property
    def info(self) -> dict[str, str]:
        return {
            "name": str(self.meta.get("name", "unnamed")),
            "version": str(self.meta.get("version", "0")),
            "sha256": self.sha256,
        }


def default_model_dir() -> Path:
    """Where the shipped model lives (installed inside the package as ``codesuggest/models``)."""
    return Path(str(resources.files("codesuggest.models").joinpath(DEFAULT_MODEL_NAME)))


def save_model(model: Model, folder: str | os.PathLike[str], *, card: str = "") -> str:
    """Write ``model`` to ``folder``; returns the sha256 of its manifest.

    Writes are deterministic: the same model gives byte-identical files.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(model.meta)
    meta.update(
        format=MODEL_FORMAT,
        threshold=model.threshold,
        priors=model.priors.to_dict(),
        libraries={k: v for k, v in library_versions().items() if k != "python"},
    )
    (out / "model.json").write_text(
        json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    joblib.dump(model.document_model, out / "document_model.joblib", compress=3)
    joblib.dump(model.ranker, out / "ranker.joblib", compress=3)
    files = list(ARTIFACTS)
    if card:
        (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        files.append("MODEL_CARD.md")
    manifest = {
        "format": MODEL_FORMAT,
        "files": {name: sha256_file(out / name) for name in sorted(files)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return sha256_file(out / "manifest.json")


def verify_model_dir(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Check a model folder without unpickling anything; returns its metadata and sha256.

    Raises ``ArtifactError`` naming the problem: a missing or altered file, a manifest that
    does not cover the artifacts, or library versions that differ from the ones installed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ArtifactError(f"Model folder {root} does not exist.")
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{root} has no manifest.json: not a codesuggest model folder.")
    manifest_sha = sha256_file(manifest_path)
    is_default = root.resolve() == default_model_dir().resolve()
    if is_default and DEFAULT_MANIFEST_SHA256 and manifest_sha != DEFAULT_MANIFEST_SHA256:
        raise ArtifactError(
            f"The shipped model's manifest {manifest_path} has been altered "
            "(its sha256 differs from the one pinned in codesuggest.model). Reinstall codesuggest."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{manifest_path} is not a valid manifest: {exc}") from exc
    missing = [name for name in ARTIFACTS if name not in files]
    if missing:
        raise ArtifactError(f"{manifest_path} does not list {missing}; the folder is incomplete.")
    for name, expected in files.items():
        path = root / name
        if Path(name).name != name:
            raise ArtifactError(f"{manifest_path} names {name!r}, outside the model folder.")
        if not path.is_file():
            raise ArtifactError(f"{path} is missing; the model folder is incomplete.")
        if sha256_file(path) != expected:
            raise ArtifactError(
                f"{path} does not match its sha256 in manifest.json: the file was altered or "
                "corrupted. Retrain the model or restore the folder; it will not be loaded."
            )
    unlisted = [p.name for p in root.glob("*.joblib") if p.name not in files]
    if unlisted:
        raise ArtifactError(f"{root} holds unlisted pickles {unlisted}; refusing to load.")
    meta = json.loads((root / "model.json").read_text(encoding="utf-8"))
    if meta.get("format") != MODEL_FORMAT:
        raise ArtifactError(
            f"{root} has model format {meta.get('format')}, this codesuggest reads "
            f"{MODEL_FORMAT}; retrain it with `codesuggest train`."
        )
    installed = library_versions()
    built = meta.get("libraries", {})
    for lib in PINNED_LIBRARIES:
        have, want = installed.get(lib, "absent"), built.get(lib, "unknown")
        if have.split(".")[:2] != str(want).split(".")[:2]:
            raise ArtifactError(
                f"{root} was built with {lib} {want} but {lib} {have} is installed; "
                f"install {lib}=={want} or retrain the model with `codesuggest train`."
            )
    return meta, manifest_sha


def load_model(folder: str | os.PathLike[str] | None = None) -> Model:
    """Verify, then load, a model folder (default: the shipped model)."""
    root = Path(folder) if folder is not None else default_model_dir()
    meta, sha = verify_model_dir(root)
    try:
        document_model = joblib.load(root / "document_model.joblib")
        ranker = joblib.load(root / "ranker.joblib")
    except Exception as exc:  # a verified file that still fails to unpickle
        raise ArtifactError(f"{root}: the model files could not be read: {exc}") from exc
    if not isinstance(document_model, DocumentModel) or not isinstance(ranker, CandidateRanker):
        raise ArtifactError(f"{root}: the artifacts are not codesuggest models.")
    return Model(
        document_model=document_model,
        ranker=ranker,
        priors=Priors.from_dict(meta["priors"]),
        threshold=float(meta.get("threshold", 0.5)),
        meta=meta,
        path=root,
        sha256=sha,
    )
