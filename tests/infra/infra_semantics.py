"""What infra/ must get right that no provider schema can see, each rule from the AWS
or Terraform documentation it cites. Run by check_schema.py; schema_mutations.py
plants each mistake (the errors infra/ had, on their old text) and check_schema
--self-test requires every one reported.

  dashboards   the evaluated dashboard_body: every metric widget's `metrics` is an
               array of arrays (PutDashboard refuses anything else). Evaluated by
               `terraform console` where a terraform binary is (no provider needed:
               resource attributes become placeholder strings), else by hcl_eval's
               reproduction of the expression, which says so.
  function URL an auth-NONE Function URL has both public statements
  alarm topic  the topic alarms notify is encrypted with a customer-managed key whose
               policy lets cloudwatch.amazonaws.com use it, rotated
  CloudFront   the viewer certificate is ACM's in us-east-1
  versions     the provider constraints admit the schema's versions, aws >= 6.28 and
               < 7; Terraform >= 1.7 when `removed` blocks are used
  teardown     infra/teardown/<m>.tf forgets every resource of modules/<m>/main.tf
               (removed, destroy = false) and, swapped in, leaves a valid config
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import PurePosixPath

import hcl2

import hcl_eval
import tfconfig
from tfconfig import LOCAL_REF, REF, Module, expr, items, literal, scan_refs

DASHBOARD_DOC = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html"
)
URL_AUTH_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
SNS_KEY_DOC = "https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns"
CLOUDFRONT_CERT_DOC = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html"
)
# AWS provider: aws_lambda_permission's invoked_via_function_url is in 6.28 on.
AWS_MIN = (6, 28, 0)
TERRAFORM_REMOVED_MIN = (1, 7, 0)


# ------------------------------------------------------------------ dashboards


def dashboard_shape(body, name: str) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return [f"{name}: the body has no `widgets` array ({DASHBOARD_DOC})"]
    errs = []
    for i, w in enumerate(body["widgets"]):
        props = w.get("properties") if isinstance(w, dict) else None
        if not isinstance(props, dict) or w.get("type") != "metric" or "metrics" not in props:
            continue
        title = props.get("title", f"widget {i}")
        rows = props["metrics"]
        if not isinstance(rows, list) or not rows:
            errs.append(f"{name}: widget {title!r}: metrics must be a non-empty array of arrays ({DASHBOARD_DOC})")
            continue
        for j, row in enumerate(rows):
            if not isinstance(row, list):
                errs.append(
                    f"{name}: widget {title!r}: metrics[{j}] is {json.dumps(row)[:40]}, not an array: "
                    f"metrics must be an array of arrays, one per metric ({DASHBOARD_DOC})"
                )
                break
            head = row[:-1] if row and isinstance(row[-1], dict) else row
            expression = bool(row) and isinstance(row[-1], dict) and "expression" in row[-1]
            if not all(isinstance(x, str) for x in head) or (len(head) < 2 and not expression):
                errs.append(
                    f"{name}: widget {title!r}: metrics[{j}] = {json.dumps(row)[:80]}: want "
                    f"[namespace, metric name, dimension name, value, ..., {{options}}] ({DASHBOARD_DOC})"
                )
    return errs


def _stub_name(is_data: bool, rtype: str, name: str) -> str:
    return f"zz_stub_{'d_' if is_data else 'r_'}{rtype}__{name.replace('-', '_')}"


def _closure(mod: Module, value) -> tuple[list[str], list[tuple[bool, str, str]]]:
    """The locals and resources an expression needs, transitively."""
    locals_, res, todo = [], [], [value]
    while todo:
        for s in tfconfig.strings(todo.pop()):
            for m in LOCAL_REF.finditer(s):
                if m.group(1) not in locals_ and m.group(1) in mod.locals:
                    locals_.append(m.group(1))
                    todo.append(mod.locals[m.group(1)])
            for is_data, rtype, rname, _, _ in scan_refs(s):
                key = (is_data, rtype, rname)
                decl = mod.declared("data" if is_data else "resource", rtype, rname)
                if key not in res and decl:
                    res.append(key)
                    todo += [decl[1][k] for k in ("for_each", "count") if k in decl[1]]
    return locals_, res


def _substitute(value):
    """References to resources -> references to their stubs (locals)."""
    if isinstance(value, str):
        return REF.sub(lambda m: "local." + _stub_name(bool(m.group(1)), m.group(2), m.group(3)), value)
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    return value


def _stub(mod: Module, schema, is_data: bool, rtype: str, name: str) -> str:
    body = mod.declared("data" if is_data else "resource", rtype, name)[1]
    block, _ = schema.lookup("data" if is_data else "resource", rtype)
    attrs = sorted(set(block["attributes"]) | set(block["blocks"])) if block else ["id"]
    label = f"{'data.' if is_data else ''}{rtype}.{name}"

    def obj(suffix: str) -> str:
        return "{ " + ", ".join(f'{a} = "{label}{suffix}.{a}"' for a in attrs) + " }"

    if "for_each" in body:
        coll = expr(_substitute(body["for_each"]))
        return f"{{ for k in try(keys({coll}), tolist({coll})) : k => {obj('[${k}]')} }}"
    if "count" in body:
        return f"[for i in range({expr(_substitute(body['count']))}) : {obj('[${i}]')}]"
    return obj("")


def eval_with_terraform(mod: Module, schema, value, binary: str):
    """value evaluated by `terraform console` in a scratch module: the variables
    (validation dropped, a placeholder default where none), the locals it needs, and
    a stub object per resource (every schema attribute a placeholder string)."""
    locals_, res = _closure(mod, value)
    variables = []
    for vname, body in mod.variables.items():
        b = {k: v for k, v in body.items() if k != "validation"}
        if "default" not in b:
            kind = expr(b.get("type", "${string}"))
            b["default"] = {"number": 0, "bool": False}.get(kind, f'"var.{vname}"')
        variables.append({f'"{vname}"': b})
    lbody = {n: _substitute(mod.locals[n]) for n in locals_}
    lbody["zz_evaluated"] = _substitute(value)
    lbody["__is_block__"] = True
    text = _dumps({"variable": variables}) if variables else ""
    text += "\n" + _dumps({"locals": [lbody]})
    text += "\nlocals {\n" + "".join(f"  {_stub_name(*r)} = {_stub(mod, schema, *r)}\n" for r in res) + "}\n"
    if text in _CONSOLE_CACHE:
        return _CONSOLE_CACHE[text]
    _CONSOLE_CACHE[text] = _console(text, binary)
    return _CONSOLE_CACHE[text]


# Scratch module text -> its value (the self-test evaluates the same one often).
_CONSOLE_CACHE: dict[str, object] = {}


def _console(text: str, binary: str):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "main.tf"), "w") as f:
            f.write(text)
        cli = os.path.join(tmp, "terraformrc")
        open(cli, "w").close()
        env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_CLI_CONFIG_FILE=cli)
        out = subprocess.run(
            [binary, "console"],
            input="jsonencode(local.zz_evaluated)\n",
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    if out.returncode != 0 or not out.stdout.strip().startswith('"'):
        err = re.sub(r"\x1b\[[0-9;]*m", "", out.stderr).strip().splitlines()
        raise hcl_eval.EvalError(
            "terraform console: " + " ".join(line.strip("│ ") for line in err if line.strip("│ "))[:300]
        )
    # The console prints an HCL string: JSON's escapes, plus $${ and %%{.
    hcl_string = out.stdout.strip().replace("$${", "${").replace("%%{", "%{")
    return json.loads(json.loads(hcl_string))


_DUMPED: dict[str, str] = {}


def _dumps(doc: dict) -> str:
    """hcl2.dumps, cached (it is slow, and the self-test repeats itself)."""
    key = json.dumps(doc, sort_keys=True)
    if key not in _DUMPED:
        _DUMPED[key] = hcl2.dumps(doc)
    return _DUMPED[key]


def terraform_binary(mode: str) -> str | None:
    if mode == "python":
        return None
    found = shutil.which("terraform")
    if mode == "terraform" and not found:
        raise hcl_eval.EvalError("no terraform binary on PATH")
    return found


def check_dashboards(mod: Module, schema, mode: str) -> list[str]:
    errs = []
    for (rtype, rname), (fname, body) in mod.resources.items():
        if rtype != "aws_cloudwatch_dashboard" or "dashboard_body" not in body:
            continue
        name = f"{mod.dir}/{fname}: {rtype}.{rname}.dashboard_body"
        try:
            text, how = evaluate(mod, schema, body["dashboard_body"], mode)
            if not isinstance(text, str):
                raise ValueError(f"evaluates to {type(text).__name__}, not the JSON text PutDashboard takes")
            value = json.loads(text)
        except (hcl_eval.EvalError, ValueError, subprocess.SubprocessError) as e:
            errs.append(f"{name}: could not be evaluated: {e}")
            continue
        errs += [f"{e} [evaluated by {how}]" for e in dashboard_shape(value, name)]
    return errs


def evaluate(mod: Module, schema, value, mode: str = "auto"):
    """(value, how): by `terraform console` where a binary is (mode auto or
    terraform), else reproduced in Python (hcl_eval)."""
    binary = terraform_binary(mode)
    if binary:
        return eval_with_terraform(mod, schema, value, binary), "terraform console"
    return hcl_eval.plain(hcl_eval.Evaluator(mod).value(value)), "reproduced in Python"


# ------------------------------------------------------------------ function URLs


def _target(value) -> str:
    """The resource instance an expression names, without its last attribute."""
    return re.sub(r"\s+", "", re.sub(r"\.(function_name|arn|id|qualified_arn)\s*$", "", expr(value)))


def check_function_urls(mod: Module) -> list[str]:
    errs = []
    perms = [(n, b) for (t, n), (_, b) in mod.resources.items() if t == "aws_lambda_permission"]
    for (rtype, rname), (fname, body) in mod.resources.items():
        if rtype != "aws_lambda_function_url" or literal(body.get("authorization_type")) != "NONE":
            continue
        fn = _target(body.get("function_name"))
        mine = [b for _, b in perms if _target(b.get("function_name")) == fn and literal(b.get("principal")) == "*"]
        url = any(
            literal(b.get("action")) == "lambda:InvokeFunctionUrl"
            and literal(b.get("function_url_auth_type")) == "NONE"
            for b in mine
        )
        invoke = any(
            literal(b.get("action")) == "lambda:InvokeFunction" and b.get("invoked_via_function_url") is True
            for b in mine
        )
        where = f"{mod.dir}/{fname}: {rtype}.{rname} (auth NONE, {fn})"
        if not url:
            errs.append(
                f'{where}: no aws_lambda_permission with action lambda:InvokeFunctionUrl, principal "*", function_url_auth_type NONE ({URL_AUTH_DOC})'
            )
        if not invoke:
            errs.append(
                f'{where}: no aws_lambda_permission with action lambda:InvokeFunction, principal "*", '
                f"invoked_via_function_url = true: since October 2025 the URL answers 403 without it ({URL_AUTH_DOC})"
            )
    return errs


# ------------------------------------------------------------------ alarm topic key


def _statements(doc: dict) -> list[dict]:
    out = list(doc.get("statement", []))
    for dyn in doc.get("dynamic", []):
        for label, d in items(dyn):
            if tfconfig.unquote(label) == "statement":
                out += d.get("content", [])
    return out


def _strs(value) -> list[str]:
    vals = value if isinstance(value, list) else [value]
    return [literal(v) if literal(v) is not None else expr(v) for v in vals]


def _allows(st: dict, principal_type: str, pred, actions: set[str]) -> bool:
    if (literal(st.get("effect")) or "Allow") != "Allow":
        return False
    if not any(
        literal(p.get("type")) == principal_type and any(pred(i) for i in _strs(p.get("identifiers", [])))
        for p in st.get("principals", [])
    ):
        return False
    got = set(_strs(st.get("actions", [])))
    return all(a in got or "kms:*" in got for a in actions)


def check_alarm_keys(mod: Module) -> list[str]:
    errs = []
    topics = set()
    for (rtype, _), (_, body) in mod.resources.items():
        if rtype != "aws_cloudwatch_metric_alarm":
            continue
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            for s in tfconfig.strings(body.get(key, [])):
                for m in LOCAL_REF.finditer(s):  # one level of locals
                    for s2 in tfconfig.strings(mod.locals.get(m.group(1), "")):
                        topics |= set(re.findall(r"aws_sns_topic\.([\w-]+)", s2))
                topics |= set(re.findall(r"aws_sns_topic\.([\w-]+)", s))
    for topic in sorted(topics):
        decl = mod.declared("resource", "aws_sns_topic", topic)
        if decl is None:
            continue
        fname, body = decl
        where = f"{mod.dir}/{fname}: aws_sns_topic.{topic} (alarm actions publish to it)"
        key = body.get("kms_master_key_id")
        if key is None:
            continue  # not encrypted: CloudWatch publishes without a key
        lit = literal(key)
        if lit is not None and lit.startswith("alias/aws/"):
            errs.append(
                f"{where}: kms_master_key_id {lit} is an AWS managed key, which CloudWatch alarms may not use: no alarm would notify ({SNS_KEY_DOC})"
            )
            continue
        m = re.search(r"aws_kms_key\.([\w-]+)\.", expr(key))
        a = re.search(r"aws_kms_alias\.([\w-]+)\.", expr(key))
        if not m and a and mod.declared("resource", "aws_kms_alias", a.group(1)):
            m = re.search(
                r"aws_kms_key\.([\w-]+)\.",
                expr(mod.declared("resource", "aws_kms_alias", a.group(1))[1].get("target_key_id", "")),
            )
        kdecl = mod.declared("resource", "aws_kms_key", m.group(1)) if m else None
        if kdecl is None:
            errs.append(
                f"{where}: kms_master_key_id {expr(key)} is not a customer-managed aws_kms_key of {mod.dir}, whose policy could be checked"
            )
            continue
        kname, kbody = m.group(1), kdecl[1]
        kwhere = f"{mod.dir}/{kdecl[0]}: aws_kms_key.{kname} (the alarm topic's key)"
        if kbody.get("enable_key_rotation") is not True:
            errs.append(f"{kwhere}: enable_key_rotation must be true")
        p = re.fullmatch(r"data\.aws_iam_policy_document\.([\w-]+)\.json", expr(kbody.get("policy", "")))
        doc = mod.declared("data", "aws_iam_policy_document", p.group(1)) if p else None
        if doc is None:
            errs.append(
                f"{kwhere}: policy must be a data.aws_iam_policy_document's json (so it can be checked); got {expr(kbody.get('policy'))}"
            )
            continue
        sts = _statements(doc[1])
        cw = [s for s in sts if _allows(s, "Service", lambda i: i == "cloudwatch.amazonaws.com", set())]
        got = {a for s in cw for a in _strs(s.get("actions", []))}
        missing = [a for a in ("kms:Decrypt", "kms:GenerateDataKey*") if a not in got and "kms:*" not in got]
        if not cw or missing:
            errs.append(
                f"{kwhere}: its policy must allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* "
                f"(missing {missing or ['the statement']}): CloudWatch alarms cannot publish to the topic otherwise ({SNS_KEY_DOC})"
            )
        if not any(_allows(s, "AWS", lambda i: ":root" in i, {"kms:*"}) for s in sts):
            errs.append(
                f"{kwhere}: its policy must keep AWS's default statement (the account root, kms:*), or nobody can manage the key"
            )
    return errs


# ------------------------------------------------------------------ CloudFront certificates


def _provider_region(mod: Module, prov) -> str | None:
    """The literal region of a resource's provider (None: not a literal)."""
    alias = expr(prov).split(".", 1)[1] if prov is not None and "." in expr(prov) else None
    for _, pname, body in mod.providers:
        if pname == "aws" and literal(body.get("alias")) == alias:
            return literal(body.get("region"))
    return None


