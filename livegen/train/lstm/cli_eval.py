"""``livegen eval lstm``: held-out likelihood and continuation metrics of a
checkpoint against a unigram and Kneser-Ney n-gram baselines.

torch is imported inside ``run`` only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from livegen import fileio
from livegen.config import seed_option

HELP = "evaluate a phrase LSTM checkpoint on the held-out split against n-gram baselines"

DEFAULT_CHECKPOINT = Path("livegen/models/lstm/model.pt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from livegen.train.lstm.cli_train import add_data_arguments

    parser.add_argument("checkpoint", type=Path, nargs="?", default=DEFAULT_CHECKPOINT,
                        help=f"checkpoint to evaluate (default {DEFAULT_CHECKPOINT})")
    add_data_arguments(parser)
    parser.add_argument("--orders", default="3,5,7", help="n-gram orders to fit, comma-separated, up to 7 (default 3,5,7)")
    parser.add_argument("--window", type=int, default=256,
                        help="held-out tokens are scored in windows of this many, each from scratch (default 256)")
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help="score only the first N held-out tokens (default all)")
    parser.add_argument("--prompts", type=int, default=100,
                        help="held-out prompts to continue per texture (one line, two voices, chords; default 100)")
    parser.add_argument("--prompt-beats", type=float, default=8.0, help="prompt length in beats (default 8)")
    parser.add_argument("--continue-beats", type=float, default=8.0, help="continuation length in beats (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus mass (default 0.95)")
    parser.add_argument("--key-penalty", type=float, default=3.0,
                        help="nats taken from out-of-key note-ons in the steered runs (default 3)")
    parser.add_argument("--no-copy", type=int, default=8,
                        help="forbid copying runs of this many prompt tokens in the steered runs (default 8)")
    parser.add_argument("--no-safety-net", action="store_true",
                        help="leave out the rows of the LSTM without its sampling safety net")
    parser.add_argument("--seed", type=seed_option, default=0, help="seed of prompt choice and sampling (default 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows[1:]])


def run(args, cfg=None) -> int:
    import torch

    from livegen.core import controls as ctl
    from livegen.core import sampling
    from livegen.errors import ConfigError
    from livegen.train.lstm import dataset
    from livegen.train.lstm import evaluate as ev
    from livegen.train.lstm.cli_train import collections, load_data
    from livegen.train.lstm.corpus import default_cache_dir, is_held_out, music21_pieces, build_midi_dir
    from livegen.train.lstm.model import load_checkpoint

    if args.json:
        fileio.check_output(args.json)
    torch.set_num_threads(1)
    try:
        orders = tuple(int(o) for o in args.orders.split(","))
    except ValueError as err:
        raise ConfigError(f"--orders must be comma-separated integers, got {args.orders!r}") from err
    steered = sampling.SamplingOptions(args.temperature, args.top_p, key_penalty=args.key_penalty,
                                       no_copy=args.no_copy)
    model, blob = load_checkpoint(args.checkpoint)
    t0 = time.monotonic()
    data, info = load_data(args)
    print(f"checkpoint {args.checkpoint}: dims {blob['dims']}, step {blob.get('step')}; held-out: "
          f"{info['held_out_pieces']} pieces, {info['held_out_tokens']} tokens; train: {info['train_tokens']} tokens")

    ngrams: dict = {}
    lik = ev.likelihoods(model, data.train.tokens, data.held_out.tokens, orders=orders,
                         window=args.window, max_tokens=args.max_tokens, ngrams=ngrams,
                         held_controls=data.held_out.controls)
    classes = [c for c in ctl.TEXTURE_CLASSES if c in lik[0].by_texture]
    counts = ev.window_classes(dataset.fixed_windows(
        data.held_out.controls[:args.max_tokens] if args.max_tokens else data.held_out.controls,
        args.window, dtype="float32"))
    rows = [["model", "held-out NLL/token (nats)", "perplexity"]
            + [f"{c} ({int((counts == k).sum())} windows)" for k, c in enumerate(ctl.TEXTURE_CLASSES) if c in classes]]
    rows += [[r.name, f"{r.nll:.4f}", f"{r.perplexity:.3f}"]
             + [f"{r.by_texture[c]:.4f}" if c in r.by_texture else "-" for c in classes] for r in lik]
    print(f"\nLikelihood on the held-out split (windows of {args.window} tokens, each scored from scratch; "
          f"by texture: the windows' mean notes per onset <1.25, <2.25, more)\n" + _table(rows))

    # Answers to held-out prompts of each texture.
    cache = args.cache_dir or default_cache_dir()
    pieces = [] if args.no_corpus else music21_pieces(cache, limit=args.corpus_limit, collections=collections(args))
    for d in args.midi_dir:
        pieces += build_midi_dir(d)
    held = [p for p in pieces if is_held_out(p.name, args.held_out_percent)]
    prompts = ev.make_prompts(held, args.prompts, args.prompt_beats, args.continue_beats, seed=args.seed)
    best = min((o for o in orders), key=lambda o: next(r.nll for r in lik if r.name.startswith(f"{o}-gram")))
    kn = ngrams[best]
    runs = [("real continuation (the piece)", None, None)]
    runs.append(("LSTM (as the daemon: follow the phrase, safety net)", lambda: (ev.lstm_step_fn(model), None),
                 ctl.FOLLOW))
    if not args.no_safety_net:
        runs.append(("LSTM, no safety net", lambda: (ev.lstm_step_fn(model), None), ctl.FOLLOW.with_(safety_net=False)))
    runs.append((f"{best}-gram (no controls)", lambda: (ev.uncontrolled(kn.step_fn()), []),
                 ctl.FOLLOW.with_(safety_net=False)))
    answers = {}
    for name, factory, steering in runs:
        if factory is None:
            answers[name] = [p.truth for p in prompts]
        else:
            answers[name], _ = ev.continue_all(factory, prompts, args.continue_beats, steered, args.seed,
                                               steering=steering, prompt_beats=args.prompt_beats)
    stats = []
    for texture in (*ctl.TEXTURE_CLASSES, "all"):
        idx = [i for i, p in enumerate(prompts) if texture in ("all", p.texture)]
        if not idx:
            continue
        for name, _f, _s in runs:
            stats.append(ev.answer_stats(name, texture, [prompts[i] for i in idx],
                                         [answers[name][i] for i in idx], args.continue_beats))
    rows = [["prompts", "answers", "polyphony (median)", "|register offset| (median)", "density ratio (median)",
             "density 0.67..1.5x", "notes in key", "copies 8+ notes", "no notes"]]
    for s in stats:
        rows.append([f"{s.texture} ({s.count})", s.name, f"{s.polyphony:.2f}", f"{s.register_offset:.1f}",
                     f"{s.density_ratio:.2f}", f"{s.density_in_range:.2f}", f"{s.in_key:.3f}",
                     f"{s.copy_share:.2f}", f"{s.empty_share:.2f}"])
    print(f"\nAnswers to {len(prompts)} held-out prompts ({args.prompt_beats:g} beats prompt, "
          f"{args.continue_beats:g} beats answered; temperature {args.temperature}, top-p {args.top_p}, "
          f"key penalty {args.key_penalty} nats, no-copy {args.no_copy} tokens)\n" + _table(rows))
    daemon = runs[1][0]
    pick = lambda t: next((s for s in stats if s.name == daemon and s.texture == t), None)
    targets = []
    if pick("one line") is not None:
        targets = ev.check_targets(pick("one line"), pick("all"))
        print(f"\nTargets (issue 12), {daemon}:")
        for what, value, op, target, met in targets:
            print(f"  {'met' if met else 'MISSED'}: {what} = {value:.3f} ({op} {target:g})")
    print(f"\n({time.monotonic() - t0:.0f} s)")
    if args.json:
        fileio.write_text(args.json, json.dumps({
            "checkpoint": str(args.checkpoint), "data": info,
            "likelihood": [{"name": r.name, "nll": r.nll, "perplexity": r.perplexity, "by_texture": r.by_texture}
                           for r in lik],
            "answers": [vars(s) for s in stats],
            "targets": [{"what": w, "value": v, "op": o, "target": t, "met": m} for w, v, o, t, m in targets],
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")},
        }, indent=1, default=str))
    return 0
