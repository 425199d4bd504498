"""The ``audiomnist`` command: argument parsing, seeding, device choice, progress.

``--json`` prints one JSON document on stdout and nothing else there (progress goes to
stderr). Bad input is one line on stderr and exit status 1; no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DEFAULT_SYNTH_STYLE, SYNTH_STYLES
from .errors import AudiomnistError


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _log(*args, **kwargs) -> None:
    kwargs.setdefault("file", sys.stderr)
    print(*args, **kwargs)


def _open_run(args):
    from .runs import open_run

    return open_run(args.profile, args.data, fit=args.fit, log=_log)


# --- data ---------------------------------------------------------------------------------

def cmd_data_fetch(args) -> int:
    from .data import fetch

    folder = fetch(args.root, url=args.url)
    _log(f"AudioMNIST is ready in {folder}")
    return 0


def cmd_data_synth(args) -> int:
    from .data import synthesize

    folder = synthesize(args.root, speakers=args.speakers, reps=args.reps, seed=args.seed, style=args.style)
    _log(f"synthetic corpus written to {folder}")
    return 0


def cmd_data_verify(args) -> int:
    from .config import load_profile
    from .data import verify
    from .runs import DEFAULT_PROFILE

    pre = load_profile(args.profile or os.environ.get("AUDIOMNIST_PROFILE") or DEFAULT_PROFILE).preprocess
    report = verify(args.root, fit=args.fit or pre.fit, strict=args.strict, sample_rate=pre.sample_rate)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0 if report.ok else 1


def cmd_data_splits(args) -> int:
    from . import splits

    if args.root is None:
        folds = splits.paper_folds(args.task)
    else:
        from .data import recorded_genders

        genders = recorded_genders(args.root)  # the speakers present, for a partial corpus
        folds = splits.folds(genders, args.task, seed=args.seed)
    doc = {"task": args.task, "folds": [f.to_dict() for f in folds]}
    if args.json:
        _print_json(doc)
    else:
        for k, f in enumerate(folds):
            print(f"fold {k}: train {f.train}  validation {f.validation}  test {f.test}")
    return 0


# --- experiments --------------------------------------------------------------------------

def cmd_train(args) -> int:
    from . import steps

    run = _open_run(args)
    steps.train_profile(run, model=args.model, task=args.task, fold=args.fold, device=args.device)
    return 0


def cmd_table1(args) -> int:
    from . import report
    from .steps import training

    run = _open_run(args)
    rows = report.table1(run)
    if args.json:
        _print_json({"rows": rows, "stamp": run.stamp(**training.STEP.provenance())})
    else:
        print(report.format_table1(rows))
    return 0


def cmd_perturb(args) -> int:
    from . import steps

    run = _open_run(args)
    result = steps.perturb_profile(run, device=args.device)
    if args.json:
        _print_json(result)
    else:
        print(json.dumps(result, indent=2))
    return 0


def cmd_benchmark(args) -> int:
    from . import report
    from .steps import benchmark

    run = _open_run(args)
    result = benchmark.benchmark_profile(run, device=args.device)
    if args.json:
        _print_json(result)
    else:
        print(report.format_benchmark(result))
    return 0


def cmd_jobs(args) -> int:
    from . import steps

    run = _open_run(args)
    listing = steps.describe_jobs(run)
    if args.json:
        _print_json(listing)
    else:
        for job in listing["jobs"]:
            after = f" (after {', '.join(map(str, job['depends']))})" if job["depends"] else ""
            print(f"{job['index']:4d}  {job['stage']:8s}  {job['name']}{after}")
        print("arrays: " + ", ".join(f"{stage} {spec}" for stage, spec in listing["arrays"].items()))
    return 0


def cmd_run_job(args) -> int:
    from . import steps

    run = _open_run(args)
    steps.run_job(run, args.index, device=args.device)
    return 0


def _voice_doc(entry: dict) -> dict:
    """An entry of ``steps.voice.explain_files`` as JSON: arrays as flat lists in the input's layout."""
    results = {
        name: {"prediction": r["prediction"], "label": r["label"], "probabilities": r["probabilities"].tolist(),
               "shape": r["shape"], "input": r["input"].ravel().tolist(), "relevance": r["relevance"].ravel().tolist(),
               "composite": r["composite"]}
        for name, r in entry["results"].items()
    }
    return {**{k: v for k, v in entry.items() if k != "results"}, "results": results}


def _voice_line(name: str, r: dict) -> str:
    probs = ", ".join(f"{c} {p:.3f}" for c, p in zip(r["classes"], r["probabilities"]))
    rel, x = r["relevance"], r["input"]
    return (f"  {name}: {r['label']} (probabilities: {probs}); input {tuple(r['shape'])} in [{x.min():.3g}, {x.max():.3g}]; "
            f"relevance of {r['label']}: sum {rel.sum():.3g}, max {rel.max():.3g}")