def check_cloudfront_certificates(mod: Module) -> list[str]:
    errs = []
    for (rtype, rname), (fname, body) in mod.resources.items():
        if rtype != "aws_cloudfront_distribution":
            continue
        for vc in body.get("viewer_certificate", []):
            arn = vc.get("acm_certificate_arn")
            if arn is None:
                continue
            where = f"{mod.dir}/{fname}: {rtype}.{rname}.viewer_certificate"
            chain, ref = [], expr(arn)
            for _ in range(3):
                m = re.fullmatch(r"(aws_acm_certificate(?:_validation)?)\.([\w-]+)\.(\w+)", ref.strip())
                decl = mod.declared("resource", m.group(1), m.group(2)) if m else None
                if decl is None:
                    break
                chain.append((f"{m.group(1)}.{m.group(2)}", decl[1]))
                if m.group(1) == "aws_acm_certificate":
                    break
                ref = expr(decl[1].get("certificate_arn", ""))
            if not chain or not chain[-1][0].startswith("aws_acm_certificate."):
                errs.append(
                    f"{where}: acm_certificate_arn {expr(arn)} does not lead to an aws_acm_certificate of {mod.dir}"
                )
                continue
            for label, b in chain:
                region = _provider_region(mod, b.get("provider"))
                if region != "us-east-1":
                    errs.append(
                        f"{where}: {label} is created with provider {expr(b.get('provider')) if b.get('provider') else 'aws (default)'} "
                        f"in {region or 'a region not fixed to us-east-1'}: CloudFront takes ACM certificates from us-east-1 only ({CLOUDFRONT_CERT_DOC})"
                    )
    return errs


