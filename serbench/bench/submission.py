"""Submissions: a third party's results for a spec, checked and packed into one bundle a verifier can re-run.

``serbench submit SPEC --results DIR --out BUNDLE`` (:func:`write_bundle`) checks that the results directory
holds every cell the spec expands to, each with an intact (digest, metrics recomputed from predictions) ``ok``
record stating its environment and its components' package versions (plugins installed at those versions), and
writes a bundle: ``BUNDLE.tar.gz`` (a ``.tar.gz``/``.tgz`` name) or a folder (a name without a suffix)::

    manifest.json              serbench version, spec sha256, sha256 of every other file, components, environment
    spec.yaml                  the spec as run (its ``include`` files merged in)
    records/<key>.json         every train and eval record of the spec, as ``serbench results collect`` lays them out
    checkpoints/<key>.pt       each train cell's checkpoint and its ``.pt.sha256`` (unless ``--no-checkpoints``)

``serbench leaderboard --verify BUNDLE --sample N`` (:mod:`serbench.bench.verify_sample`) re-runs a seeded sample
of its eval cells and compares their metrics. The bundle is written under a temporary name and renamed into
place, so a killed ``submit`` leaves no half-written bundle; an existing one is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

import serbench
from serbench.bench.spec import Spec, parse_spec
from serbench.bench.spec_files import read_spec_mapping
from serbench.bench.store import Store
from serbench.errors import SerbenchError

FORMAT = "serbench-submission"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPEC_FILE = "spec.yaml"
TAR_SUFFIXES = (".tar.gz", ".tgz")
COMPONENT_FIELDS = ("name", "version", "package", "package_version")
ENV_FIELDS = ("serbench", "torch", "python", "device", "threads")  # what a record must say about where it ran
ENV_SUMMARY = ("serbench", "torch", "python", "platform", "device", "device_name", "threads", "cpu_capability")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def components_of(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, identity) of every component a record names: its train cell's dataset, model and defense, its
    condition's attack, noise or corruption, a transfer's source model and defense. An identity is a mapping
    holding a ``name`` and some of ``version``, ``package``, ``package_version``."""
    def walk(kind: str, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict):
            if "name" in value and any(f in value for f in COMPONENT_FIELDS[1:]):
                yield kind, value
                return
            for k, v in value.items():
                yield from walk(k, v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(kind, v)

    for part in ("train", "condition"):
        yield from walk(part, record.get(part))


def _installed_version(package: str) -> str | None:
    from importlib import metadata

    if package == "serbench":
        return serbench.__version__
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def component_problem(kind: str, comp: dict[str, Any]) -> str | None:
    """Why a record's component identity does not say, or does not match, what is installed; or None."""
    missing = [f for f in COMPONENT_FIELDS if not comp.get(f)]
    if missing:
        return f"{kind} {comp.get('name')!r} has no {missing[0]} recorded (written by an older serbench)"
    installed = _installed_version(comp["package"])
    if installed is None:
        return (f"{kind} {comp['name']!r} comes from {comp['package']} {comp['package_version']}, which is not "
                f"installed; pip install '{comp['package']}=={comp['package_version']}'")
    if installed != comp["package_version"]:
        return (f"{kind} {comp['name']!r} was computed with {comp['package']} {comp['package_version']} and "
                f"{installed} is installed; install {comp['package_version']} or rerun the spec")
    return None


def env_problem(record: dict[str, Any]) -> str | None:
    env = record.get("env")
    if not isinstance(env, dict):
        return "no environment (env) recorded"
    missing = [f for f in ENV_FIELDS if env.get(f) in (None, "")]
    return f"its environment does not record {missing[0]}" if missing else None


@dataclass
class Checked:
    """A spec's cells found complete in a results store: record paths (train first), train keys, descriptions."""

    spec: Spec
    store: Store
    records: list[dict[str, Any]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    train_keys: list[str] = field(default_factory=list)


def check_results(spec: Spec, store: Store, threads: int | None = None, device_type: str = "cpu") -> Checked:
    """Every cell ``spec`` expands to (planned for ``device_type`` at ``threads`` for ``training.threads: auto``)
    has an intact ok record in ``store`` with its environment and components' versions; else SerbenchError
    naming the first offending cell or record and what to do."""
    from serbench.bench.runner import LocalRunner

    runner = LocalRunner(spec, store, device="cpu", threads=threads, device_type=device_type)
    rerun = f"run `serbench run {spec.path} --results {store.root}`"
    found = Checked(spec, store)
    missing: list[str] = []
    failed: list[str] = []
    for tc, evals in runner.plan():
        found.train_keys.append(tc.key)
        for key, what in [(tc.key, runner.describe_train(tc))] + [(e.key, runner.describe(e)) for e in evals]:
            path = store.record_path(key)
            try:
                record = json.loads(path.read_bytes().decode("utf-8"))
            except FileNotFoundError:
                missing.append(what)
                continue
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SerbenchError(f"{path}: not valid JSON ({str(exc).splitlines()[0]}); {rerun} --force") from None
            problem = store.verify(record)
            if problem is not None:
                raise SerbenchError(f"{path}: invalid record ({what}): {problem}; delete it and {rerun}")
            if record.get("status") != "ok":
                failed.append(f"{what} ({record.get('error') or 'failed'})")
                continue
            problem = env_problem(record)
            for kind, comp in components_of(record):
                problem = problem or component_problem(kind, comp)
            if problem is not None:
                raise SerbenchError(f"{path}: record of {what}: {problem}")
            found.records.append(record)
            found.paths.append(path)
    for problem, cells, hint in (("no record", missing, rerun), ("a failed record", failed,
                                                                  rerun + " --retry-failed")):
        if cells:
            raise SerbenchError(f"{spec.name}: {len(cells)} of its cells have {problem} in {store.root} "
                                f"(first: {cells[0]}); {hint} first")
    return found


def manifest_for(checked: Checked, files: dict[str, str], spec_sha: str) -> dict[str, Any]:
    """The bundle's manifest: what a verifier checks before trusting any file of it."""
    components: dict[str, dict[str, Any]] = {}
    envs: Counter[str] = Counter()
    for rec in checked.records:
        for kind, comp in components_of(rec):
            entry = {"kind": kind, **{f: comp.get(f) for f in COMPONENT_FIELDS}}
            components[json.dumps(entry, sort_keys=True)] = entry
        env = rec.get("env") or {}
        envs[json.dumps({k: env.get(k) for k in ENV_SUMMARY}, sort_keys=True)] += 1
    kinds = Counter(rec.get("kind") for rec in checked.records)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "serbench": serbench.__version__,
        "spec": {"name": checked.spec.name, "file": SPEC_FILE, "sha256": spec_sha},
        "records": {"total": len(checked.records), "train": kinds.get("train", 0), "eval": kinds.get("eval", 0)},
        "checkpoints": sum(1 for name in files if name.startswith("checkpoints/") and name.endswith(".pt")),
        "components": [components[k] for k in sorted(components)],
        "environment": [{**json.loads(k), "records": n} for k, n in sorted(envs.items())],
        "files": dict(sorted(files.items())),
    }


def bundle_kind(out: Path) -> str:
    """``tar`` for a ``.tar.gz``/``.tgz`` name, ``folder`` for a name without a suffix."""
    if out.name.endswith(TAR_SUFFIXES):
        return "tar"
    if not out.suffix:
        return "folder"
    raise SerbenchError(f"--out {out}: a bundle is a .tar.gz file or a folder (a name without a suffix)")


def write_bundle(spec_path: Path, results: Path, out: Path, *, threads: int | None = None, device_type: str = "cpu",
                 checkpoints: bool = True) -> dict[str, Any]:
    """Check ``results`` against the spec at ``spec_path`` and write the submission bundle ``out``; its manifest.

    The spec is bundled as the merged mapping it was read from, and the cells are planned from that bundled
    copy, so a verifier re-reading it finds the same keys."""
    kind = bundle_kind(out)
    if device_type not in ("cpu", "cuda"):
        raise SerbenchError(f"--device-type {device_type!r}: the device type the spec was run on is cpu or cuda")
    if out.exists() or out.is_symlink():
        raise SerbenchError(f"--out {out}: exists; a bundle is never overwritten, choose another name or delete it")
    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run {spec_path} --results {results}` "
                            "first")
    mapping = read_spec_mapping(spec_path)
    if isinstance(mapping, dict) and not mapping.get("name"):
        mapping = {"name": spec_path.stem, **mapping}
    spec_text = yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True).encode()
    spec = parse_spec(yaml.safe_load(spec_text), str(spec_path))
    store = Store(results)
    checked = check_results(spec, store, threads, device_type)
    copies: dict[str, Path] = {f"records/{p.name}": p for p in checked.paths}
    if checkpoints:
        for key in checked.train_keys:
            ckpt, digest = store.checkpoint_path(key), store.checkpoint_digest_path(key)
            if not ckpt.is_file() or not digest.is_file():
                raise SerbenchError(f"{ckpt}: the checkpoint of train cell {key[:12]} is missing; rerun "
                                    f"`serbench run {spec_path} --results {results} --force`, or submit with "
                                    "--no-checkpoints (verifiers then retrain)")
            if sha256_file(ckpt) != digest.read_text().strip():
                raise SerbenchError(f"{ckpt}: does not match its .sha256 digest (damaged); rerun "
                                    f"`serbench run {spec_path} --results {results} --force`")
            copies[f"checkpoints/{ckpt.name}"] = ckpt
            copies[f"checkpoints/{digest.name}"] = digest
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        (tmp / SPEC_FILE).write_bytes(spec_text)
        files = {SPEC_FILE: hashlib.sha256(spec_text).hexdigest()}
        for name, src in copies.items():
            dest = tmp / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            files[name] = sha256_file(dest)
        if checkpoints:  # the copies must still be what the checks saw
            for name in files:
                if name.endswith(".pt") and files[name] != (tmp / f"{name}.sha256").read_text().strip():
                    raise SerbenchError(f"{copies[name]}: changed while it was copied; run submit again")
        manifest = manifest_for(checked, files, files[SPEC_FILE])
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if kind == "folder":
            _publish_folder(tmp, out)
        else:
            _publish_tar(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _publish_folder(tmp: Path, out: Path) -> None:
    if out.exists():
        raise SerbenchError(f"--out {out}: appeared while the bundle was written; nothing overwritten")
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp made it private; the bundle is meant to be shared
    os.rename(tmp, out)


def _publish_tar(tmp: Path, out: Path) -> None:
    """Pack ``tmp``'s files (sorted, owner and times cleared) into ``out`` via a temporary file and a hard link,
    which fails rather than replace a file that appeared meanwhile."""
    fd, part = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(part, "w:gz") as tar:
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                info = tar.gettarinfo(str(path), arcname=path.relative_to(tmp).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                info.mode = 0o644
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
        try:
            os.link(part, out)
        except FileExistsError:
            raise SerbenchError(f"--out {out}: appeared while the bundle was written; nothing overwritten") from None
        except OSError:  # a filesystem without hard links
            if out.exists():
                raise SerbenchError(f"--out {out}: appeared while the bundle was written; nothing overwritten")
            os.replace(part, out)
    finally:
        Path(part).unlink(missing_ok=True)


__all__ = ["Checked", "FORMAT", "MANIFEST", "SPEC_FILE", "bundle_kind", "check_results", "components_of",
           "write_bundle"]
