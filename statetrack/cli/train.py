"""``statetrack train``, ``evaluate`` and ``extract``: learn a language, measure length generalisation, and read an
automaton back out of the trained state (see docs/training.md)."""
from __future__ import annotations

import argparse

from statetrack.vocabulary import BASELINE_MODELS, DEFAULT_KERNEL, GATES, HOUSEHOLDER_KERNELS, LRNN_LAYER_TYPES

from .common import add_json, add_source, check_count, describe_source, emit, eprint, load_source, source_given, table

PRESETS = {
    # Deletang et al. 2023 / Grazzi et al. 2025: train 3..40, one label per word, uniform words
    "chomsky": {"train_lengths": "3:40", "labels": "final"},
    # Merrill et al. 2024 / DeltaProduct: state at every token, words of length 32
    "wordproblem": {"train_lengths": "32:32", "labels": "per-token"},
}


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train an LRNN (or a baseline) on a language",
                              description="Train on fresh uniform samples of a language every step; writes weights, "
                                          "metrics and resumable checkpoints to RUN_DIR.")
    add_source(p, required=False)
    p.add_argument("--labels", choices=["final", "per-token"], help="one label per word, or the DFA state per symbol")
    p.add_argument("--train-lengths", metavar="A:B", help="train lengths, inclusive (default 3:40)")
    p.add_argument("--balance", metavar="F", help="fraction of accepted words, or 'natural' (default natural)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="published protocol (lengths and labels)")
    p.add_argument("--model", choices=[*LRNN_LAYER_TYPES, *BASELINE_MODELS],
                   default="deltanet")
    p.add_argument("--range", dest="eig_range", default="-1,1", metavar="R",
                   help="eigenvalue range of the LRNN transitions: 0,1 or -1,1 (default -1,1)")
    p.add_argument("--gate", choices=("auto",) + GATES, default="auto",
                   help="transition gate: sigmoid (as published) or saturating (exact beta = 2 / sign flips "
                        "reachable); auto = saturating for -1,1 and sigmoid for 0,1 (docs/training.md)")
    p.add_argument("--no-short-conv", action="store_true", help="no short convolutions before the scan")
    p.add_argument("--dt-per-channel", action="store_true",
                   help="diagonal: a step size per state channel (Mamba-1) instead of per head")
    p.add_argument("--state-dim", type=int, default=16, metavar="K", help="diagonal: state rows per head")
    p.add_argument("--gate-penalty", type=float, default=1e-3, metavar="W",
                   help="weight of the penalty that moves unneeded saturating gates to the exact identity (0: none)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--num-householder", type=int, default=2, help="factors per token (deltaproduct)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128, help="global batch size")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3, see docs/training.md)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N", help="checkpoint every N steps")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--kernel", default=DEFAULT_KERNEL, choices=HOUSEHOLDER_KERNELS,
                   help="scan kernel of the LRNN layers (auto: chunked on a CPU, Triton on a GPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument("--force", action="store_true", help="replace an existing run in RUN_DIR (without --resume)")
    p.add_argument("--until-certified", type=int, metavar="N",
                   help="every N steps run `statetrack certify` on the model; stop once it is certified")
    p.add_argument("--restarts", type=int, metavar="R",
                   help="with --until-certified: start again from a fresh initialisation (at most R times, default "
                        "2, while a quarter of --steps is left) when the model is refuted on a training length while "
                        "every saturating gate sits on its clamp (or, with --patience, when it has stalled)")
    p.add_argument("--patience", type=int, metavar="P",
                   help="with --until-certified: a run refuted on a training length at P checks in a row whose loss "
                        "on a fixed batch of training words did not fall by 10%% has stalled and may restart "
                        "(default 0: off)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-o", "--out", required=True, metavar="RUN_DIR")
    add_json(p)
    p.set_defaults(func=run_train)

    e = subparsers.add_parser("evaluate", help="accuracy per length of a run (or a compiled model)",
                              description="Per-length accuracy, scaled accuracy (acc - chance) / (1 - chance) and, for "
                                          "per-token tasks, sequence accuracy; a PNG plot with the train range shaded.")
    _add_model_source(e, "RUN_DIR|MODEL", "a training run directory, a compiled model file")
    e.add_argument("--labels", choices=["final", "per-token"], help="label kind for a compiled model (default final)")
    e.add_argument("--test-lengths", default="40:256", metavar="A:B")
    e.add_argument("--per-length", type=int, default=100, metavar="N")
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--plot", metavar="PNG", help="plot file (default RUN_DIR/accuracy.png for runs)")
    e.add_argument("--kernel", default=DEFAULT_KERNEL, help="kernel of a compiled model")
    e.add_argument("--threads", type=int)
    add_json(e)
    e.set_defaults(func=run_evaluate)

    x = subparsers.add_parser("extract", help="extract an automaton from a trained run",
                              description="Cluster the model's states in the readout-relevant subspace (k by "
                                          "description length), minimise, and decide equivalence with the task.")
    _add_model_source(x, "RUN_DIR", "a training run directory")
    x.add_argument("--words", type=int, default=256, help="random words whose prefixes are probed")
    x.add_argument("--max-length", type=int, help="longest probed prefix (default: longest train length)")
    x.add_argument("--lookahead", type=int, default=1, help="suffix length of the output signature")
    x.add_argument("--subspace", choices=["readout", "pca"], default="readout")
    x.add_argument("--k-max", type=int, default=16)
    x.add_argument("--test-lengths", default="40:256", metavar="A:B")
    x.add_argument("--test-words", type=int, default=200)
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--dot", metavar="FILE", help="DOT picture (default RUN_DIR/extracted.dot)")
    x.add_argument("--threads", type=int)
    add_json(x)
    x.set_defaults(func=run_extract)


def _threads(args: argparse.Namespace) -> None:
    check_count(getattr(args, "threads", None), "--threads", 1)
    check_count(getattr(args, "seed", None), "--seed", 0)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(int(args.threads))


def _range(text: str):
    from statetrack.lrnn.claims.families import parse_range

    return parse_range(text)


def run_train(args: argparse.Namespace) -> int:
    from statetrack.errors import StatetrackError
    from statetrack.automata.suites import parse_balance, parse_length_range
    from statetrack.lrnn import distributed
    from statetrack.lrnn.tasks import Task
    from statetrack.lrnn.train import TrainConfig, train

    _threads(args)
    task = None
    if args.resume and args.force:
        raise StatetrackError("--resume and --force exclude each other")
    if args.resume and source_given(args):
        raise StatetrackError("--resume continues the run's own language; leave out --regex/--dfa/--lang")
    if not args.resume:
        if not distributed.launched() or distributed.env_rank() == 0:  # only rank 0 writes the run
            _check_new_run(args.out, args.force)
        if not source_given(args):
            raise StatetrackError("train: give a language source (--regex, --dfa or --lang)")
        preset = PRESETS.get(args.preset, {})
        labels = args.labels or preset.get("labels", "final")
        if args.preset and args.labels and args.labels != preset["labels"]:
            raise StatetrackError(f"--labels {args.labels} conflicts with --preset {args.preset}")
        lengths = parse_length_range(args.train_lengths or preset.get("train_lengths", "3:40"), "--train-lengths")
        balance = parse_balance(args.balance) if args.balance is not None else "natural"
        task = Task(load_source(args), labels, lengths, balance, describe_source(args))
    cfg = TrainConfig(model=args.model, eigenvalue_range=_range(args.eig_range), layers=args.layers, dim=args.dim,
                      heads=args.heads, num_householder=args.num_householder, steps=args.steps, batch=args.batch,
                      lr=args.lr, weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
                      grad_clip=args.grad_clip, seed=args.seed, checkpoint_every=args.checkpoint_every,
                      device=args.device, kernel=args.kernel, gate=args.gate, short_conv=not args.no_short_conv,
                      dt_per_channel=args.dt_per_channel, state_dim=args.state_dim,
                      gate_penalty=args.gate_penalty)
    ctx = distributed.from_env() if distributed.launched() else None
    stop_when = _until_certified(args, task, ctx)
    try:
        summary = train(task, cfg, args.out, resume=args.resume, progress=not args.no_progress, dist=ctx,  # type: ignore[arg-type]
                        overwrite=args.force, stop_when=stop_when)
    finally:
        if ctx is not None:
            distributed.shutdown()
    if ctx is not None and ctx.rank != 0:
        return 0
    obj = {"run_dir": args.out, **summary}
    if stop_when is not None:
        obj["until_certified"] = stop_when.to_json()
    emit(args, obj, lambda: table([[k, v] for k, v in obj.items()], ["field", "value"]))
    return 0


def _check_new_run(out: str, force: bool) -> None:
    """Refuse (before any work) to start a fresh run over an existing one without --force."""
    import os

    from statetrack.errors import StatetrackError
    from statetrack.fileio import check_output_dir

    check_output_dir(out, "-o", replace=True)
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.isfile(os.path.join(out, "run.json")):
            raise StatetrackError(f"-o {out}: a non-empty directory that is not a run; refusing to write into it")
        if not force:
            raise StatetrackError(f"-o {out}: a run exists there; pass --resume to continue it or --force to "
                                  "replace it")
def _until_certified(args: argparse.Namespace, task, ctx):
    """The ``--until-certified N`` hook (statetrack.lrnn.certify.UntilCertified), or None."""
    from statetrack.errors import StatetrackError

    check_count(args.until_certified, "--until-certified", 1)
    check_count(args.restarts, "--restarts", 0)
    check_count(args.patience, "--patience", 0)
    if args.until_certified is None:
        for flag, value in (("--restarts", args.restarts), ("--patience", args.patience)):
            if value is not None:
                raise StatetrackError(f"{flag} needs --until-certified (restarts follow a refuting certificate)")
        return None
    from statetrack.lrnn.certify import UntilCertified

    if ctx is not None:
        raise StatetrackError("--until-certified runs in a single process (not under torchrun)")
    if task is None:  # --resume: the run's own task
        import os

        from statetrack.lrnn.tasks import Task
        from statetrack.untrusted import expect_dict, parse_json, read_text

        path = os.path.join(args.out, "run.json")
        info = expect_dict(path, parse_json(read_text(path, "json", error=StatetrackError), path,
                                            error=StatetrackError), required=("task",), error=StatetrackError)
        task = Task.from_json(info["task"])
    return UntilCertified(task.dfa, task.labels, task.train_lengths[0], every=args.until_certified,
                          restarts=2 if args.restarts is None else args.restarts, max_length=task.train_lengths[1],
                          patience=args.patience or 0)


def run_evaluate(args: argparse.Namespace) -> int:
    import os

    from statetrack.automata.suites import parse_length_range
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.evaluate import (EVALUATE_MAX_TOKENS, compiled_predictor, compiled_task, evaluate,
                                          model_predictor, plot, plot_available, run_task)
    from statetrack.lrnn.train import load_run

    _threads(args)
    lengths = parse_length_range(args.test_lengths, "--test-lengths")
    if lengths[0] < 1:
        raise StatetrackError(f"--test-lengths {args.test_lengths}: the models read at least one symbol (need A >= 1)")
    check_count(args.per_length, "--per-length", 1)
    tokens = (lengths[0] + lengths[1]) * (lengths[1] - lengths[0] + 1) // 2 * args.per_length
    if tokens > EVALUATE_MAX_TOKENS:
        raise StatetrackError(f"--test-lengths {args.test_lengths} x --per-length {args.per_length} = {tokens} test "
                              f"tokens exceeds the limit EVALUATE_MAX_TOKENS = {EVALUATE_MAX_TOKENS} "
                              "(see docs/security.md)")
    if _is_fla(args):
        model, task = _fla_model(args)
        predict = model_predictor(model)
        train_lengths = None
        plot_path = args.plot
    elif os.path.isdir(args.run):
        if args.labels is not None:
            raise StatetrackError("--labels applies to compiled models; a run has its own labels")
        model, task, info = load_run(args.run)
        if source_given(args):  # score the given language, its symbols paired with the model's by name
            task = run_task(task, load_source(args), describe_source(args))
        predict = model_predictor(model)
        train_lengths = task.train_lengths
        plot_path = args.plot or os.path.join(args.run, "accuracy.png")
    else:
        task = compiled_task(args.run, args.labels or "final", load_source(args) if source_given(args) else None)
        predict = compiled_predictor(args.run, task, kernel=args.kernel)
        train_lengths = None
        plot_path = args.plot
    if plot_path:
        from statetrack.fileio import check_output_file

        check_output_file(plot_path, "--plot")
    result = evaluate(predict, task, lengths, per_length=args.per_length, seed=args.seed, progress=not args.json)
    if plot_path and not plot_available():
        result["plot"] = None
        result["plot_skipped"] = "matplotlib is not installed"
        eprint(f"statetrack: no plot written ({plot_path}): matplotlib is not installed "
               "(pip install 'statetrack[plot]' or matplotlib)")
        plot_path = None
    elif plot_path:
        plot(result, plot_path, train_lengths)
        result["plot"] = plot_path

    def text() -> str:
        seq = task.labels == "per-token"
        rows = [[t, f"{r['accuracy']:.4f}", f"{r['scaled_accuracy']:.4f}"]
                + ([f"{r['sequence_accuracy']:.4f}"] if seq else []) for t, r in result["per_length"].items()]
        head = ["length", "accuracy", "scaled"] + (["sequence"] if seq else [])
        return (table(rows, head) + f"\naccuracy {result['accuracy']:.4f}, scaled accuracy "
                f"{result['scaled_accuracy']:.4f}" + (f"\nplot: {plot_path}" if plot_path else ""))

    emit(args, result, text)
    return 0


def _add_model_source(p: argparse.ArgumentParser, metavar: str, what: str) -> None:
    """The model argument of evaluate/extract (a run, ..., or an fla checkpoint with ``--token-map``) and an optional
    language source."""
    p.add_argument("run", metavar=metavar, help=f"{what}, or an fla checkpoint folder (with --token-map and a "
                                               "language source)")
    add_source(p, required=False)
    p.add_argument("--token-map", metavar="FILE", help="fla checkpoints: which token is which symbol and class "
                                                       "(docs/fla.md)")


def _is_fla(args: argparse.Namespace) -> bool:
    from statetrack.lrnn.fla_checkpoint import is_fla_checkpoint

    return is_fla_checkpoint(args.run)


def _fla_model(args: argparse.Namespace):
    """An fla checkpoint as a model of the given language, read through ``--token-map``."""
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.fla_checkpoint import fla_model_for_language

    if args.token_map is None or not source_given(args):
        raise StatetrackError(f"{args.run} is an fla checkpoint: give --token-map (which token is which symbol and "
                              "class) and the language (--lang, --regex or --dfa)")
    if getattr(args, "labels", None) is not None:
        raise StatetrackError("--labels does not apply to fla checkpoints: the token map says the label kind")
    return fla_model_for_language(args.run, args.token_map, load_source(args), describe_source(args))


def run_extract(args: argparse.Namespace) -> int:
    import os

    from statetrack.fileio import atomic_write_text, check_output_file
    from statetrack.automata.formats import dfa_to_dot
    from statetrack.automata.suites import parse_length_range
    from statetrack.lrnn.extract import EXTRACT_MAX_LENGTH, extract
    from statetrack.lrnn.evaluate import run_task
    from statetrack.lrnn.train import load_run

    _threads(args)
    for option, value, least in (("--words", args.words, 1), ("--test-words", args.test_words, 1),
                                 ("--lookahead", args.lookahead, 0), ("--k-max", args.k_max, 1)):
        check_count(value, option, least)
    check_count(args.max_length, "--max-length", 1, EXTRACT_MAX_LENGTH, "EXTRACT_MAX_LENGTH")
    test_lengths = parse_length_range(args.test_lengths, "--test-lengths")
    check_count(test_lengths[0], "--test-lengths", 1)
    check_count(test_lengths[1], "--test-lengths", 1, EXTRACT_MAX_LENGTH, "EXTRACT_MAX_LENGTH")
    dot_path = args.dot or os.path.join(args.run, "extracted.dot")
    check_output_file(dot_path, "--dot")
    if _is_fla(args):
        model, task = _fla_model(args)
    else:
        model, task, _ = load_run(args.run)
        if source_given(args):  # the given language, its symbols paired with the model's by name
            task = run_task(task, load_source(args), describe_source(args))
    res = extract(model, task, n_words=args.words, max_length=args.max_length, lookahead=args.lookahead,
                  subspace=args.subspace, k_max=args.k_max, test_lengths=test_lengths,
                  test_words=args.test_words, seed=args.seed)
    atomic_write_text(dot_path, dfa_to_dot(res.dfa, "extracted"))
    obj = {**res.to_json(), "dot": dot_path}

    def text() -> str:
        verdict = ("the extracted automaton is the language" if res.equivalent else
                   f"not the language; shortest counterexample: {obj['counterexample']!r}")
        return (f"{verdict}\nstates {res.states} (k = {res.k} clusters over {res.prefixes} prefixes, fit "
                f"{obj['fit']:.4f})\n"
                f"agreement with the model on long words {res.agreement:.4f}, accuracy {res.accuracy:.4f}\n"
                f"DOT: {dot_path}")

    emit(args, obj, text)
    return 0 if res.equivalent else 1