# ------------------------------------------------------------------ versions


def parse_version(v: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3]) + (0,) * (3 - len(re.findall(r"\d+", v)[:3]))


def allows(constraint: str, version: str) -> bool:
    """Terraform version constraint syntax (=, !=, >, >=, <, <=, ~>)."""
    v = parse_version(version)
    for part in constraint.split(","):
        m = re.fullmatch(r"\s*(~>|>=|<=|!=|=|>|<)?\s*v?([0-9][0-9.]*)\s*", part)
        if not m:
            raise ValueError(f"not a version constraint: {part!r}")
        op, want = m.group(1) or "=", m.group(2)
        w, n = parse_version(want), len(want.split("."))
        if op == "~>":
            upper = (w[0] + 1, 0, 0) if n <= 2 else (w[0], w[1] + 1, 0)
            ok = w <= v < upper
        else:
            ok = {"=": v == w, "!=": v != w, ">": v > w, ">=": v >= w, "<": v < w, "<=": v <= w}[op]
        if not ok:
            return False
    return True


def check_versions(files: dict[str, str], mod: Module, schema) -> list[str]:
    errs = []
    required, tf_version = {}, None
    for fname, body in mod.terraform:
        tf_version = literal(body.get("required_version")) or tf_version
        for rp in body.get("required_providers", []):
            for pname, spec in items(rp):
                required[pname] = (fname, spec if isinstance(spec, dict) else {})
    for pname, p in schema.providers.items():
        if pname not in required:
            errs.append(f"{mod.dir}: required_providers has no {pname}")
            continue
        fname, spec = required[pname]
        c = literal(spec.get("version")) or ""
        where = f"{mod.dir}/{fname}: required_providers.{pname} version {c!r}"
        try:
            if not allows(c, p["version"]):
                errs.append(
                    f"{where} excludes {p['version']}, the schema tests/infra/provider-schema.json checks against"
                )
            if pname == "aws":
                lo = ".".join(map(str, AWS_MIN))
                below = (AWS_MIN[0], AWS_MIN[1] - 1, 99)
                if not allows(c, lo) or allows(c, ".".join(map(str, below))):
                    errs.append(
                        f"{where} must admit {lo} and nothing older (aws_lambda_permission.invoked_via_function_url is new in 6.28)"
                    )
                if allows(c, "7.0.0") or allows(c, "8.0.0"):
                    errs.append(f"{where} must exclude 7.0 (a major version may remove what 6.x deprecates)")
        except ValueError as e:
            errs.append(f"{where}: {e}")
    if mod.removed or any(f.startswith("infra/teardown/") for f in files):
        lo = ".".join(map(str, TERRAFORM_REMOVED_MIN))
        if not tf_version or allows(tf_version, "1.6.99") or not allows(tf_version, lo):
            errs.append(
                f"{mod.dir}: required_version {tf_version!r} must be >= {lo}: `removed` blocks (infra/teardown/) need it"
            )
    return errs


