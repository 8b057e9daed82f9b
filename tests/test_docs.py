"""The README and docs/ stay true to the code: the generated configuration reference equals the
code's, every relative link leads to a file, and every `livegen ...` command they name exists."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

from livegen import cli, config

ROOT = Path(__file__).resolve().parent.parent
GLOBAL_OPTIONS = {"--set": 1, "--config": 1, "-v": 0, "--verbose": 0, "--version": 0, "-h": 0, "--help": 0}


def shown(doc: Path) -> str:
    return str(doc.relative_to(ROOT)) if doc.is_relative_to(ROOT) else doc.name


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]


FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)


def code_and_prose(text: str) -> tuple[list[str], str]:
    """The code of ``text`` (fenced blocks and code spans) and its prose without them."""
    code = [m.group(0) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    code += [m.group(2) for m in CODE_SPAN.finditer(prose)]
    return code, CODE_SPAN.sub("", prose)


def relative_links(text: str) -> list[str]:
    _, prose = code_and_prose(text)
    targets = [m.group(1) for m in LINK.finditer(prose)] + [m.group(1) for m in REFERENCE.finditer(prose)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def broken_links(doc: Path) -> list[str]:
    bad = []
    for target in relative_links(doc.read_text()):
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.exists():
            bad.append(f"{shown(doc)}: link to {target!r}: no such file")
    return bad


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def livegen_commands(text: str) -> list[list[str]]:
    """The words after each ``livegen`` (as a command, not ``livegen:in``) in the code of ``text``,
    global options left out."""
    found = []
    for code in code_and_prose(text)[0]:
        for m in re.finditer(r"(?:^|[\s/(])livegen[ \t]+([^\n`]*)", code):
            words = m.group(1).replace("\\", " ").split()
            i = 0
            while i < len(words) and words[i].split("=")[0] in GLOBAL_OPTIONS:
                i += 1 + (GLOBAL_OPTIONS[words[i]] if "=" not in words[i] else 0)
            found.append(words[i:])
    return found


def unknown_command(parser: argparse.ArgumentParser, words: list[str]) -> str | None:
    """None if ``words`` start with a real command (or name a group, alone); else what is wrong.
    ``a|b`` is two commands."""
    choices = subcommands(parser)
    if not choices or not words or not re.fullmatch(r"[a-z][a-z|]*", words[0]):
        return None  # a leaf reached, or a placeholder (``livegen ...``, ``livegen --help``)
    for word in words[0].split("|"):
        if word not in choices:
            return f"{word!r} is not one of {', '.join(sorted(choices))}"
        wrong = unknown_command(choices[word], words[1:])
        if wrong:
            return wrong
    return None


def bad_commands(doc: Path, parser: argparse.ArgumentParser) -> list[str]:
    bad = []
    for words in livegen_commands(doc.read_text()):
        wrong = unknown_command(parser, words)
        if wrong:
            bad.append(f"{shown(doc)}: `livegen {' '.join(words)}`: {wrong}")
    return bad


def missing_modules(doc: Path) -> list[str]:
    """``python -m livegen...`` / ``-m export...`` in the code of ``doc`` that do not exist."""
    bad = []
    for code in code_and_prose(doc.read_text())[0]:
        for name in re.findall(r"-m\s+((?:livegen|export)\.[\w.]+)", code):
            if importlib.util.find_spec(name) is None:
                bad.append(f"{shown(doc)}: -m {name}: no such module")
    return bad


def test_the_configuration_reference_is_the_one_the_code_generates():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == config.reference_markdown(), \
        "docs/config.md differs from livegen/config.py: run `livegen config --markdown > docs/config.md`"


def test_every_relative_link_of_the_docs_leads_to_a_file():
    docs = documents()
    assert len(docs) >= 7  # README, DEVELOPERS, config, design, benchmarks, training, troubleshooting
    bad = [line for doc in docs for line in broken_links(doc)]
    assert not bad, "\n".join(bad)


def test_every_livegen_command_the_docs_name_exists():
    parser = cli.build_parser()
    named = [words for doc in documents() for words in livegen_commands(doc.read_text())]
    assert len(named) > 20
    bad = [line for doc in documents() for line in bad_commands(doc, parser) + missing_modules(doc)]
    assert not bad, "\n".join(bad)


def test_the_checks_see_a_broken_link_and_a_command_that_does_not_exist(tmp_path):
    doc = tmp_path / "x.md"
    (tmp_path / "there.md").write_text("")
    doc.write_text("See [this](there.md#a), [that](gone.md), ![img](images/none.png), [web](https://x.org).\n"
                   "`[not a link](in-code.md)`\n\n"
                   "```sh\nlivegen --set jam.tempo_bpm=90 rnu\nlivegen train timbre --out x\n"
                   "python -m export.nothing\n```\n"
                   "Run `livegen bench synth|jazz` or `livegen train` on `livegen:in`.\n")
    assert broken_links(doc) == ["x.md: link to 'gone.md': no such file",
                                 "x.md: link to 'images/none.png': no such file"]
    bad = bad_commands(doc, cli.build_parser())
    assert len(bad) == 2 and "`livegen rnu`" in bad[0] and "'jazz' is not one of" in bad[1], bad
    assert missing_modules(doc) == ["x.md: -m export.nothing: no such module"]
