#!/usr/bin/env python3
"""Checks infra/ against the providers' own schemas, offline, and what a schema
cannot see (infra_semantics.py).

`terraform validate` needs the provider binaries, which cannot be downloaded here;
their schemas can: tests/infra/provider-schema.json is extracted from the providers'
generated bindings (terraform-provider-aws 6.62 and random 3.9; see
extract_provider_schema.py). Against it, for every module under infra/:

  types       every resource and data source type exists in its provider
  arguments   every argument and nested block exists, at its nesting level; none is
              read-only (computed); none is deprecated (DEPRECATED, from the provider's
              notes: the bindings do not carry deprecations)
  nesting     a block is written as a block (`x { }`), an argument as an argument
              (`x = ...`): Terraform refuses one for the other
  required    required arguments and blocks are present, in nested blocks too; a block
              the provider allows once is written once
  references  aws_x.y.attr and data.aws_x.y.attr name a declared resource and an
              attribute it has (nested: x[0].attr in a block); a resource with count or
              for_each is indexed; var.x, local.x, module.m.out are declared;
              provider = aws.alias names a provider block
  modules     a module call passes every required variable and no unknown one
  removed     a `removed` block's address is no longer declared, a `moved` block's
              target is (Terraform's plan refuses both; validate does not)

Usage: check_schema.py [--root DIR] [--self-test]
  --self-test  plants each mistake above into a copy of the real files and requires
               it reported, with the semantic checks' cases (the errors infra/ had,
               on their old text); the real files must pass.
Exit 0 when every check passes; 1 otherwise. Needs python-hcl2 8.x (see tfconfig.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tfconfig  # noqa: E402
from schema_mutations import SCHEMA_MUTATIONS, SEMANTIC_MUTATIONS  # noqa: E402
from tfconfig import LOCAL_REF, MODULE_REF, VAR_REF, Module, expr, is_block, items, literal, scan_refs, unquote  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("provider-schema.json")

META_ATTRS = {"count", "for_each", "provider", "depends_on"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
MODULE_META = {"source", "version", "count", "for_each", "providers", "depends_on"}

# Deprecations the bindings do not carry, by (type, path to the argument).
DEPRECATED = {
    ("aws_dynamodb_table", ("global_secondary_index", "hash_key")): (
        'deprecated since provider 6.x: write key_schema { attribute_name = ..., key_type = "HASH" } '
        "(hashicorp/terraform-provider-aws#46197)"
    ),
    ("aws_dynamodb_table", ("global_secondary_index", "range_key")): (
        'deprecated since provider 6.x: write key_schema { attribute_name = ..., key_type = "RANGE" } '
        "(hashicorp/terraform-provider-aws#46197)"
    ),
}


class Schema:
    def __init__(self, doc: dict):
        self.providers = doc["providers"]

    def provider(self, rtype: str) -> tuple[str, dict | None]:
        name = rtype.split("_", 1)[0]
        return name, self.providers.get(name)

    def lookup(self, kind: str, rtype: str) -> tuple[dict | None, str | None]:
        pname, p = self.provider(rtype)
        if p is None:
            return None, f"{rtype}: no schema for provider {pname!r} (extract_provider_schema.py PACKAGES)"
        full = p["data_sources" if kind == "data" else "resources"]
        names = p["all_data_source_types" if kind == "data" else "all_resource_types"]
        what = "data source" if kind == "data" else "resource"
        if rtype in full:
            return full[rtype], None
        if rtype in names:
            return None, (
                f"{rtype}: a {what} type of hashicorp/{pname} {p['version']} not in the extracted schema: "
                "run tests/infra/extract_provider_schema.py (its docstring says how) and commit the result"
            )
        return None, f"{rtype}: no such {what} type in hashicorp/{pname} {p['version']}"


def check_body(
    errs: list, where: str, body: dict, block: dict, rtype: str, path: tuple = (), top: bool = False
) -> None:
    attrs, blocks = block["attributes"], block["blocks"]
    seen: dict[str, int] = {}
    dynamic: set[str] = set()
    for key, value in items(body):
        here = ".".join(path + (key,))
        if top and key in META_ATTRS | META_BLOCKS:
            continue
        if key == "dynamic":
            for dyn in value:
                for label, d in items(dyn):
                    name = unquote(label)
                    if name not in blocks:
                        errs.append(f'{where}: dynamic "{name}": {rtype} has no block {".".join(path + (name,))}')
                        continue
                    for content in d.get("content", []):
                        check_body(errs, where, content, blocks[name]["block"], rtype, path + (name,))
                    dynamic.add(name)  # how many: known at plan time
            continue
        if is_block(value):
            if key in attrs:
                errs.append(f"{where}: {here} is an argument, written as a block: write `{key} = ...`")
            elif key not in blocks:
                errs.append(f"{where}: unknown block {here} ({rtype} has no such block)")
            else:
                seen[key] = seen.get(key, 0) + len(value)
                for inst in value:
                    check_body(errs, where, inst, blocks[key]["block"], rtype, path + (key,))
            continue
        if key in blocks:
            errs.append(f"{where}: {here} is a block, written as an argument: write `{key} {{ ... }}`")
            continue
        if key not in attrs:
            errs.append(f"{where}: unknown argument {here} ({rtype} has no such argument)")
            continue
        a = attrs[key]
        if a.get("computed") and not (a.get("optional") or a.get("required")):
            errs.append(f"{where}: {here} is read-only (computed by the provider): remove it")
        dep = DEPRECATED.get((rtype, path + (key,)))
        if dep:
            errs.append(f"{where}: {here} is {dep}")
        seen[key] = 1
    for name, a in attrs.items():
        if a.get("required") and name not in seen:
            errs.append(f"{where}: missing required argument {'.'.join(path + (name,))}")
    for name, b in blocks.items():
        n = seen.get(name, 0)
        if b["min_items"] and n == 0 and name not in dynamic:
            errs.append(f"{where}: missing required block {'.'.join(path + (name,))}")
        if b["max_items"] is not None and n > b["max_items"]:
            errs.append(
                f"{where}: block {'.'.join(path + (name,))} written {n} times; the provider allows {b['max_items']}"
            )


def check_chain(errs: list, where: str, ref: str, block: dict, chain: list) -> None:
    """attr, then nested attrs through blocks and object attributes."""
    node = {"attributes": block["attributes"], "blocks": block["blocks"]}
    for depth, name in enumerate(chain):
        if name in node.get("blocks", {}):
            node = node["blocks"][name]["block"]
        elif name in node.get("attributes", {}):
            nested = node["attributes"][name].get("nested")
            if nested is None:
                return  # a map, list or string: keys and indexes are values, not schema
            node = nested
        else:
            if depth == 0 or node.get("attributes") or node.get("blocks"):
                errs.append(f"{where}: {ref}: no attribute {'.'.join(chain[: depth + 1])}")
            return


def module_refs(mod: Module):
    """(where, string) for every expression of the module (not plain literals, such
    as descriptions), except removed/moved addresses (which name what is not
    declared, by design)."""
    for where, s in _module_strings(mod):
        if literal(s) is None:
            yield where, s


def _module_strings(mod: Module):
    for (rtype, rname), (fname, body) in mod.resources.items():
        for s in tfconfig.strings(body):
            yield f"{mod.dir}/{fname}: {rtype}.{rname}", s
    for (rtype, rname), (fname, body) in mod.data.items():
        for s in tfconfig.strings(body):
            yield f"{mod.dir}/{fname}: data.{rtype}.{rname}", s
    for lname, value in mod.locals.items():
        for s in tfconfig.strings(value):
            yield f"{mod.dir}: local.{lname}", s
    for kind, table in (("output", mod.outputs), ("variable", mod.variables)):
        for name, body in table.items():
            for s in tfconfig.strings(body):
                yield f"{mod.dir}: {kind} {name}", s
    for cname, (fname, body) in mod.calls.items():
        for s in tfconfig.strings(body):
            yield f"{mod.dir}/{fname}: module.{cname}", s
    for fname, pname, body in mod.providers:
        for s in tfconfig.strings(body):
            yield f"{mod.dir}/{fname}: provider {pname}", s


def check_module(mod: Module, config: dict[str, Module], schema: Schema) -> list[str]:
    errs = list(mod.errors)
    aliases = {"aws", "random"} | {
        f"{p}.{literal(b.get('alias'))}" for _, p, b in mod.providers if literal(b.get("alias"))
    }
    for kind, table in (("resource", mod.resources), ("data", mod.data)):
        for (rtype, rname), (fname, body) in table.items():
            where = f"{mod.dir}/{fname}: {'data.' if kind == 'data' else ''}{rtype}.{rname}"
            block, err = schema.lookup(kind, rtype)
            if err:
                errs.append(f"{where}: {err}")
                continue
            check_body(errs, where, body, block, rtype, top=True)
            prov = body.get("provider")
            if prov is not None and expr(prov) not in aliases:
                errs.append(f"{where}: provider {expr(prov)} is not configured in {mod.dir} (have {sorted(aliases)})")
    for fname, pname, body in mod.providers:
        p = schema.providers.get(pname)
        if p is None:
            errs.append(f"{mod.dir}/{fname}: provider {pname!r}: no schema")
        else:
            check_body(errs, f"{mod.dir}/{fname}: provider {pname}", body, p["provider_config"], f"provider {pname}")

    for where, s in module_refs(mod):
        for is_data, rtype, rname, indexed, chain in scan_refs(s):
            ref = f"{'data.' if is_data else ''}{rtype}.{rname}"
            decl = mod.declared("data" if is_data else "resource", rtype, rname)
            if decl is None:
                errs.append(f"{where}: reference to undeclared {ref}")
                continue
            multi = decl[1].get("for_each") is not None or decl[1].get("count") is not None
            if multi and chain and not indexed:
                errs.append(f"{where}: {ref} has count or for_each: index it ({ref}[...].{chain[0]})")
            if not multi and indexed:
                errs.append(f"{where}: {ref} has no count or for_each: it takes no index")
            block, _ = schema.lookup("data" if is_data else "resource", rtype)
            if block and chain:
                check_chain(errs, where, ref, block, chain)
        for m in VAR_REF.finditer(s):
            if m.group(1) not in mod.variables:
                errs.append(f"{where}: reference to undeclared var.{m.group(1)}")
        for m in LOCAL_REF.finditer(s):
            if m.group(1) not in mod.locals:
                errs.append(f"{where}: reference to undeclared local.{m.group(1)}")
        for m in MODULE_REF.finditer(s):
            call = mod.calls.get(m.group(1))
            if call is None:
                errs.append(f"{where}: reference to undeclared module.{m.group(1)}")
                continue
            child = config.get(tfconfig.module_dir(mod.dir, literal(call[1].get("source")) or ""))
            if m.group(2) and child is not None and m.group(2) not in child.outputs:
                errs.append(f"{where}: module.{m.group(1)} has no output {m.group(2)}")

    for cname, (fname, body) in mod.calls.items():
        where = f"{mod.dir}/{fname}: module.{cname}"
        child = config.get(tfconfig.module_dir(mod.dir, literal(body.get("source")) or ""))
        if child is None:
            errs.append(f"{where}: source {body.get('source')} is not a local module under infra/")
            continue
        given = {k for k, _ in items(body)}
        for k in sorted(given - MODULE_META - set(child.variables)):
            errs.append(f"{where}: {child.dir} has no variable {k}")
        for v, vbody in child.variables.items():
            if "default" not in vbody and v not in given:
                errs.append(f"{where}: missing required variable {v}")

    for fname, body in mod.removed:
        a = tfconfig.address(body.get("from"))
        if a and a[0] != "module" and mod.declared(a[0], a[1], a[2]):
            errs.append(
                f"{mod.dir}/{fname}: removed block for {expr(body.get('from'))}, which is still declared "
                "(Terraform's plan fails: 'Removed resource still exists')"
            )
        if a and a[0] == "module" and a[2] in mod.calls:
            errs.append(f"{mod.dir}/{fname}: removed block for module.{a[2]}, which is still called")
    for fname, body in mod.moved:
        src, dst = tfconfig.address(body.get("from")), tfconfig.address(body.get("to"))
        if src and src[0] != "module" and mod.declared(*src):
            errs.append(f"{mod.dir}/{fname}: moved from {expr(body.get('from'))}, which is still declared")
        if dst and dst[0] != "module" and not mod.declared(*dst):
            errs.append(f"{mod.dir}/{fname}: moved to {expr(body.get('to'))}, which is not declared")
    return errs


def load_schema(path: Path = SCHEMA) -> Schema:
    return Schema(json.loads(path.read_text()))


def check(files: dict[str, str], schema: Schema, semantics: bool = True, terraform: str | None = "auto") -> list[str]:
    config = tfconfig.load_config(files)
    errs = []
    for mod in config.values():
        errs += check_module(mod, config, schema)
    if semantics:
        import infra_semantics

        errs += infra_semantics.check(files, config, schema, terraform=terraform)
    return errs


# --------------------------------------------------------------------- self-test


def mutate(files: dict[str, str], path: str, old: str, new: str) -> dict[str, str] | str:
    """A copy of files with `old` (which must occur exactly once) replaced."""
    text = files.get(path)
    if text is None:
        return f"{path} missing"
    if text.count(old) != 1:
        return f"{path}: the text to replace occurs {text.count(old)} times: {old[:60]!r}"
    out = dict(files)
    out[path] = text.replace(old, new)
    return out


def self_test(files: dict[str, str], schema: Schema) -> tuple[int, list[str]]:
    import infra_semantics

    passed, failed = 0, []
    have_terraform = shutil.which("terraform") is not None
    cases = [(w, p, o, n, e, {}) for w, p, o, n, e in SCHEMA_MUTATIONS] + SEMANTIC_MUTATIONS
    for what, path, old, new, expect, opts in cases:
        if opts.get("terraform") == "terraform" and not have_terraform:
            print(f"  skip  detects: {what} (no terraform binary: its Python reproduction is tested instead)")
            continue
        changed = mutate(files, path, old, new)
        if isinstance(changed, str):
            failed.append(f"self-test {what}: cannot plant it: {changed}")
            continue
        errs = check(changed, schema, terraform=opts.get("terraform", "auto"))
        if any(expect in e for e in errs):
            passed += 1
            print(f"  ok    detects: {what}")
        else:
            failed.append(f"self-test {what}: not reported (wanted {expect!r}); got {errs[:3]}")
            print(f"  FAIL  detects: {what}")
    for what, run in infra_semantics.extra_self_tests(files, schema):
        err = run()
        if isinstance(err, tuple):  # ("skip", why)
            print(f"  skip  {what} ({err[1]})")
        elif err is None:
            passed += 1
            print(f"  ok    {what}")
        else:
            failed.append(f"self-test {what}: {err}")
            print(f"  FAIL  {what}: {err}")
    return passed, failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    tfconfig.require_hcl2("check_schema")
    t0 = time.monotonic()
    schema = load_schema()
    files = tfconfig.read_files(args.root)
    for name, p in schema.providers.items():
        print(f"schema: hashicorp/{name} {p['version']} ({p['bindings']})")
    print(f"infra: {len([f for f in files if f.endswith('.tf')])} .tf files")
    tf = shutil.which("terraform")
    print(
        f"dashboard bodies: evaluated by {'terraform console (' + tf + ')' if tf else 'their Python reproduction (no terraform on PATH)'}"
    )
    errs = check(files, schema)
    passed, failed = (0 if errs else 1), list(errs)
    print(f"  {'FAIL' if errs else 'ok  '}  infra/ against the schemas and the semantic checks")
    if args.self_test:
        print("self-test: each planted mistake must be reported")
        p, f = self_test(files, schema)
        passed += p
        failed += f
    if failed:
        print("\nfailures:")
        for m in failed:
            print(f"  - {m}")
    print(f"({time.monotonic() - t0:.2f} s)")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
