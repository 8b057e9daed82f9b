"""``livegen config``: the configuration in force, or the reference of every key."""

from __future__ import annotations

import dataclasses

from livegen import config

HELP = "print the configuration in force (after --config and --set), or --reference for every key"


def add_arguments(parser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--reference", action="store_true",
                      help="print every key with its default, what is allowed and what it does")
    what.add_argument("--markdown", action="store_true",
                      help="print that reference as docs/config.md (livegen config --markdown > docs/config.md)")


def run(args, cfg: config.Config) -> int:
    if args.reference:
        for section, key, default, allowed, doc in config.describe():
            print(f"{section}.{key} = {config.toml_value(default)}  [{allowed}]  {doc}")
        return 0
    if args.markdown:
        print(config.reference_markdown(), end="")
        return 0
    print(f"# from {cfg.source}; paths as resolved")
    for section, cls in config.SECTIONS.items():
        print(f"\n[{section}]")
        for f in dataclasses.fields(cls):
            value = getattr(getattr(cfg, section), f.name)
            print(f"{f.name} = {config.toml_value(str(cfg.path(value)) if f.metadata['path'] else value)}")
    return 0