# ------------------------------------------------------------------ teardown


def check_teardown(files: dict[str, str], config: dict[str, Module], schema) -> list[str]:
    import check_schema

    errs = []
    for path in sorted(p for p in files if p.startswith("infra/teardown/") and p.endswith(".tf")):
        name = PurePosixPath(path).stem
        target = f"infra/modules/{name}/main.tf"
        if target not in files:
            errs.append(f"{path}: stands in for {target}, which does not exist")
            continue
        mod = config.get(f"infra/modules/{name}")
        if mod is None:
            errs.append(f"{path}: infra/modules/{name} is not called by infra/")
            continue
        try:
            doc = tfconfig.parse(files[path])
        except Exception as e:
            errs.append(f"{path}: does not parse: {str(e).splitlines()[0]}")
            continue
        forgets = {}
        for body in doc.get("removed", []):
            a = tfconfig.address(body.get("from"))
            lc = (body.get("lifecycle") or [{}])[0]
            if a:
                forgets[(a[1], a[2])] = lc.get("destroy") is False
        if doc.get("resource") or doc.get("data"):
            errs.append(f"{path}: declares resources: it must only forget the module's")
        for (rtype, rname), (fname, _) in mod.resources.items():
            if fname != "main.tf":
                continue
            if (rtype, rname) not in forgets:
                errs.append(f"{path}: no removed block for {rtype}.{rname}: the teardown would destroy it")
            elif not forgets[(rtype, rname)]:
                errs.append(f"{path}: removed block for {rtype}.{rname} needs lifecycle {{ destroy = false }}")
        swapped = dict(files)
        swapped[target] = files[path]
        swapped = {k: v for k, v in swapped.items() if k != path}
        sconfig = tfconfig.load_config(swapped)
        for m in sconfig.values():
            for e in check_schema.check_module(m, sconfig, schema):
                errs.append(f"{path} in place of {target}: {e}")
    return errs


