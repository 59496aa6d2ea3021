"""infra/ read with python-hcl2 (>= 8: it marks blocks, so `x { }` and `x = { }`
stay apart), as modules of resources, data sources, variables, locals and the rest.

Shared by check_schema.py and infra_semantics.py. Files are taken as text
({path relative to the repository: content}), so a self-test can check copies with
planted mistakes without touching the real files.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

try:
    import hcl2
    from hcl2 import SerializationOptions
except ImportError:  # pragma: no cover
    hcl2 = None

HCL2_HELP = (
    "needs python-hcl2 8.x (`import hcl2` with SerializationOptions; checkov's fork bc-python-hcl2, "
    "module also named hcl2, cannot tell a block from an object). Run it from the venv that "
    "scripts/setup.sh python makes for it: ${TUNNEL_HCL_VENV:-$HOME/.cache/tunnel-venv-hcl}/bin/python"
)


def require_hcl2(tool: str) -> None:
    if hcl2 is None or not hasattr(hcl2, "SerializationOptions"):
        print(f"{tool}: {HCL2_HELP}", file=sys.stderr)
        sys.exit(2)


def unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def is_block(value) -> bool:
    """A block (or repeated block): python-hcl2 gives a list of dicts marked __is_block__."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def items(body: dict):
    """(name, value) of a body, without the parser's __meta__ keys."""
    return [(k, v) for k, v in body.items() if not k.startswith("__")]


def literal(value):
    """A literal string's text ('"abc"' -> 'abc'), else None (expressions, numbers)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return None


def expr(value) -> str:
    """An expression's text: '${aws_x.y.arn}' -> 'aws_x.y.arn'; literals keep their quotes."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value if isinstance(value, str) else json.dumps(value)


def strings(value):
    """Every string in a parsed value (expressions, literals), depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if not k.startswith("__"):
                yield from strings(k)
                yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# A reference to a resource or data source of the aws or random provider.
REF = re.compile(r"(?<![\w.])(data\.)?((?:aws|random)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
MODULE_REF = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")


def scan_refs(text: str):
    """(data?, type, name, indexed right after the name, [attr, attr...]) per reference."""
    for m in REF.finditer(text):
        i, chain, indexed = m.end(), [], False
        while i < len(text):
            if text[i] == "[":
                depth, j = 0, i
                while j < len(text):
                    depth += {"[": 1, "]": -1}.get(text[j], 0)
                    j += 1
                    if depth == 0:
                        break
                indexed = indexed or not chain
                i = j
            elif text.startswith(".*", i):
                indexed = indexed or not chain
                i += 2
            else:
                a = re.match(r"\.([A-Za-z_]\w*)", text[i:])
                if not a:
                    break
                chain.append(a.group(1))
                i += a.end()
        yield bool(m.group(1)), m.group(2), m.group(3), indexed, chain


@dataclass
class Module:
    """One Terraform module: a directory's .tf files."""

    dir: str
    files: dict[str, dict] = field(default_factory=dict)
    resources: dict[tuple[str, str], tuple[str, dict]] = field(default_factory=dict)
    data: dict[tuple[str, str], tuple[str, dict]] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    calls: dict[str, tuple[str, dict]] = field(default_factory=dict)
    providers: list[tuple[str, str, dict]] = field(default_factory=list)
    terraform: list[tuple[str, dict]] = field(default_factory=list)
    removed: list[tuple[str, dict]] = field(default_factory=list)
    moved: list[tuple[str, dict]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def declared(self, kind: str, rtype: str, name: str) -> tuple[str, dict] | None:
        return (self.data if kind == "data" else self.resources).get((rtype, name))


_PARSED: dict[str, dict] = {}


def parse(text: str) -> dict:
    """The parsed file; cached by text (a self-test parses the same files often).
    Callers must not modify it."""
    if text not in _PARSED:
        _PARSED[text] = hcl2.loads(text, serialization_options=SerializationOptions(with_comments=False))
    return _PARSED[text]


def load_module(files: dict[str, str], directory: str) -> Module:
    mod = Module(dir=directory)
    for path in sorted(p for p in files if str(PurePosixPath(p).parent) == directory and p.endswith(".tf")):
        name = PurePosixPath(path).name
        try:
            doc = parse(files[path])
        except Exception as e:  # a file the parser refuses is a failure to report
            mod.errors.append(f"{path}: does not parse: {str(e).splitlines()[0]}")
            continue
        mod.files[name] = doc
        for kind, table in (("resource", mod.resources), ("data", mod.data)):
            for entry in doc.get(kind, []):
                for rtype, named in items(entry):
                    for rname, body in items(named):
                        key = (unquote(rtype), unquote(rname))
                        if key in table:
                            mod.errors.append(f"{path}: {kind} {key[0]}.{key[1]} declared twice")
                        table[key] = (name, body)
        for entry in doc.get("variable", []):
            for vname, body in items(entry):
                mod.variables[unquote(vname)] = body
        for entry in doc.get("locals", []):
            for lname, value in items(entry):
                mod.locals[lname] = value
        for entry in doc.get("output", []):
            for oname, body in items(entry):
                mod.outputs[unquote(oname)] = body
        for entry in doc.get("module", []):
            for cname, body in items(entry):
                mod.calls[unquote(cname)] = (name, body)
        for entry in doc.get("provider", []):
            for pname, body in items(entry):
                mod.providers.append((name, unquote(pname), body))
        for kind, table in (("terraform", mod.terraform), ("removed", mod.removed), ("moved", mod.moved)):
            for body in doc.get(kind, []):
                table.append((name, body))
    return mod


def read_files(root: Path, infra: str = "infra") -> dict[str, str]:
    """Every .tf under infra/ (and the files they load with file()), by relative path."""
    out = {}
    for path in sorted((root / infra).rglob("*")):
        if path.is_file() and ".terraform" not in path.parts and path.suffix in (".tf", ".js"):
            out[str(path.relative_to(root))] = path.read_text()
    return out


def load_config(files: dict[str, str], root_dir: str = "infra") -> dict[str, Module]:
    """The root module and the local modules it calls, by directory."""
    mods: dict[str, Module] = {}
    todo = [root_dir]
    while todo:
        d = todo.pop()
        if d in mods:
            continue
        mods[d] = load_module(files, d)
        for _, body in mods[d].calls.values():
            src = literal(body.get("source"))
            if src and src.startswith(("./", "../")):
                todo.append(module_dir(d, src))
    return mods


def module_dir(parent: str, source: str) -> str:
    parts: list[str] = []
    for p in PurePosixPath(parent, source).parts:
        if p == "..":
            parts.pop()
        elif p != ".":
            parts.append(p)
    return "/".join(parts)


def address(value) -> tuple[str, str, str] | None:
    """('resource'|'data'|'module', type or '', name) of an address like
    '${aws_x.y}', '${data.aws_x.y}' or '${module.m}'."""
    text = expr(value).strip()
    m = re.fullmatch(r"(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)", text)
    if not m:
        return None
    if m.group(2) == "module" and not m.group(1):
        return ("module", "", m.group(3))
    return ("data" if m.group(1) else "resource", m.group(2), m.group(3))
