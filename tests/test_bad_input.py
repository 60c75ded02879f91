"""Bad input gets one line naming the file, field, option or plugin (exit 1, 2 for usage), never a traceback
and never a silent pass (issue 13: spec and CLI)."""

from __future__ import annotations

import copy

import pytest
import yaml

import serbench
from serbench.bench.spec import load_spec, parse_spec
from serbench.engine.schedules import schedule
from serbench.errors import SerbenchError, SpecError

BASE = {
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 10},
    "models": ["cnn4.tiny"],
    "seeds": [0],
    "attacks": [{"name": "fgsm", "eps": [0.01, 0.02]}],
    "noises": [{"name": "white", "snr": [10, 0]}],
}


def spec_with(**patch):
    data = copy.deepcopy(BASE)
    data.update(patch)
    return data


def refused(data, where: str, *fragments: str) -> str:
    """Parse ``data`` and return the one-line message, asserting it names ``where`` and each fragment."""
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "s.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"s.yaml: {where}:"), msg
    assert "\n" not in msg and all(f in msg for f in fragments), msg
    return msg


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the real console entry point in-process: (exit code, stdout, stderr)."""
    from serbench.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# -- numbers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, where", [
    ("attacks: [{name: fgsm, eps: [0.01, .inf]}]", "attacks[0].eps[1]"),
    ("attacks: [{name: pgd, norm: snr, domain: waveform, eps: [-.inf]}]", "attacks[0].eps[0]"),
    ("noises: [{name: white, snr: [10, .nan]}]", "noises[0].snr[1]"),
    ("noises: [{name: white, snr: [.inf]}]", "noises[0].snr[0]"),
    ("transfer: [{source: {model: cnn4.small}, attack: fgsm, eps: [.nan]}]", "transfer[0].eps[0]"),
])
def test_non_finite_budgets_and_snrs_are_refused(text, where):
    refused(spec_with(**yaml.safe_load(text)), where, "expected a finite number")


@pytest.mark.parametrize("training, where, fragment", [
    ({"batch_size": 0}, "training.batch_size", "must be >= 1, got 0"),
    ({"batch_size": 2.5}, "training.batch_size", "expected an integer, got 2.5"),
    ({"batch_size": True}, "training.batch_size", "expected an integer"),
    ({"iterations": 0}, "training.iterations", "must be >= 1"),
    ({"iterations": 10.5}, "training.iterations", "expected an integer"),
    ({"eval_every": -5}, "training.eval_every", "must be >= 0"),
    ({"lr_step": 0}, "training.lr_step", "must be >= 1"),
    ({"max_epochs": 1.5}, "training.max_epochs", "expected an integer"),
    ({"lr": 0}, "training.lr", "must be > 0"),
    ({"lr": float("nan")}, "training.lr", "finite"),
    ({"lr_decay": 2.0}, "training.lr_decay", "(0, 1]"),
    ({"schedule": "latif2020", "iterations": 0, "max_epochs": 0}, "training.iterations", "must be >= 1"),
])
def test_training_fields_are_checked_with_their_path(training, where, fragment):
    refused(spec_with(training={"iterations": 10, **training}), where, fragment)


def test_an_untrained_model_is_never_a_result():
    with pytest.raises(SerbenchError, match="training.iterations: must be >= 1"):
        schedule("ren2020", iterations=0)
    assert schedule("latif2020", iterations=0).max_epochs == 200  # epochs budget: fine


def test_a_number_yaml_reads_as_text_says_how_to_write_it(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_with()).replace("seconds: 1.0", "seconds: 1e9"))
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    msg = str(exc.value)
    assert "frontend.seconds: expected a number, got '1e9'" in msg and "1000000000" in msg, msg
    written = msg.split("(write ")[1].split(" or ")[0]  # the suggested spelling really is a YAML number
    assert yaml.safe_load(f"x: {written}")["x"] == 1e9
    refused(spec_with(training={"iterations": "1e3"}), "training.iterations", "got '1e3'", "1000")


def test_an_utterance_length_that_cannot_fit_in_memory_is_refused():
    refused(spec_with(frontend={"seconds": 1e9}), "frontend.seconds", "cannot fit in memory", "600")
    assert parse_spec(spec_with(frontend={"seconds": 600}), "s.yaml").seconds == 600


@pytest.mark.parametrize("frontend, fragment", [
    ({"n_fft": -3}, "n_fft must be a positive integer"),
    ({"hop_length": 0}, "hop_length must be a positive integer"),
    ({"n_mels": 2.5}, "n_mels must be a positive integer"),
    ({"win_length": 1024}, "win_length 1024 must be <= n_fft 512"),
    ({"f_max": 9000.0}, "f_max must be in"),
    ({"log_floor": 0.0}, "log_floor must be > 0"),
    ({"top_db": float("inf")}, "top_db must be a finite number"),
])
def test_front_end_sizes_are_checked(frontend, fragment):
    refused(spec_with(frontend={"seconds": 1.0, **frontend}), "frontend", fragment)


# -- duplicates ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("patch, where, same_as", [
    ({"models": ["cnn4.tiny", "cnn4.tiny"]}, "models[1]", "models[0]"),
    ({"models": ["cnn4*", "cnn4.small"]}, "models[1]", "models[0]"),  # after glob expansion
    ({"models": [{"name": "cnn4", "params": {"width": 0.5}}, {"name": "cnn4", "params": {"width": 0.5}}]},
     "models[1]", "models[0]"),
    ({"defenses": ["standard", "standard"]}, "defenses[1]", "defenses[0]"),
    ({"seeds": [0, 1, 0]}, "seeds[2]", "seeds[0]"),
    ({"attacks": [{"name": "fgsm", "eps": [0.01, 0.01]}]}, "attacks[0].eps[1]", "attacks[0].eps[0]"),
    ({"attacks": [{"name": "fgsm", "eps": [0.01]}, {"name": "fgsm", "eps": [0.02, 0.01]}]},
     "attacks[1].eps[1]", "attacks[0].eps[0]"),
    ({"noises": [{"name": "white", "snr": [10, 10]}]}, "noises[0].snr[1]", "noises[0].snr[0]"),
    ({"noises": [{"name": "white", "snr": [10]}, {"name": "*", "snr": [10]}]}, "noises[1].snr[0]",
     "noises[0].snr[0]"),
    ({"dataset": {"name": "synthetic", "folds": [0, 1, 0]}}, "dataset.folds[2]", "dataset.folds[0]"),
    ({"datasets": ["synthetic", "synthetic"]}, "datasets[1]", "datasets[0]"),
    ({"transfer": [{"source": {"model": "cnn4.small"}, "attack": "fgsm", "eps": [0.01]}] * 2},
     "transfer[1].eps[0]", "transfer[0].eps[0]"),
    ({"partitions": ["test", "test"]}, "partitions[1]", "partitions[0]"),
])
def test_duplicate_axis_entries_are_refused_with_their_path(patch, where, same_as):
    if "datasets" in patch:
        patch = {**patch, "dataset": None}
    data = {k: v for k, v in spec_with(**patch).items() if v is not None}
    refused(data, where, "duplicate", f"same as {same_as}")


def test_split_eps_lists_of_one_attack_are_not_duplicates():
    spec = parse_spec(spec_with(attacks=[{"name": "fgsm", "eps": [0.01]}, {"name": "fgsm", "eps": [0.02]}]))
    assert [a.eps for a in spec.attacks] == [(0.01,), (0.02,)]


# -- include ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("base_text, what", [("", "is empty"), ("# nothing\n", "is empty"),
                                             ("- models: [cnn4]\n", "holds a list")])
def test_an_include_that_is_not_a_mapping_is_one_line(tmp_path, base_text, what):
    (tmp_path / "base.yaml").write_text(base_text)
    top = tmp_path / "top.yaml"
    top.write_text("include: base.yaml\nmodels: [cnn4.tiny]\n")
    with pytest.raises(SpecError) as exc:
        load_spec(top)
    msg = str(exc.value)
    assert msg.startswith(f"{top}: include:") and "base.yaml" in msg and what in msg and "\n" not in msg


# -- component params ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, params, fragment", [
    ("cnn4", {"width": -3}, "width must be > 0, got -3"),
    ("cnn5.small", {"width": 0}, "width must be > 0"),
    ("cnn", {"hidden": -1}, "hidden must be > 0"),
    ("densenet", {"growth": 0}, "growth must be > 0"),
    ("densenet-lstm-highway", {"dropout": 1.5}, "dropout must be in [0, 1)"),
    ("vgg16", {"in_channels": 0}, "in_channels must be > 0"),
])
def test_negative_or_zero_model_sizes_are_refused_when_the_spec_is_read(model, params, fragment):
    refused(spec_with(models=[{"name": model, "params": params}]), "models[0]", fragment)
    refused(spec_with(transfer=[{"source": {"model": {"name": model, "params": params}}, "attack": "fgsm",
                                 "eps": [0.01]}]), "transfer[0].source.model", fragment)
    with pytest.raises(SerbenchError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        serbench.get("models", model, **params)  # the factory itself refuses too


def test_fgsm_eta_must_lie_in_zero_to_eps():
    with pytest.raises(SerbenchError, match=r"eta must be in \[0, eps\]"):
        serbench.get("attacks", "fgsm", eps=0.01, eta=-0.001)
    with pytest.raises(SerbenchError, match=r"eta must be in \[0, eps\]"):
        serbench.get("attacks", "fgsm", eps=0.01, eta=0.02)
    assert serbench.get("attacks", "fgsm", eps=0.01, eta=0.005).eta == 0.005
    # every budget of the list is checked, not only the first
    refused(spec_with(attacks=[{"name": "fgsm", "eps": [0.02, 0.005], "params": {"eta": 0.01}}]),
            "attacks[0].eps[1]", "eta must be in [0, eps] = [0, 0.005]")


@pytest.mark.parametrize("name, params, fragment", [
    ("pgd", {"alpha": float("inf")}, "alpha (step size) must be a finite number > 0"),
    ("bim", {"alpha": -0.1}, "alpha (step size) must be a finite number > 0"),
    ("pgd", {"steps": True}, "'steps' expects int"),
    ("pgd", {"steps": 0}, "steps must be a positive integer"),
])
def test_iterative_attack_step_params_are_checked(name, params, fragment):
    refused(spec_with(attacks=[{"name": name, "eps": [0.01], "params": params}]), "attacks[0]", fragment)


# -- broken plugins under globs -----------------------------------------------------------------------------
BROKEN = 'raise ImportError("needs a library that is not installed")\n'


@pytest.mark.parametrize("kind, item", [
    ("noises", {"name": "*", "snr": [10]}),
    ("defenses", "*"),
    ("models", "*"),
])
def test_a_glob_skips_a_broken_plugin_with_a_note_but_a_named_one_fails(installed, kind, item):
    installed("dummy-broken", "dummy_broken", BROKEN, {f"serbench.{kind}": {"test.broken": "dummy_broken:X"}})
    spec = parse_spec(spec_with(**{kind: [item]}, training={"iterations": 5000}), "s.yaml")
    assert any(n.startswith(f"{kind}[0]: skipped 'test.broken'") and "not installed" in n for n in spec.notes)
    kept = [getattr(x, "resolved", x).requested for x in getattr(spec, kind)]
    assert kept and "test.broken" not in kept
    named = {"name": "test.broken", "snr": [10]} if kind == "noises" else "test.broken"
    refused(spec_with(**{kind: [named]}), f"{kind}[0]", "failed to load")


EXITS = """
import sys
sys.exit(3)
"""


def test_a_plugin_calling_sys_exit_on_import_is_reported_broken(installed, capsys):
    installed("dummy-exit", "dummy_exit", EXITS, {"serbench.noises": {"test.exit": "dummy_exit:X"}})
    code, _, err = cli(capsys, "info", "noises", "test.exit")
    line = one_line(err)
    assert code == 1 and "dummy-exit" in line and "called sys.exit(3) on import" in line
    _, broken = serbench.registry("noises").check_all()  # what `serbench doctor` reports
    assert [(b.name, b.error) for b in broken] == [("test.exit", "called sys.exit(3) on import")]


def test_keyboard_interrupt_while_loading_a_plugin_still_propagates(installed):
    installed("dummy-int", "dummy_int", "raise KeyboardInterrupt\n", {"serbench.noises": {"test.int": "dummy_int:X"}})
    with pytest.raises(KeyboardInterrupt):
        serbench.registry("noises").info("test.int")


# -- the CLI ------------------------------------------------------------------------------------------------
def write_spec(path, **patch):
    path.write_text(yaml.safe_dump(spec_with(**patch)))
    return path


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_spec_whose_excludes_drop_every_cell_exits_1(tmp_path, capsys, dry_run):
    spec = write_spec(tmp_path / "s.yaml", exclude=[{"model": "cnn4*"}])
    code, _, err = cli(capsys, "run", str(spec), "--results", str(tmp_path / "r"), "--quiet",
                       *(["--dry-run"] if dry_run else []))
    line = one_line(err)
    assert code == 1 and str(spec) in line and "exclude" in line and "every cell" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("results, fragment", [("file", "is a file, not a directory"),
                                               ("file/sub", "cannot create it")])
def test_run_refuses_a_results_path_it_cannot_write_before_any_compute(tmp_path, capsys, results, fragment):
    (tmp_path / "file").write_text("not a folder")
    spec = write_spec(tmp_path / "s.yaml")
    code, _, err = cli(capsys, "run", str(spec), "--results", str(tmp_path / results), "--quiet")
    line = one_line(err)
    assert code == 1 and "--results" in line and fragment in line


@pytest.mark.parametrize("output, fragment", [("dir", "is a directory"), ("file/out.csv", "cannot write there")])
def test_results_export_refuses_an_output_it_cannot_write(tmp_path, capsys, output, fragment):
    from leaderboard_store import write_store

    write_store(tmp_path / "results")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "results", "export", "--csv", "--results", str(tmp_path / "results"),
                       "-o", str(tmp_path / output))
    line = one_line(err)
    assert code == 1 and "--output" in line and fragment in line
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("out, fragment", [("file", "is a file, not a directory"), ("file/board", "cannot create")])
def test_leaderboard_out_must_be_a_folder_it_can_write(tmp_path, capsys, out, fragment):
    from leaderboard_store import write_store

    write_store(tmp_path / "results")
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / out))
    line = one_line(err)
    assert code == 1 and "--out" in line and fragment in line


@pytest.mark.parametrize("option, value", [("--a-where", "model"), ("--b-where", "=cnn4"), ("--a-where", "model="),
                                           ("--b-where", "modle=cnn4")])
def test_a_malformed_where_is_a_usage_error(tmp_path, capsys, option, value):
    (tmp_path / "results").mkdir()
    code, _, err = cli(capsys, "compare", str(tmp_path / "results"), option, value)
    line = one_line(err)
    assert code == 2 and option in line and repr(value) in line
    assert "FIELD=VALUE" in line or "unknown field" in line


def test_rich_markup_never_eats_a_file_name_or_a_value(tmp_path, capsys):
    spec = write_spec(tmp_path / "[draft]x.yaml", training={"batch_size": 0})
    code, _, err = cli(capsys, "run", str(spec), "--dry-run")
    line = one_line(err)
    assert code == 1 and "[draft]x.yaml: training.batch_size: must be >= 1" in line
    bad = tmp_path / "b.yaml"
    bad.write_text(yaml.safe_dump(spec_with()) + "worst_case: [.nan, .nan]\n")
    code, _, err = cli(capsys, "run", str(bad), "--dry-run")
    assert code == 1 and "got [nan, nan]" in one_line(err)


def test_a_malformed_data_param_is_a_usage_error(capsys):
    code, _, err = cli(capsys, "data", "summary", "synthetic", "--param", "utterances_per_class")
    line = one_line(err)
    assert code == 2 and "--param 'utterances_per_class'" in line and "KEY=VALUE" in line
