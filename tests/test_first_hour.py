"""The first hour with `elang-sk` (issue 19): fast help, one-line errors
that say what to do, arguments checked before any work, per-pair report
folders, progress where a log sees it, and timings that say where they
come from."""

import json
import subprocess
import sys
import textwrap

import pytest

from elang_sk import __main__ as cli


def _run_python(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["predict", "--help"],
        ["list", "--help"],
        ["run", "--threshold", "sometimes"],
        ["run", "--device", "gpu"],
        ["predict", "--model", "m"],
    ],
    ids=" ".join,
)
def test_help_and_usage_errors_do_not_import_the_heavy_stack(argv):
    """The parser is built from light modules: no torch, transformers, Ray."""
    result = _run_python(
        f"""
        import sys
        from elang_sk.__main__ import main
        try:
            main({argv!r})
        except SystemExit as exc:
            print("exit", exc.code)
        heavy = [m for m in ("torch", "transformers", "ray") if m in sys.modules]
        print("heavy", heavy)
        """
    )
    assert "heavy []" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    expected = "exit 0" if "--help" in argv else "exit 2"
    assert expected in result.stdout


@pytest.mark.parametrize(
    "argv, value",
    [
        (["run", "--threshold", "-inf"], -float("inf")),
        (["run", "--threshold=-inf"], -float("inf")),
        (["run", "--threshold", "-1.5"], -1.5),
        (["run", "--threshold", "inf"], float("inf")),
        (["run", "--threshold", "risk_control"], "risk_control"),
        (["predict", "--model", "m", "--input", "i.csv", "--output", "o.csv",
          "--threshold", "-inf"], -float("inf")),
    ],
)  # fmt: skip
def test_threshold_minus_inf_is_a_value(argv, value):
    """`--threshold -inf` and `--threshold=-inf` both parse, as a number."""
    args = cli._parser().parse_args(cli.join_negative_values(argv))
    assert args.threshold == value


