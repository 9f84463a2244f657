"""Trained model versions kept in a catalogue's `models/` folder, and which one is active.

Each version is a folder `models/<version>/` with `model.keras` and `model.json` (its
sidecar). `models/active.json` names the active version; without it the bundled model in
`resources/models/` is used.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

ACTIVE_FILE = "active.json"
BUNDLED_VERSION = "bundled"


def bundled_model_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "models"


def active_version(catalogue) -> str:
    """Return the version in use: the one `active.json` names, or the bundled one when that is missing."""
    named = chosen_version(catalogue)
    if named != BUNDLED_VERSION and not (catalogue.models_dir / named / "model.keras").is_file():
        # Logged once per catalogue and version, since the window reads it at every activation.
        if (catalogue.models_dir, named) not in _warned_missing:
            _warned_missing.add((catalogue.models_dir, named))
            log.warning("Active %s; the bundled model is used until then", missing_model_text(catalogue, named))
        return BUNDLED_VERSION
    return named


def chosen_version(catalogue) -> str:
    """Return the version that `active.json` names, whether or not its model file is there."""
    marker = catalogue.models_dir / ACTIVE_FILE
    try:
        return json.loads(marker.read_text(encoding="utf-8"))["version"]
    except FileNotFoundError:
        return BUNDLED_VERSION
    except (ValueError, KeyError) as exc:
        log.warning("Ignoring unreadable %s (%s); using the bundled model", marker, exc)
        return BUNDLED_VERSION


def missing_model_text(catalogue, version: str) -> str:
    """Say that the active `version` has no model file, and how to choose another."""
    return (f"model {version} is missing (models/{version}/model.keras); restore the models folder from "
            "a backup, or choose another version with whalecat models activate VERSION")


_warned_missing: set[tuple[Path, str]] = set()


def active_model_path(catalogue) -> Path | None:
    """Return the active version's `.keras` file, or None when the bundled model is active."""
    version = active_version(catalogue)
    return None if version == BUNDLED_VERSION else catalogue.models_dir / version / "model.keras"


def set_active_version(catalogue, version: str) -> None:
    """Make `version` active (BUNDLED_VERSION for the bundled model); written atomically."""
    if version != BUNDLED_VERSION and not (catalogue.models_dir / version / "model.keras").is_file():
        raise ValueError(f"model version {version!r} not found in {catalogue.models_dir}")
    marker = catalogue.models_dir / ACTIVE_FILE
    _write_json(marker, {"version": version})
    if version != BUNDLED_VERSION:
        _note_made_active(catalogue.models_dir / version / "model.json")
    log.info("Active model of %s is now %s", catalogue.folder, version)


def _note_made_active(sidecar: Path) -> None:
    """Append the time to the sidecar's `made_active_at` list, which records that the user
    chose a kept-back version anyway. The sidecar is only a record, so a failure is logged."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        record.setdefault("made_active_at", []).append(datetime.now().isoformat(timespec="seconds"))
        _write_json(sidecar, record)
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("Could not record the activation in %s: %s", sidecar, exc)


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def version_records(catalogue) -> list[dict]:
    """Return the sidecar of every trained version, oldest first, with `active` and `missing` set.

    `missing` marks a version whose model file is gone, which cannot be made active.
    """
    active = active_version(catalogue)
    records = []
    for folder in sorted(catalogue.models_dir.iterdir()) if catalogue.models_dir.is_dir() else []:
        sidecar = folder / "model.json"
        if folder.name.startswith(".") or not sidecar.is_file():
            continue
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except ValueError as exc:
            log.warning("Skipping model %s with an unreadable sidecar: %s", folder.name, exc)
            continue
        record["version"] = folder.name
        record["active"] = folder.name == active
        record["missing"] = not (folder / "model.keras").is_file()
        records.append(record)
    return records


def list_versions(catalogue) -> list[str]:
    """Return printable lines: the bundled model, then each version with its figures."""
    active = active_version(catalogue)
    bundled = _bundled_figures()
    lines = [
        f"{'*' if active == BUNDLED_VERSION else ' '} {BUNDLED_VERSION:<28} embedding "
        f"shipped with whalecat, takes {bundled_input() or 'an unrecorded input'}; "
        f"{bundled or 'no figures'}"
    ]
    for record in version_records(catalogue):
        evaluation = record.get("evaluation", {})
        metrics = evaluation.get("metrics", {})
        figures = ", ".join(
            f"{name} {metrics[name]:.3f}" for name in ("map5", "top1", "top5") if name in metrics
        )
        if figures and isinstance(evaluation.get("held_out_photos"), int):
            # A figure from 4 held-back photos reads very differently from one on hundreds.
            figures += f" on {evaluation['held_out_photos']} held-back photos"
        chosen = "; kept back, made active on request" if record.get("made_active_at") and not record.get("activated") else ""
        if record["missing"]:
            chosen += "; its model file is missing, so it cannot be used"
        described = input_description(record)
        takes = f", takes {described}" if described else ""
        lines.append(
            f"{'*' if record['active'] else ' '} {record['version']:<28} {record.get('kind', '?'):<9} "
            f"{record.get('epochs', '?')} epochs on {record.get('device', '?')}{takes}; "
            f"{figures or 'no figures'}{chosen}"
        )
    return lines


def bundled_figures() -> dict[str, float]:
    """Return the bundled model's MAP@5, top-1 and top-5 from `whalecat evaluate` on the
    right whales it was not trained on, as its sidecar records them ({} when unreadable)."""
    figures = _bundled_sidecar().get("held_out_evaluation", {})
    return {name: figures[name] for name in ("map5", "top1", "top5") if isinstance(figures.get(name), float)}


def _bundled_sidecar() -> dict:
    """Return the bundled model's JSON sidecar, or {} when it is missing or unreadable."""
    try:
        return json.loads((bundled_model_dir() / "embedding.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def input_description(sidecar: dict) -> str:
    """Describe the photo a model takes, such as "192×192 RGB", from its sidecar ('' if unknown).

    Trained versions record the channels inside `input_size`, and the bundled model beside it.
    """
    size = sidecar.get("input_size")
    if not isinstance(size, dict) or "width" not in size or "height" not in size:
        return ""
    channels = size.get("channels", sidecar.get("channels", 1))
    return f"{size['width']}×{size['height']} {'RGB' if channels == 3 else 'gray'}"


def bundled_input() -> str:
    """Describe the photo the bundled model takes, as `input_description` does."""
    return input_description(_bundled_sidecar())


def _bundled_figures() -> str:
    figures = bundled_figures()
    parts = [f"{name} {value:.3f}" for name, value in figures.items()]
    return ", ".join(parts) + (" on held-out right whales" if parts else "")
