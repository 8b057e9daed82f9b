"""``livegen`` command line: global options, then one subcommand (see livegen.commands)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from livegen import __version__, config
from livegen.commands import COMMANDS, RENAMED
from livegen.errors import LivegenError

log = logging.getLogger("livegen")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livegen",
        description="Play live with neural music models from a DAW: an LSTM jam partner "
                    "and a neural synth (a frame-rate WaveNet driving harmonics and noise) on virtual MIDI ports.")
    parser.add_argument("--version", action="version", version=f"livegen {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: ./config.toml, else "
                             "$XDG_CONFIG_HOME/livegen/config.toml, else the built-in defaults)")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                        dest="overrides", help="override one config value; may be repeated")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)}
    modules = dict(COMMANDS)
    for words, module_name in COMMANDS + [(old, modules[new]) for old, new in RENAMED.items()]:
        module = importlib.import_module(module_name)
        for depth in range(1, len(words)):  # intermediate words ("train" in "train lstm")
            prefix = words[:depth]
            if prefix not in groups:
                group = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{' '.join(prefix)} ...")
                groups[prefix] = group.add_subparsers(dest=f"command_{depth}", metavar="WHAT",
                                                      required=True)
        if words in RENAMED:  # no help=: an old spelling is not listed
            sub = groups[words[:-1]].add_parser(words[-1], description=module.HELP)
            sub.set_defaults(_run=_renamed(module.run, words, RENAMED[words]))
        else:
            sub = groups[words[:-1]].add_parser(words[-1], help=module.HELP, description=module.HELP)
            sub.set_defaults(_run=module.run)
        module.add_arguments(sub)
    return parser


def _renamed(run, old: tuple[str, ...], new: tuple[str, ...]):
    """``run`` under an old command name: one line names the new one."""
    def run_renamed(args, cfg):
        log.warning("'livegen %s' is now 'livegen %s' (the old name still works)",
                    " ".join(old), " ".join(new))
        return run(args, cfg)
    return run_renamed


def standalone(prog: str, description: str, add_arguments, run, argv: list[str] | None = None) -> int:
    """One subcommand run as its own program (``python -m livegen.train.lstm.cli_train``, which
    torchrun starts per process): its options only, no config file, errors as ``main`` gives them."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return _exit_status(lambda: run(args, None))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="livegen: %(message)s", stream=sys.stderr)
    return _exit_status(lambda: args._run(args, config.load(args.config, args.overrides)))


def _exit_status(command) -> int:
    """Runs ``command``; every error of livegen's hierarchy (a problem the user can fix) is one
    line and exit status 2, here and nowhere else."""
    try:
        return int(command() or 0)
    except LivegenError as err:
        print(f"livegen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout was a pipe that closed (`livegen config | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail
        return 1