# ------------------------------------------------------------------ entry


def check(files: dict[str, str], config: dict[str, Module], schema, terraform: str = "auto") -> list[str]:
    root = config["infra"]
    errs = []
    for mod in config.values():
        errs += check_dashboards(mod, schema, terraform)
        errs += check_function_urls(mod)
        errs += check_alarm_keys(mod)
        errs += check_cloudfront_certificates(mod)
    errs += check_versions(files, root, schema)
    errs += check_teardown(files, config, schema)
    return errs


def extra_self_tests(files: dict[str, str], schema):
    """Cases that are not one planted mistake."""
    config = tfconfig.load_config(files)
    root = config["infra"]

    def same_value():
        if not shutil.which("terraform"):
            return ("skip", "no terraform binary")
        body = root.resources[("aws_cloudwatch_dashboard", "main")][1]["dashboard_body"]
        t, _ = evaluate(root, schema, body, "terraform")
        p, _ = evaluate(root, schema, body, "python")
        return None if t == p else f"terraform: {t[:200]} / Python: {p[:200]}"

    def constraint_edges():
        cases = [
            (">= 6.28, < 7.0", "6.28.0", True),
            (">= 6.28, < 7.0", "6.27.9", False),
            (">= 6.28, < 7.0", "7.0.0", False),
            ("~> 6.28", "6.99.0", True),
            ("~> 6.28", "7.0.0", False),
            ("~> 6.28.0", "6.29.0", False),
            ("~> 3.6", "3.9.1", True),
        ]
        bad = [c for c in cases if allows(c[0], c[1]) != c[2]]
        return None if not bad else f"wrong answers: {bad}"

    return [
        ("dashboard: terraform console and the Python reproduction give the same body", same_value),
        ("version constraints: ~> and ranges at their edges", constraint_edges),
    ]