def cmd_explain(args) -> int:
    from .steps import voice

    run = _open_run(args)
    entries = voice.explain_files(run, args.files, model=args.model, task=args.task)
    if args.json:
        from .steps.training import STEP

        _print_json({"files": [_voice_doc(e) for e in entries], "fold": voice.FOLD, "run": run.label(),
                     "stamp": {k: v for k, v in run.stamp(code=STEP.code_hash()).items() if k != "config"}})
        return 0
    for e in entries:
        print(f"{e['file']} ({e['sample_rate']} Hz; {e['length'] / 8000:.3f} s kept, centred at sample {e['offset']}):")
        for name, r in e["results"].items():
            print(_voice_line(name, {**r, "classes": voice.LABELS[name.split("/")[1]]}))
    return 0


def cmd_export_web(args) -> int:
    from .steps import voice

    run = _open_run(args)
    voice.export_web(run, args.output, log=_log)
    return 0


def cmd_book(args) -> int:
    from . import book

    return book.build(profile=args.profile, data=args.data, fit=args.fit, log=_log, output=args.output)


def cmd_retarget(args) -> int:
    from .book import colab
    from .runs import repo_root

    changed = colab.retarget(repo_root(), args.name, args.branch)
    url, branch = colab.repository(repo_root())
    for path in changed:
        _log(f"rewrote {path.relative_to(repo_root())}")
    _log(f"the book now names {url} (branch {branch}): launch buttons and every chapter's install cell"
         + ("" if changed else "; nothing needed changing"))
    return 0


def cmd_bench(args) -> int:
    from . import bench

    result = bench.run_all(only=args.only, log=_log)
    if args.json:
        _print_json(result)
    else:
        print(bench.summary(result))
    return 0


# --- parser -------------------------------------------------------------------------------

