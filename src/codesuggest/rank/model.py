"""Model folders: saving, verifying and loading trained artifacts.

A model folder holds ``model.json`` (metadata, threshold, priors, library versions),
``document_model.joblib`` and ``ranker.joblib``, ``MODEL_CARD.md`` and ``manifest.json`` with
the sha256 of every other file. joblib files are pickles, and unpickling runs code, so
``load_model`` verifies every hash and the library versions *before* it unpickles anything.
The shipped default model's manifest hash is pinned in this module, so a tampered default
model is refused even if its manifest was rewritten to match.

A manifest only proves that a folder is self-consistent: anyone can write a malicious pickle
and a manifest that matches it. So every folder but the shipped one is *untrusted* until the
user trusts its manifest hash (``trust_model``, ``codesuggest models trust DIR``); the trusted
hashes live in ``trusted_models.json`` under the user's config folder (or
``$CODESUGGEST_TRUST_FILE``), or in ``$CODESUGGEST_TRUSTED_MODELS`` (sha256s separated by
commas or spaces). ``codesuggest train`` trusts the folder it writes.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
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


def trust_file() -> Path:
    """Where the trusted manifest hashes are kept.

    ``$CODESUGGEST_TRUST_FILE``, else ``$XDG_CONFIG_HOME/codesuggest/trusted_models.json``
    (``~/.config/...``): a config folder, not a cache, since clearing it must not be routine.
    """
    explicit = os.environ.get("CODESUGGEST_TRUST_FILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "codesuggest" / "trusted_models.json"


def trusted_hashes() -> dict[str, str]:
    """The trusted manifest sha256s, each with the folder it was trusted for."""
    path = trust_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"The list of trusted models {path} cannot be read ({exc}); fix or delete it, then "
            "trust your models again with `codesuggest models trust DIR`."
        ) from exc
    trusted = data.get("trusted") if isinstance(data, dict) else None
    if not isinstance(trusted, dict):
        raise ArtifactError(
            f"{path} is not a list of trusted models (no 'trusted' object); fix or delete it."
        )
    return {str(k): str(v) for k, v in trusted.items()}


def is_trusted(folder: str | os.PathLike[str], manifest_sha256: str) -> bool:
    """Whether a verified folder may be unpickled: the pinned shipped model, or a trusted hash."""
    root = Path(folder)
    if root.resolve() == default_model_dir().resolve():
        return bool(DEFAULT_MANIFEST_SHA256) and manifest_sha256 == DEFAULT_MANIFEST_SHA256
    # For machines with no trust file of their own, such as a cluster's executors.
    listed = os.environ.get("CODESUGGEST_TRUSTED_MODELS", "").replace(",", " ").split()
    return manifest_sha256 in listed or manifest_sha256 in trusted_hashes()


def trust_model(folder: str | os.PathLike[str]) -> str:
    """Trust a model folder's current manifest hash; returns it.

    The folder is verified first (nothing is unpickled). Trust goes with the hash, not the
    path: a folder changed afterwards is untrusted again.
    """
    _, sha = verify_model_dir(folder)
    trusted = trusted_hashes()
    trusted[sha] = str(Path(folder).resolve())
    path = trust_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"trusted": trusted}, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return sha


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
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ArtifactError(
            f"{manifest_path} is not a valid manifest: 'files' must map each file name to its "
            "sha256. Retrain the model or restore the folder."
        )
    _check_files(root, manifest_path, files)
    unlisted = [p.name for p in root.glob("*.joblib") if p.name not in files]
    if unlisted:
        raise ArtifactError(f"{root} holds unlisted pickles {unlisted}; refusing to load.")
    meta = _read_meta(root / "model.json")
    _check_format_and_libraries(root, meta)
    return meta, manifest_sha


def _check_files(root: Path, manifest_path: Path, files: dict[str, str]) -> None:
    """Every artifact listed, present, inside the folder and matching its sha256."""
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


def _check_format_and_libraries(root: Path, meta: dict[str, Any]) -> None:
    """The model format this codesuggest reads, built with the installed library versions."""
    if meta.get("format") != MODEL_FORMAT:
        raise ArtifactError(
            f"{root} has model format {meta.get('format')}, this codesuggest reads "
            f"{MODEL_FORMAT}; retrain it with `codesuggest train`."
        )
    installed = library_versions()
    built = meta.get("libraries", {})
    if not isinstance(built, dict):
        raise ArtifactError(f"{root}/model.json: 'libraries' must be an object of versions.")
    for lib in PINNED_LIBRARIES:
        have, want = installed.get(lib, "absent"), built.get(lib, "unknown")
        if have.split(".")[:2] != str(want).split(".")[:2]:
            raise ArtifactError(
                f"{root} was built with {lib} {want} but {lib} {have} is installed; "
                f"install {lib}=={want} or retrain the model with `codesuggest train`."
            )


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the model cannot be used.") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path} must hold a JSON object; the model cannot be used.")
    return meta


def _priors_and_threshold(root: Path, meta: dict[str, Any]) -> tuple[Priors, float]:
    try:
        priors = Priors.from_dict(meta["priors"])
        threshold = float(meta.get("threshold", 0.5))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(
            f"{root}/model.json has no usable priors or threshold ({exc!r}); retrain the model."
        ) from exc
    if not 0.0 <= threshold <= 1.0:
        raise ArtifactError(f"{root}/model.json: threshold {threshold} is not in [0, 1].")
    return priors, threshold


def load_model(folder: str | os.PathLike[str] | None = None) -> Model:
    """Verify, then load, a model folder (default: the shipped model).

    Raises ``ArtifactError`` before anything is unpickled when the folder fails verification
    or is not trusted (see ``trust_model``).
    """
    root = Path(folder) if folder is not None else default_model_dir()
    meta, sha = verify_model_dir(root)
    if not is_trusted(root, sha):
        raise ArtifactError(
            f"{root} is not a trusted model (manifest sha256 {sha[:12]}...). Its files are "
            "pickles, which can run code when loaded, so only the shipped model and folders you "
            "trust are loaded. If you know where it came from, run "
            f"`codesuggest models trust {root}` and try again."
        )
    priors, threshold = _priors_and_threshold(root, meta)
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
        priors=priors,
        threshold=threshold,
        meta=meta,
        path=root,
        sha256=sha,
    )
