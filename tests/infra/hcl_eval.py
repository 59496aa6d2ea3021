"""A small evaluator of Terraform expressions, for where no terraform binary is
(infra_semantics.py prefers `terraform console`, and its self-test runs both on the
same expressions).

It reproduces the part of the language infra/ builds values with: literals,
templates, tuples and objects, for expressions, conditionals, arithmetic and
comparison, local./var. references, and the functions in FUNCTIONS, with
Terraform's ordering (keys() and sets sorted, setproduct in argument order).
Resource and data source attributes are not known before apply: they evaluate to
Unknown("aws_x.y.attr"), and a resource with for_each or count to a map or list of
such placeholders, keyed as Terraform would key it. Anything else raises
EvalError, so a missing feature is a loud failure, never a silent wrong value.
"""

from __future__ import annotations

import functools
import itertools
import json
import re

import hcl2
from lark import Token, Tree

import tfconfig


class EvalError(Exception):
    pass


class Unknown:
    """A value known only after apply."""

    def __init__(self, label: str):
        self.label = label

    def __repr__(self) -> str:
        return f"Unknown({self.label})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Unknown) and other.label == self.label

    def __hash__(self) -> int:
        return hash(self.label)


class _Root:
    def __init__(self, name: str):
        self.name = name


class _Instance:
    """One instance of a resource: any attribute is Unknown."""

    def __init__(self, label: str):
        self.label = label


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


def _flatten(v):
    out = []
    for x in v:
        out.extend(_flatten(x) if isinstance(x, list) else [x])
    return out


def _lookup(m, k, *default):
    if isinstance(m, dict) and k in m:
        return m[k]
    if default:
        return default[0]
    raise EvalError(f"lookup: no key {k!r}")


FUNCTIONS = {
    # Terraform's jsonencode sorts object keys; placeholders become their labels.
    "jsonencode": lambda v: json.dumps(plain(v), sort_keys=True, separators=(",", ":")),
    "flatten": _flatten,
    "concat": lambda *ls: [x for seq in ls for x in seq],
    "keys": lambda m: sorted(m, key=_sort_key),
    "values": lambda m: [m[k] for k in sorted(m, key=_sort_key)],
    "setproduct": lambda *ls: [list(t) for t in itertools.product(*ls)],
    "toset": lambda v: sorted(set(v), key=_sort_key),
    "tolist": list,
    "length": len,
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
    "lookup": _lookup,
    "contains": lambda c, v: v in c,
    "distinct": lambda v: list(dict.fromkeys(v)),
    "range": lambda *a: list(range(*[int(x) for x in a])),
}

BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "&&": lambda a, b: a and b,
    "||": lambda a, b: a or b,
}


def _trees(node: Tree) -> list:
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _unescape(chars: str) -> str:
    return json.loads('"' + chars.replace("\t", "\\t") + '"')