def test_run_threshold_offers_every_strategy(capsys):
    """`run --help` lists every strategy, --target and --delta."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for strategy in cli.THRESHOLD_STRATEGIES:
        assert strategy in out
    assert "--target" in out and "--delta" in out and "--overwrite" in out


@pytest.fixture
def captured_protocol(monkeypatch):
    """``run_protocol`` replaced by a recorder: what `elang-sk run` passes."""
    import elang_sk._protocol as protocol

    calls = []

    def fake_run_protocol(**kwargs):
        calls.append(kwargs)
        return {}

    monkeypatch.setattr(protocol, "run_protocol", fake_run_protocol)
    monkeypatch.setattr(protocol, "format_markdown", lambda report: "report")
    return calls


def test_run_passes_strategy_target_tol_delta(captured_protocol):
    """--threshold, --target, --tol and --delta reach the protocol."""
    argv = ["run", "--threshold", "risk_control", "--tol", "0.02", "--delta", "0.05"]
    assert cli.main(argv) == 0
    (kwargs,) = captured_protocol
    assert kwargs["threshold"] == "risk_control"
    assert (kwargs["tol"], kwargs["delta"], kwargs["target"]) == (0.02, 0.05, None)
    assert cli.main(["run", "--threshold", "swift_ratio", "--target", "0.7"]) == 0
    assert captured_protocol[-1]["target"] == 0.7
    assert captured_protocol[-1]["tol"] is None  # the strategy's own default


def test_output_defaults_to_one_folder_per_dataset_and_pair(captured_protocol):
    """Without --output, each dataset and pair has its own report folder."""
    assert cli.main(["run", "--dataset", "trec", "--swift", "./models/tiny/"]) == 0
    assert captured_protocol[-1]["output"] == (
        "elang_output/trec__tiny__all-mpnet-base-v2"
    )
    assert captured_protocol[-1]["overwrite"] is False
    assert cli.main(["run", "--output", "mine", "--overwrite"]) == 0
    assert captured_protocol[-1]["output"] == "mine"
    assert captured_protocol[-1]["overwrite"] is True


def _no_work(monkeypatch):
    """Make any loading of a split fail: the checks must come first."""
    import elang_sk.datasets as datasets

    def load_dataset(*args, **kwargs):
        raise AssertionError("a split was loaded before the arguments were checked")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def _error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("elang-sk: error: "), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("device, name", [("cuda", "CUDA"), ("mps", "MPS")])
def test_unavailable_device_is_one_line(device, name, monkeypatch, capsys, tmp_path):
    """--device cuda (or mps) without one: one line, before any work."""
    torch = pytest.importorskip("torch")
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("MPS is available here")
    _no_work(monkeypatch)
    argv = ["run", "--device", device, "--output", str(tmp_path / "out")]
    assert cli.main(argv + ["--data-home", str(tmp_path)]) == 2
    err = _error(capsys)
    assert f"--device {device} asks for" in err and f"{name} is not available" in err
    assert "Use --device cpu, or --device auto" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--swift", "./no/such/model"], "--swift './no/such/model': no such folder"),
        (["--super", "~/no-such-model"], "--super '~/no-such-model': no such folder"),
        (["--threshold", "swift_ratio"], "needs a target"),
        (["--threshold", "budget"], "needs a target"),
        (["--threshold", "swift_ratio", "--target", "3"], "in [0, 1]"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    ],
)
def test_bad_arguments_fail_before_any_work(argv, message, monkeypatch, capsys):
    """Missing model folders and incomplete strategies are refused at once."""
    pytest.importorskip("torch")
    _no_work(monkeypatch)
    assert cli.main(["run", "--device", "cpu", *argv]) == 2
    assert message in _error(capsys)


def test_files_where_folders_are_needed(tmp_path, monkeypatch, capsys):
    """A model, data home or output that is a file, or a folder that is no
    model: named, with what to pass instead."""
    pytest.importorskip("torch")
    _no_work(monkeypatch)
    afile = tmp_path / "afile"
    afile.write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [
        (["--swift", str(afile)], "is a file, not a model folder"),
        (["--swift", str(tmp_path / "empty")], "is a folder without config.json"),
        (["--data-home", str(afile)], "--data-home"),
        (["--output", str(afile)], "--output"),
        (["--output", str(afile / "below")], "cannot be created there"),
    ]
    for argv, message in cases:
        assert cli.main(["run", "--device", "cpu", *argv]) == 2
        assert message in _error(capsys)


def test_report_of_another_configuration_is_kept(tmp_path, monkeypatch, capsys):
    """An output folder with another run's report is refused, unless
    --overwrite; the refusal comes before any work."""
    pytest.importorskip("torch")
    _no_work(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"dataset": "trec", "swift": "a"}))
    argv = ["run", "--device", "cpu", "--output", str(out)]
    assert cli.main(argv) == 2
    err = _error(capsys)
    assert (
        "holds the report of another run (dataset 'trec' there, 'movie_snippets' "
        "now; swift 'a' there, 'all-MiniLM-L6-v2' now)" in err
    )
    assert "--overwrite to replace it" in err
    with pytest.raises(AssertionError, match="a split was loaded"):
        cli.main([*argv, "--overwrite"])  # past the checks: work starts


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    """A bug is not disguised as a one-line usage error."""
    import elang_sk._protocol as protocol

    def broken(**kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(protocol, "run_protocol", broken)
    with pytest.raises(KeyError, match="bug"):
        cli.main(["run"])


def test_missing_optional_package_says_how_to_install(monkeypatch, capsys):
    """An ImportError of an optional package: one line, with the pip command."""
    import elang_sk._protocol as protocol

    def no_matplotlib(**kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(protocol, "run_protocol", no_matplotlib)
    assert cli.main(["run"]) == 2
    err = _error(capsys)
    assert "pip install 'elang-sk[plot]', or pass --no-plots" in err


def test_progress_lines_name_model_and_split(capsys, monkeypatch):
    """Off a terminal, the protocol writes progress lines a log can show."""
    from elang_sk._protocol import _Progress

    progress = _Progress(quiet=False, every=0.0, terminal=False)
    progress.split = "train features"
    report = progress.for_model("Super all-mpnet-base-v2")
    for done in (0, 600, 1200, 6363):
        report(done, 6363)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"[elang-sk] Super all-mpnet-base-v2: train features {n}/6363"
        for n in (600, 1200, 6363)
    ]
    slow = _Progress(quiet=False, every=30.0, terminal=False).for_model("Swift m")
    for done in (0, 8, 16):
        slow(done, 16)
    assert capsys.readouterr().err.splitlines() == [
        "[elang-sk] Swift m: inputs 16/16"  # only the end within 30 s
    ]
    quiet = _Progress(quiet=True, every=0.0, terminal=False).for_model("Swift m")
    quiet(0, 4)
    quiet(4, 4)
    assert capsys.readouterr().err == ""


def test_timings_say_when_they_were_measured(tmp_path):
    """The timings' source is in the report and the log line."""
    from elang_sk._protocol import _Timings, _timings_line, _timings_sentence

    path = str(tmp_path / "timings.json")
    first = _Timings(path)
    first.get(("predict", "a"), lambda: 0.5)
    assert first.source()["origin"] == "measured now"
    assert _timings_line(first.source()) == "timings measured now"
    again = _Timings(path)
    assert again.get(("predict", "a"), lambda: 9.0) == 0.5
    source = again.source()
    assert source["origin"] == "reused" and source["cache"] == path
    date = source["measured_on"]
    assert date[:4].isdigit() and "T" in date
    assert _timings_line(source) == (
        f"reusing timings measured on {date} (pass --retime to measure again)"
    )
    assert f"measured on {date}" in _timings_sentence(source)
    assert "--retime" in _timings_sentence(source)
    retimed = _Timings(path, retime=True)
    assert retimed.get(("predict", "a"), lambda: 0.25) == 0.25
    assert retimed.source()["origin"] == "measured now"
    # Timings stored before the dates were: reused, date unknown.
    with open(path, "w") as fh:
        json.dump({next(iter(retimed.values)): 0.125}, fh)
    old = _Timings(path)
    assert old.get(("predict", "a"), lambda: 1.0) == 0.125
    assert "date not recorded" in _timings_line(old.source())
