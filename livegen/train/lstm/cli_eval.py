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
    parser.add_argument("--prompts", type=int, default=100, help="held-out prompts to continue (default 100)")
    parser.add_argument("--prompt-beats", type=float, default=8.0, help="prompt length in beats (default 8)")
    parser.add_argument("--continue-beats", type=float, default=8.0, help="continuation length in beats (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus mass (default 0.95)")
    parser.add_argument("--key-penalty", type=float, default=3.0,
                        help="nats taken from out-of-key note-ons in the steered runs (default 3)")
    parser.add_argument("--no-copy", type=int, default=8,
                        help="forbid copying runs of this many prompt tokens in the steered runs (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of prompt choice and sampling (default 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows[1:]])


def run(args, cfg=None) -> int:
    import torch

    from livegen.core import sampling
    from livegen.errors import ConfigError
    from livegen.train.lstm import evaluate as ev
    from livegen.train.lstm.cli_train import collections, load_data
    from livegen.train.lstm.corpus import default_cache_dir, is_held_out, music21_pieces, build_midi_dir
    from livegen.train.lstm.model import load_checkpoint

    torch.set_num_threads(1)
    try:
        orders = tuple(int(o) for o in args.orders.split(","))
    except ValueError as err:
        raise ConfigError(f"--orders must be comma-separated integers, got {args.orders!r}") from err
    try:
        plain = sampling.SamplingOptions(args.temperature, args.top_p, key_penalty=0.0, no_copy=0)
        steered = sampling.SamplingOptions(args.temperature, args.top_p, key_penalty=args.key_penalty,
                                           no_copy=args.no_copy)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    model, blob = load_checkpoint(args.checkpoint)
    t0 = time.monotonic()
    data, info = load_data(args)
    print(f"checkpoint {args.checkpoint}: dims {blob['dims']}, step {blob.get('step')}; held-out: "
          f"{info['held_out_pieces']} pieces, {info['held_out_tokens']} tokens; train: {info['train_tokens']} tokens")

    ngrams: dict = {}
    lik = ev.likelihoods(model, data.train.tokens, data.held_out.tokens, orders=orders,
                         window=args.window, max_tokens=args.max_tokens, ngrams=ngrams)
    rows = [["model", "held-out NLL/token (nats)", "perplexity"]]
    rows += [[r.name, f"{r.nll:.4f}", f"{r.perplexity:.3f}"] for r in lik]
    print(f"\nLikelihood on the held-out split (windows of {args.window} tokens, each scored from scratch)\n"
          + _table(rows))

    # Continuations of held-out prompts.
    cache = args.cache_dir or default_cache_dir()
    pieces = [] if args.no_corpus else music21_pieces(cache, limit=args.corpus_limit, collections=collections(args))
    for d in args.midi_dir:
        pieces += build_midi_dir(d)
    held = [p for p in pieces if is_held_out(p.name, args.held_out_percent)]
    prompts = ev.make_prompts(held, args.prompts, args.prompt_beats, args.continue_beats, seed=args.seed)
    best = min((o for o in orders), key=lambda o: next(r.nll for r in lik if r.name.startswith(f"{o}-gram")))
    kn = ngrams[best]
    factories = {
        "LSTM": lambda: (ev.lstm_step_fn(model), None),
        f"{best}-gram": lambda: (kn.step_fn(), []),
    }
    from livegen.core import tokens as tk

    truth_tokens = [tk.encode_notes(p.truth) for p in prompts]
    stats = [ev.score_continuations("real continuation (the piece)", prompts, [p.truth for p in prompts],
                                    truth_tokens, args.prompt_beats, args.continue_beats)]
    for name, factory in factories.items():
        for label, opts in (("plain", plain), ("key+no-copy", steered)):
            notes, toks = ev.continue_all(factory, prompts, args.continue_beats, opts, args.seed)
            stats.append(ev.score_continuations(f"{name}, {label}", prompts, notes, toks,
                                                args.prompt_beats, args.continue_beats, copy_run=8))
    rows = [["continuations", "notes in prompt's key", "density / prompt (median)",
             "pitch range / prompt (median)", "copy 8+ prompt tokens", "no notes"]]
    for s in stats:
        rows.append([s.name, f"{s.in_key:.3f}", f"{s.density_ratio:.2f}", f"{s.range_ratio:.2f}",
                     "-" if s.copy_share != s.copy_share else f"{s.copy_share:.2f}", f"{s.empty_share:.2f}"])
    print(f"\nContinuations of {len(prompts)} held-out prompts ({args.prompt_beats:g} beats prompt, "
          f"{args.continue_beats:g} beats continued; temperature {args.temperature}, top-p {args.top_p}; "
          f"steered: key penalty {args.key_penalty} nats, no-copy {args.no_copy})\n" + _table(rows))
    print(f"\n({time.monotonic() - t0:.0f} s)")
    if args.json:
        fileio.write_text(args.json, json.dumps({
            "checkpoint": str(args.checkpoint), "data": info,
            "likelihood": [{"name": r.name, "nll": r.nll, "perplexity": r.perplexity} for r in lik],
            "continuations": [vars(s) for s in stats],
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")},
        }, indent=1, default=str))
    return 0