def _profile_args(p: argparse.ArgumentParser, *, device: bool = False) -> None:
    p.add_argument("--profile", default=None, help="profile name (smoke, quick, paper) or path to a YAML file; default $AUDIOMNIST_PROFILE or 'quick'")
    p.add_argument("--data", default=None, help="audiomnist, synthetic, auto, or a folder in AudioMNIST's layout; default: the profile's")
    p.add_argument("--fit", default=None, metavar="MODE",
                   help="preprocess.fit for recordings over one second: error (the paper's: stop, naming the file), "
                        "trim (cut leading and trailing silence) or trim_crop (then keep the loudest second); "
                        "default $AUDIOMNIST_FIT or the profile's. A fit other than error has its own runs/ folder")
    if device:
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps; default: the profile's ('auto': CUDA, then MPS, then CPU)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiomnist",
        description="Reproduce Becker et al., 'Interpreting and explaining deep neural networks for "
        "classification of audio signals' (AudioMNIST): data, training, LRP, manipulations, the book.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="get, make, check and split a corpus").add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = data.add_parser("fetch", help="download AudioMNIST at a pinned commit, verified and resumable")
    p.add_argument("--root", type=Path, default=None, help="target folder (default: data/audiomnist in the checkout)")
    p.add_argument("--url", default=None, help="archive URL (default: $AUDIOMNIST_URL or the pinned GitHub archive)")
    p.set_defaults(func=cmd_data_fetch)

    p = data.add_parser("synth", help="speak the offline corpus with espeak-ng in AudioMNIST's layout")
    p.add_argument("--root", type=Path, required=True, help="target folder; the corpus goes to ROOT/data")
    p.add_argument("--speakers", type=int, default=60, help="number of speakers, 1..60 (AudioMNIST's ids and genders; default 60)")
    p.add_argument("--reps", type=int, default=50, help="repetitions per digit, 1..50 (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed: the same arguments give byte-identical files")
    p.add_argument("--style", choices=SYNTH_STYLES, default=DEFAULT_SYNTH_STYLE,
                   help="realistic (default): room noise, reverberation, gain, DC offsets, hum, silence and breaths "
                        "around the word, as real recordings have; clean: the word alone with light noise")
    p.set_defaults(func=cmd_data_synth)

    p = data.add_parser("verify", help="integrity report: problems (exit 1) and notes on the corpus' shape (exit 0)")
    p.add_argument("--root", type=Path, required=True, help="corpus folder (holding data/ or the speaker folders)")
    p.add_argument("--profile", default=None,
                   help="the profile whose preprocess.sample_rate and preprocess.fit the corpus is checked for "
                        "(default $AUDIOMNIST_PROFILE or 'quick')")
    p.add_argument("--fit", default=None, metavar="MODE",
                   help="the fit rule, in place of the profile's preprocess.fit: error (the paper's: a recording "
                        "longer than the networks' 8000 samples is a problem), trim or trim_crop (those recordings "
                        "are counted in a note)")
    p.add_argument("--strict", action="store_true",
                   help="hold the corpus to AudioMNIST's exact shape (60 speakers, 10 digits x 50 repetitions, "
                        "48 kHz): what are notes otherwise become problems")
    p.add_argument("--json", action="store_true", help="print the report (problems and notes) as one JSON document")
    p.set_defaults(func=cmd_data_verify)

    p = data.add_parser("splits", help="speaker-disjoint folds (the paper's for AudioMNIST's roster)")
    p.add_argument("--task", choices=("digits", "gender"), required=True)
    p.add_argument("--root", type=Path, default=None, help="corpus whose metadata decides the folds; default: the paper's AudioMNIST folds")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds of a corpus with another roster")
    p.add_argument("--json", action="store_true", help="print {task, folds: [{train, validation, test}]}")
    p.set_defaults(func=cmd_data_splits)

    p = sub.add_parser("train", help="train one model/task/fold, or every run the profile lists (finished runs are "
                       "skipped, interrupted ones resume, one that another process trains is left to it)")
    _profile_args(p, device=True)
    p.add_argument("--model", choices=("alexnet", "audionet"), default=None)
    p.add_argument("--task", choices=("digits", "gender"), default=None)
    p.add_argument("--fold", type=int, default=None, help="fold index (digits 0..4, gender 0..3 on AudioMNIST)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("table1", help="Table 1: test accuracy mean and std per model x task, the paper's beside")
    _profile_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else there")
    p.set_defaults(func=cmd_table1)

    p = sub.add_parser("perturb", help="Section 3.3: frequency scaling and zeroing curves")
    _profile_args(p, device=True)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else there")
    p.set_defaults(func=cmd_perturb)

    p = sub.add_parser("benchmark", help="attribution methods under the paper's zeroing test and the randomisation "
                       "test, per model x task x fold (cached; a changed model, method or code recomputes)")
    _profile_args(p, device=True)
    p.add_argument("--json", action="store_true",
                   help="print {methods, fractions, headline_axis, level, results: [{method, model, task, folds, "
                        "curves, auc (log fraction axis), auc_mean, auc_std, auc_ci, auc_linear, auc_linear_ci, "
                        "vs_lrp {p, n}, drop_at_1pct, randomization_spearman, randomization_topk, randomization_ssim, "
                        "cost_vs_gradient}], stamp}")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("jobs", help="the profile's work as independent jobs in dependency order: train jobs "
                       "(model x task x fold), then analysis jobs (relevance, zeroing, frequency scaling per fold)")
    _profile_args(p)
    p.add_argument("--json", action="store_true",
                   help="print {profile, data, jobs: [{index, stage, name, depends}], arrays: {stage: 'first-last'}}")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("run-job", help="run one job of `audiomnist jobs` (a cluster array task; finished work is "
                       "reused, a run another worker trains is waited for); scripts/slurm/ submits them all")
    _profile_args(p, device=True)
    p.add_argument("--index", type=int, required=True, help="the job's index in `audiomnist jobs`")
    p.set_defaults(func=cmd_run_job)

    p = sub.add_parser("explain", help="explain wav files with the run's trained networks (fold 0): per file and "
                       "model x task the prediction, class probabilities, network input and relevance of the prediction")
    _profile_args(p)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="mono 16-bit PCM wav files, any sample rate")
    p.add_argument("--model", choices=("alexnet", "audionet"), default=None)
    p.add_argument("--task", choices=("digits", "gender"), default=None)
    p.add_argument("--json", action="store_true",
                   help="print {files: [{file, sample_rate, offset, length, trimmed, cropped, results: {model/task: "
                        "{prediction, label, probabilities, shape, input, relevance, composite}}}], fold, run, stamp}; "
                        "input and relevance flat in the input's layout")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("export-web", help="the run's trained networks (fold 0) and their LRP pass as ONNX for the "
                       "book's page, checked against the library, with the preprocessing constants and the run's stamp")
    _profile_args(p)
    p.add_argument("--output", type=Path, default=None, help="folder to write; default runs/<profile>-<data>/web")
    p.set_defaults(func=cmd_export_web)

    p = sub.add_parser("book", help="execute every chapter with the profile, then build the HTML book (what `make book` runs)")
    _profile_args(p)
    p.add_argument("--output", type=Path, default=None,
                   help="folder that receives _build/ (executed chapters and html); default: the checkout")
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("retarget", help="point the book at another GitHub repository (a fork): _config.yml's "
                       "repository, the launch buttons, and every chapter's Colab install cell")
    p.add_argument("name", metavar="OWNER/NAME", help="the repository on GitHub, e.g. me/audiomnist-book")
    p.add_argument("--branch", default=None, help="the branch that Colab clones (default: the configured one)")
    p.set_defaults(func=cmd_retarget)

    p = sub.add_parser("bench", help="performance ratios measured side by side in one run (each pair interleaved "
                       "ABBA, medians; the JSON names the headline figures and holds every timing)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else there")
    p.add_argument("--only", action="append", default=None, metavar="CASE",
                   help="run only this benchmark (repeatable): preprocess, train (efficiencies and the "
                        "projected time of the paper profile), lrp, perturb, benchmark (the projected minutes of the "
                        "quick profile's method benchmark), dft, scale (preprocessing and one evaluation at 1,000 to 16,000 "
                        "recordings: growth, peak memory, the paper's 30,000 projected); real (opt-in: the quick "
                        "digit models trained and tested on FSDD's real speakers, about half an hour)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads that spin steal the cores of shared machines (and of our own
    # data-loading threads); torch reads this when it loads, which happens after this line.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AudiomnistError as e:
        print(f"audiomnist: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout closed early (`audiomnist ... | head`): not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("audiomnist: interrupted; finished artifacts are kept and the next run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
