"""Shell completion scripts generated from the `bottle` argparse tree (`bottle completion`).

The script holds, for every command path (`egress run`, `policy check`...), its subcommands and
options, the options that take a value and the fixed choices of those values. It is generated
from the parser, so a new flag completes without anyone editing a script. zsh uses the same
function through `bashcompinit`, which zsh ships for exactly this.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class _Node:
    words: list[str] = field(default_factory=list)  # subcommands and options
    takes_value: list[str] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, _Node]]:
    node = _Node()
    children: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                node.words.append(name)
                children.append((name, sub))
            continue
        if not action.option_strings and action.choices:  # a positional with fixed values
            node.words.extend(str(c) for c in action.choices)
        for opt in action.option_strings:
            node.words.append(opt)
            if action.nargs != 0:
                node.takes_value.append(opt)
                if action.choices:
                    node.choices[opt] = [str(c) for c in action.choices]
    yield path, node
    for name, sub in children:
        yield from _walk(sub, f"{path} {name}".strip())


def _case_arms(cases: list[tuple[str, str]], indent: str) -> str:
    return "\n".join(f"{indent}{shlex.quote(key)}) {body} ;;" for key, body in cases)


def bash_script(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    nodes = list(_walk(parser, ""))
    words = [(path, f"words={shlex.quote(' '.join(n.words))}") for path, n in nodes]
    values = [(path, f"values={shlex.quote(' '.join(n.takes_value))}") for path, n in nodes if n.takes_value]
    choices = [(f"{path}|{opt}", f"choices={shlex.quote(' '.join(c))}")
               for path, n in nodes for opt, c in n.choices.items()]
    commands = " ".join(shlex.quote(f"|{path}|") for path, _ in nodes if path)
    fn = f"_{prog.replace('-', '_')}_complete"
    return f"""# {prog} completion for bash (generated from the command's argument parser).
# Load it with: source <({prog} completion bash)
{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" w i words values choices
    local commands=({commands})
    local skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case "$w" in
            -*) values=""
                case "$path" in
{_case_arms(values, " " * 20)}
                esac
                case " $values " in *" $w "*) skip=1 ;; esac
                continue ;;
        esac
        local candidate="${{path:+$path }}$w"
        case " ${{commands[*]}} " in *" |$candidate| "*) path="$candidate" ;; esac
    done
    [ "$COMP_CWORD" -gt 0 ] && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    values=""
    case "$path" in
{_case_arms(values, " " * 8)}
    esac
    if [[ "$prev" == -* && " $values " == *" $prev "* ]]; then
        choices=""
        case "$path|$prev" in
{_case_arms(choices, " " * 12)}
        esac
        if [ -n "$choices" ]; then
            mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi
    words=""
    case "$path" in
{_case_arms(words, " " * 8)}
    esac
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    [ "${{#COMPREPLY[@]}}" -gt 0 ] || mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return 0
}}
complete -F {fn} {prog}
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    return (f"#compdef {prog}\n# {prog} completion for zsh. Load it with: source <({prog} completion zsh)\n"
            "autoload -U +X compinit && compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n"
            + bash_script(parser).split("\n", 2)[2])
