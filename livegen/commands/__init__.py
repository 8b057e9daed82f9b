"""The CLI's subcommands.

Each entry is ``(words, module)``: ``words`` is the command as typed
(``("train", "lstm")`` is ``livegen train lstm``) and ``module`` defines

- ``HELP: str`` — one line for ``--help``;
- ``add_arguments(parser)`` — its options (argparse);
- ``run(args, cfg) -> int`` — the exit status; ``cfg`` is the loaded
  :class:`livegen.config.Config`.

Command modules are imported to build the parser, so they must not import torch
or a device library at module level: import inside ``run``.
"""

COMMANDS: list[tuple[tuple[str, ...], str]] = [
    (("devices",), "livegen.commands.devices"),
    (("config",), "livegen.commands.show_config"),
    (("render",), "livegen.commands.render"),
    (("bench", "synth"), "livegen.commands.bench_synth"),
    (("run",), "livegen.commands.run"),
    (("demo",), "livegen.commands.demo"),
    (("continue",), "livegen.commands.continue_clip"),
    (("bench", "jam"), "livegen.commands.bench_jam"),
    (("bench", "live"), "livegen.commands.bench_live"),
    (("bench", "soak"), "livegen.commands.bench_soak"),
    (("bench", "xruns"), "livegen.commands.bench_xruns"),
    (("train", "lstm"), "livegen.train.lstm.cli_train"),
    (("eval", "lstm"), "livegen.train.lstm.cli_eval"),
    (("sample", "lstm"), "livegen.train.lstm.cli_sample"),
    (("dataset", "notes"), "livegen.train.timbre.cli_dataset"),
    (("train", "timbre"), "livegen.train.timbre.cli_train"),
    (("eval", "timbre"), "livegen.train.timbre.cli_eval"),
    (("presets", "timbre"), "livegen.train.timbre.cli_presets"),
    (("presets", "calibrate"), "livegen.train.timbre.cli_calibrate"),
    (("encode",), "livegen.commands.encode"),
]

# old spellings that still work (hidden from --help), saying in one line what they are now
RENAMED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("train", "wavenet"): ("train", "timbre"),
    ("eval", "wavenet"): ("eval", "timbre"),
    ("presets", "wavenet"): ("presets", "timbre"),
}