class Evaluator:
    def __init__(self, mod: tfconfig.Module):
        self.mod = mod
        self._locals: dict[str, object] = {}
        self._busy: set[str] = set()

    # -- values as python-hcl2 8 gives them ('${expr}', '"literal"', dicts, lists)
    def value(self, v, scope=None):
        if isinstance(v, str):
            if v.startswith(('"', "${")):
                return self.text(tfconfig.expr(v) if v.startswith("${") else v, scope)
            return v
        if isinstance(v, dict):
            return {self._key(k, scope): self.value(x, scope) for k, x in v.items() if not k.startswith("__")}
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        return v

    def _key(self, k: str, scope):
        return self.text(k, scope) if k.startswith(('"', "${")) else k

    def text(self, source: str, scope=None):
        return self.ev(_expression(source), scope or {})

    # -- references
    def local(self, name: str):
        if name in self._locals:
            return self._locals[name]
        if name not in self.mod.locals:
            raise EvalError(f"local.{name} is not declared")
        if name in self._busy:
            raise EvalError(f"local.{name} refers to itself")
        self._busy.add(name)
        self._locals[name] = self.value(self.mod.locals[name])
        self._busy.discard(name)
        return self._locals[name]

    def var(self, name: str):
        body = self.mod.variables.get(name)
        if body is None:
            raise EvalError(f"var.{name} is not declared")
        return self.value(body["default"]) if "default" in body else Unknown(f"var.{name}")

    def resource(self, kind: str, rtype: str, name: str):
        decl = self.mod.declared(kind, rtype, name)
        label = f"{'data.' if kind == 'data' else ''}{rtype}.{name}"
        if decl is None:
            raise EvalError(f"{label} is not declared")
        body = decl[1]
        if "for_each" in body:
            each = self.value(body["for_each"])
            ks = list(each) if isinstance(each, dict) else list(each) if isinstance(each, list) else None
            if ks is None:
                raise EvalError(f"{label}: for_each is not known")
            return {k: _Instance(f"{label}[{k}]") for k in ks}
        if "count" in body:
            n = self.value(body["count"])
            if not isinstance(n, int):
                raise EvalError(f"{label}: count is not known")
            return [_Instance(f"{label}[{i}]") for i in range(n)]
        return _Instance(label)

    def get(self, base, name: str):
        if isinstance(base, _Root):
            if base.name == "local":
                return self.local(name)
            if base.name == "var":
                return self.var(name)
            if base.name == "data":
                return _Root("data." + name)
            if base.name.startswith("data."):
                return self.resource("data", base.name[5:], name)
            if re.match(r"(aws|random)_", base.name):
                return self.resource("resource", base.name, name)
            if base.name == "path" and name == "module":
                return self.mod.dir
            raise EvalError(f"{base.name}.{name} is not reproduced here")
        if isinstance(base, _Instance):
            return Unknown(f"{base.label}.{name}")
        if isinstance(base, Unknown):
            return Unknown(f"{base.label}.{name}")
        if isinstance(base, dict) and name in base:
            return base[name]
        raise EvalError(f"no attribute {name} in {str(base)[:60]}")

    def index(self, base, key):
        if isinstance(base, (Unknown, _Instance)) or isinstance(key, Unknown):
            return Unknown(f"{getattr(base, 'label', base)}[{getattr(key, 'label', key)}]")
        try:
            return base[int(key)] if isinstance(base, list) else base[key]
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise EvalError(f"index {key!r}: {e}") from None

    # -- the tree
    def ev(self, node, scope):
        if isinstance(node, Token):
            raise EvalError(f"unexpected token {node!r}")
        d, kids = node.data, _trees(node)
        if d == "expr_term":
            return self.ev(kids[0], scope)
        if d == "identifier":
            name = str(node.children[0])
            return scope[name] if name in scope else _Root(name)
        if d == "literal_value":
            return {"true": True, "false": False, "null": None}[str(node.children[0])]
        if d == "int_lit":
            return int(str(node.children[0]))
        if d == "float_lit":
            return float(str(node.children[0]))
        if d == "string":
            return self._string(node, scope)
        if d in ("heredoc_template", "heredoc_template_trim"):
            raw = str(node.children[0])
            return raw.split("\n", 1)[1].rsplit("\n", 2)[0] + "\n"
        if d == "tuple":
            return [self.ev(k, scope) for k in kids]
        if d == "object":
            out = {}
            for elem in kids:
                key_node, val = _trees(elem)
                inner = _trees(key_node)[0]
                ident = _trees(inner)[0] if inner.data == "expr_term" and _trees(inner) else inner
                key = str(ident.children[0]) if ident.data in ("identifier", "keyword") else self.ev(inner, scope)
                out[key] = self.ev(val, scope)
            return out
        if d == "function_call":
            name = str(kids[0].children[0])
            args = [self.ev(a, scope) for a in _trees(kids[1])] if len(kids) > 1 else []
            if name not in FUNCTIONS:
                raise EvalError(f"function {name}() is not reproduced here")
            if any(isinstance(a, (Unknown, _Instance)) for a in args) and name != "jsonencode":
                return Unknown(f"{name}(...)")
            return FUNCTIONS[name](*args)
        if d == "get_attr_expr_term":
            base = self.ev(kids[0], scope)
            return self.get(base, str(_trees(kids[1])[0].children[0]))
        if d == "index_expr_term":
            base = self.ev(kids[0], scope)
            idx = kids[1]
            key = self.ev(_trees(idx)[0], scope) if idx.data == "braces_index" else int(str(idx.children[-1]))
            return self.index(base, key)
        if d in ("for_tuple_expr", "for_object_expr"):
            return self._for(node, scope)
        if d == "conditional":
            cond = self.ev(kids[0], scope)
            if isinstance(cond, Unknown):
                return Unknown("conditional")
            return self.ev(kids[1] if cond else kids[2], scope)
        if d == "binary_op":
            left = self.ev(kids[0], scope)
            term = kids[1]
            op = str(_trees(term)[0].children[0])
            right = self.ev(_trees(term)[1], scope)
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return Unknown(op)
            return BINARY[op](left, right)
        if d == "unary_op":
            v = self.ev(kids[0], scope)
            return (not v) if str(node.children[0]) == "!" else -v
        raise EvalError(f"{d} expressions are not reproduced here")

    def _string(self, node: Tree, scope) -> str:
        out = []
        for part in _trees(node):
            tok = part.children[0]
            if isinstance(tok, Tree) and tok.data == "interpolation":
                v = self.ev(_trees(tok)[0], scope)
                out.append(v.label if isinstance(v, Unknown) else _tostr(v))
            elif isinstance(tok, Token) and tok.type == "ESCAPED_INTERPOLATION":
                out.append(str(tok)[1:])
            elif isinstance(tok, Token) and tok.type == "STRING_CHARS":
                out.append(_unescape(str(tok)))
            else:
                raise EvalError("template directives are not reproduced here")
        return "".join(out)

    def _for(self, node: Tree, scope):
        kids = _trees(node)
        intro, body = kids[0], kids[1:]
        names = [str(t.children[0]) for t in _trees(intro) if t.data == "identifier"]
        coll = self.ev([t for t in _trees(intro) if t.data != "identifier"][0], scope)
        cond = body[-1] if body and body[-1].data == "for_cond" else None
        exprs = [b for b in body if b is not cond]
        if isinstance(coll, dict):
            pairs = [(k, coll[k]) for k in sorted(coll, key=_sort_key)]
        elif isinstance(coll, list):
            pairs = list(enumerate(coll))
        else:
            raise EvalError("for expression over a value not known before apply")
        grouped = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        out_list, out_map = [], {}
        for k, v in pairs:
            inner = dict(scope)
            if len(names) == 2:
                inner[names[0]], inner[names[1]] = k, v
            else:
                inner[names[0]] = v
            if cond is not None and not self.ev(_trees(cond)[0], inner):
                continue
            if node.data == "for_tuple_expr":
                out_list.append(self.ev(exprs[0], inner))
            else:
                key, val = self.ev(exprs[0], inner), self.ev(exprs[1], inner)
                if grouped:
                    out_map.setdefault(key, []).append(val)
                elif key in out_map:
                    raise EvalError(f"duplicate key {key!r} in a for expression")
                else:
                    out_map[key] = val
        return out_list if node.data == "for_tuple_expr" else out_map


@functools.lru_cache(maxsize=4096)
def _expression(source: str) -> Tree:
    tree = hcl2.parses_to_tree(f"x = {source}\n")
    return _trees(next(tree.find_data("attribute")))[-1]


def _tostr(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def plain(v):
    """Evaluated value -> JSON-like data, placeholders as their labels."""
    if isinstance(v, (Unknown, _Instance)):
        return v.label
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v
