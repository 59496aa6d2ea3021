#!/usr/bin/env python3
"""Checks infra/*.tf against what the Rust code fixes.

`terraform validate` cannot run here (no provider can be downloaded), so this reads
both sides statically: the Terraform with the HCL2 parser checkov ships
(bc-python-hcl2, module `hcl2`), the code's facts with small regexes over the Rust
sources that define them:

  functions   tunnel_aws::functions::FUNCTIONS and lambdas/aws/src/bin/*.rs
  env vars    tunnel_aws::env, functions::env, functions::proxy::env (+ required())
  channels    the functions that keep a return channel (Proxy::from_env): the bins
              running proxy::run, and rest.rs's REPLAY_ROUTE functions
  tables      tunnel_aws::table_definitions (lambdas/aws/src/tables.rs, attr names
              from item.rs)
  store calls the DynamoDB calls of lambdas/aws/src/store/, per table and index
  log bucket  functions::LOG_BUCKET_ACCESS (who uses the request log's bucket, and
              how), the S3 calls of lambdas/aws/src/log_bucket.rs and its LOG_PREFIX,
              and the log's retention (tunnel_backend::config::DEFAULT_LOG_TTL_SECS);
              functions::BODY_BUCKET_ACCESS, the S3 calls of
              functions/stored_body.rs and its BODY_PREFIX (bodies in transit)
  routes      functions::rest::ROUTES, functions::WS_ROUTES
  ingress     functions/incoming.rs TUNNEL_HOST_HEADER, ORIGIN_SECRET_HEADER;
              client-core RESERVED_SUBDOMAINS
  console     web-console/src/services/config.rs (what config.json holds); the
              console distribution serves the REST routes' /v1/* from the REST API

Usage: check_infra.py [--root DIR] [--self-test]
  --self-test  also mutates copies of the facts and of the parsed Terraform, one
               mismatch at a time, and requires the checker to report each one.
Exit 0 when every check passes; 1 otherwise. Last line: "N passed, N failed".
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path

try:
    import hcl2  # bc-python-hcl2, installed with checkov by scripts/setup.sh python
except ImportError:  # pragma: no cover
    print("check_infra: the `hcl2` module is missing: run scripts/setup.sh python", file=sys.stderr)
    sys.exit(2)


# ------------------------------------------------------------------ Rust facts


def _const_block(src: str, header: str) -> str:
    """Text between `header` and the closing `];` of a const slice."""
    start = src.index(header)
    end = src.index("];", start)
    return src[start:end]


def _env_module(src: str) -> dict[str, str]:
    """CONST -> value of the first `pub mod env { ... }` in src."""
    m = re.search(r"pub mod env \{(.*?)\n\}", src, re.S)
    if not m:
        raise ValueError("no `pub mod env` block")
    return dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', m.group(1)))


# DynamoDB SDK calls (fluent client methods, transaction item builders) -> IAM action.
STORE_CALLS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "batch_get_item": "BatchGetItem",
    "batch_write_item": "BatchWriteItem",
    "Put": "PutItem",
    "Delete": "DeleteItem",
    "Update": "UpdateItem",
    "ConditionCheck": "ConditionCheckItem",
}
_STORE_CALL = re.compile(
    r"\.(get_item|put_item|update_item|delete_item|query|scan|batch_get_item|batch_write_item)\(\)"
    r"|\b(Put|Delete|Update|ConditionCheck)::builder\(\)"
)


def store_calls(src: str, consts: dict[str, str]) -> tuple[dict, dict]:
    """What lambdas/aws/src/store/ does on each table: ({table: actions},
    {table: {index: actions}}). A call names its table right after itself
    (`.put_item().table_name(&self.tables.requests)`); reads of one item go through
    the `get` helper (`self.get(&self.tables.clients, ...)`). Any other way of naming
    a table is refused, so a new helper cannot hide calls from the IAM check."""
    tables: dict[str, set] = {}
    indexes: dict[str, dict[str, set]] = {}
    for m in re.finditer(r"\.table_name\(([^)]*)\)", src):
        arg = m.group(1).strip()
        if arg == "table" and re.search(r"async fn get\(.*?\.get_item\(\)\s*\.table_name\(table\)", src, re.S):
            continue  # the `get` helper, counted at its callers below
        ref = re.fullmatch(r"&self\.tables\.(\w+)", arg)
        if not ref:
            raise ValueError(f"store.rs names a table as {arg!r}: the checker cannot tell which")
        calls = list(_STORE_CALL.finditer(src, 0, m.start()))
        if not calls or src[calls[-1].end() : m.start()].strip():
            raise ValueError(f"store.rs: no DynamoDB call right before {m.group(0)}")
        action = STORE_CALLS[calls[-1].group(1) or calls[-1].group(2)]
        # A chain ends at its `.send()` (or `.build()`), or where it is handed whole
        # to the paging helper: `query_all(<chain>).await`.
        end = re.compile(r"\.(send|build)\(\)|\)\s*\.await").search(src, m.end())
        chain = src[m.end() : end.start() if end else len(src)]
        idx = re.search(r"\.index_name\((\w+)\)", chain)
        if idx:
            name = consts.get(idx.group(1), idx.group(1))
            indexes.setdefault(ref.group(1), {}).setdefault(name, set()).add(action)
        else:
            tables.setdefault(ref.group(1), set()).add(action)
    for m in re.finditer(r"\bself\s*\.get\(\s*&self\.tables\.(\w+)", src):
        tables.setdefault(m.group(1), set()).add("GetItem")
    return tables, indexes


# S3 SDK calls (fluent client methods) of log_bucket.rs -> IAM action.
S3_CALLS = {"put_object": "PutObject", "get_object": "GetObject", "delete_object": "DeleteObject"}


def _secs(expr: str) -> int:
    """A Rust constant expression of whole numbers and `*` (e.g. `24 * 3600`)."""
    total = 1
    for factor in expr.split("*"):
        total *= int(factor.strip().replace("_", ""))
    return total


def read_facts(root: Path) -> dict:
    aws = root / "lambdas/aws/src"
    mod_rs = (aws / "functions/mod.rs").read_text()
    rest_rs = (aws / "functions/rest.rs").read_text()
    proxy_rs = (aws / "functions/proxy.rs").read_text()
    incoming_rs = (aws / "functions/incoming.rs").read_text()
    config_rs = (aws / "config.rs").read_text()
    tables_rs = (aws / "tables.rs").read_text()
    item_rs = (aws / "item.rs").read_text()
    # The store is a folder of one job a file; its calls are read as one text.
    store_rs = "\n".join(f.read_text() for f in sorted((aws / "store").glob("*.rs")))
    log_bucket_rs = (aws / "log_bucket.rs").read_text()
    stored_body_rs = (aws / "functions/stored_body.rs").read_text()
    backend_config_rs = (root / "lambdas/backend/src/config.rs").read_text()
    domain_rs = (root / "client-core/src/domain.rs").read_text()
    console_config_rs = (root / "web-console/src/services/config.rs").read_text()

    functions = re.findall(r'"([^"]+)"', _const_block(mod_rs, "pub const FUNCTIONS"))
    bins = sorted(p.stem for p in (aws / "bin").glob("*.rs"))
    ws_routes = re.findall(
        r'\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*\)', _const_block(mod_rs, "pub const WS_ROUTES")
    )
    rest_routes = re.findall(
        r'\(\s*"([^"]+)",\s*Route\s*\{\s*method:\s*"(\w+)",\s*pattern:\s*"([^"]+)",?\s*\},?\s*\)',
        _const_block(rest_rs, "pub const ROUTES"),
    )

    # Who keeps a return channel (Proxy::from_env, which reads proxy::env): the bins
    # running the proxy's main loop, and the REST functions serving the replay route
    # (rest::run builds a Proxy for them only).
    proxy_bins = sorted(p.stem for p in (aws / "bin").glob("*.rs") if re.search(r"\bproxy::run\(", p.read_text()))
    replay_route = re.search(r'pub const REPLAY_ROUTE: &str = "([^"]+)";', rest_rs).group(1)
    replay_fns = sorted({fn for fn, _, pattern in rest_routes if pattern == replay_route})
    if "Proxy::from_env" not in rest_rs:
        replay_fns = []

    store_env = _env_module(config_rs)
    fn_env = _env_module(mod_rs)
    public_rate_env = fn_env["PUBLIC_RATE"]
    proxy_env = _env_module(proxy_rs)
    required = set()
    for src, consts in ((config_rs, store_env), (mod_rs, fn_env)):
        for name in re.findall(r"required\(env::(\w+)\)", src):
            required.add(consts[name])

    attrs = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', item_rs))
    consts = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', tables_rs))
    store_ops, store_index_ops = store_calls(store_rs, consts)
    body = tables_rs[tables_rs.index("pub fn table_definitions") :]
    body = body[: body.index("\n}\n")]
    tables = {}
    for spec in re.split(r"\bTableSpec \{", body)[1:]:
        key = re.search(r"name: names\.(\w+)\.clone\(\)", spec).group(1)
        env_var = store_env[re.search(r"env_var: env::(\w+)", spec).group(1)]
        hash_key = attrs[re.search(r"hash_key: s\(attr::(\w+)\)", spec).group(1)]
        attributes = {hash_key: "S"}
        # The table's own sort key: written before its indexes, if any.
        own = spec.split("global_secondary_indexes", 1)[0]
        range_key = None
        m = re.search(r"range_key: Some\(KeyAttribute \{\s*name: attr::(\w+),\s*kind: AttributeType::(\w)", own)
        if m:
            range_key = attrs[m.group(1)]
            attributes[range_key] = m.group(2)
        else:
            m = re.search(r"range_key: Some\(s\(attr::(\w+)\)\)", own)
            if m:
                range_key = attrs[m.group(1)]
                attributes[range_key] = "S"
        gsis = {}
        for idx in re.findall(r"IndexSpec \{(.*?)projection: \"(\w+)\"", spec, re.S):
            text, projection = idx
            name_ref = re.search(r"name: (\w+)", text).group(1)
            iname = consts.get(name_ref, name_ref)
            ihash = attrs[re.search(r"hash_key: s\(attr::(\w+)\)", text).group(1)]
            attributes.setdefault(ihash, "S")
            rng = None
            m = re.search(
                r"range_key: Some\(KeyAttribute \{\s*name: attr::(\w+),\s*kind: AttributeType::(\w)",
                text,
            )
            if m:
                rng = attrs[m.group(1)]
                attributes.setdefault(rng, m.group(2))
            else:
                m = re.search(r"range_key: Some\(s\(attr::(\w+)\)\)", text)
                if m:
                    rng = attrs[m.group(1)]
                    attributes.setdefault(rng, "S")
            gsis[iname] = {"hash_key": ihash, "range_key": rng, "projection": projection}
        m = re.search(r"ttl_attribute: Some\(attr::(\w+)\)", spec)
        tables[key] = {
            "env_var": env_var,
            "hash_key": hash_key,
            "range_key": range_key,
            "attributes": attributes,
            "gsis": gsis,
            "ttl": attrs[m.group(1)] if m else None,
        }

    log_access = {
        fn: set(re.findall(r'"(\w+)"', acts))
        for fn, acts in re.findall(r'\(\s*"([^"]+)",\s*&\[([^\]]*)\],?\s*\)', _const_block(mod_rs, "pub const LOG_BUCKET_ACCESS"))
    }
    s3_calls = {S3_CALLS[m] for m in re.findall(r"\.(put_object|get_object|delete_object)\(\)", log_bucket_rs)}
    log_prefix = re.search(r'pub const LOG_PREFIX: &str = "([^"]+)";', log_bucket_rs).group(1)
    body_access = {
        fn: set(re.findall(r'"(\w+)"', acts))
        for fn, acts in re.findall(r'\(\s*"([^"]+)",\s*&\[([^\]]*)\],?\s*\)', _const_block(mod_rs, "pub const BODY_BUCKET_ACCESS"))
    }
    # The presigned URLs act with the signer's rights: a presigned get_object or
    # put_object needs the grant as a call does.
    body_s3_calls = {S3_CALLS[m] for m in re.findall(r"\.(put_object|get_object|delete_object)\(\)", stored_body_rs)}
    body_prefix = re.search(r'pub const BODY_PREFIX: &str = "([^"]+)";', stored_body_rs).group(1)
    log_ttl = _secs(re.search(r"pub const DEFAULT_LOG_TTL_SECS: u64 = ([^;]+);", backend_config_rs).group(1))

    reserved = re.findall(r'"([a-z0-9-]+)"', _const_block(domain_rs, "pub const RESERVED_SUBDOMAINS"))
    headers = dict(re.findall(r'pub const (\w+_HEADER): &str = "([^"]+)";', incoming_rs))
    config_struct = re.search(r"pub struct Config \{(.*?)\n\}", console_config_rs, re.S)
    console_config = re.findall(r"pub (\w+): String", config_struct.group(1)) if config_struct else []
    return {
        "functions": functions,
        "bins": bins,
        "ws_routes": ws_routes,
        "rest_routes": rest_routes,
        "store_env": set(store_env.values()),
        "fn_env": set(fn_env.values()),
        "proxy_env": set(proxy_env.values()),
        "origin_secret_env": proxy_env["ORIGIN_SECRET"],
        "ingress_functions": set(proxy_bins),
        "channel_functions": set(proxy_bins) | set(replay_fns),
        "store_ops": store_ops,
        "store_index_ops": store_index_ops,
        "required_env": required,
        "tables": tables,
        "reserved": set(reserved),
        "host_header": headers["TUNNEL_HOST_HEADER"],
        "origin_header": headers["ORIGIN_SECRET_HEADER"],
        "console_config": console_config,
        "public_rate_env": public_rate_env,
        "log_access": log_access,
        "s3_calls": s3_calls,
        "log_prefix": log_prefix,
        "body_access": body_access,
        "body_s3_calls": body_s3_calls,
        "body_prefix": body_prefix,
        "log_ttl_secs": log_ttl,
        "log_bucket_env": store_env["LOG_BUCKET"],
    }


# ------------------------------------------------------------------ Terraform


def load_tf(infra: Path) -> dict:
    """Merged view: resource/data {type: {name: body}}, locals, variables."""
    out = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "files": [], "dir": infra}
    for path in sorted(infra.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f)
        out["files"].append(path.name)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        out[kind].setdefault(rtype, {})[name] = body
        for entry in doc.get("locals", []):
            for k, v in entry.items():
                if not k.startswith("__"):
                    out["locals"][k] = v[0] if isinstance(v, list) and len(v) == 1 else v
        for entry in doc.get("variable", []):
            out["variable"].update(entry)
    return out


def attr(body: dict, key: str, default=None):
    """An attribute's value (the parser wraps each in a one-element list)."""
    v = body.get(key)
    if v is None:
        return default
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def blocks(body: dict, key: str) -> list[dict]:
    return body.get(key, []) or []


def squash(s) -> str:
    return re.sub(r"\s+", "", str(s))


# ------------------------------------------------------------------ checks


class Report:
    def __init__(self, quiet: bool = False):
        self.passed = 0
        self.failures: list[str] = []
        self.quiet = quiet

    def section(self, title: str) -> None:
        if not self.quiet:
            print(title)

    def check(self, what: str, ok, detail: str = "") -> bool:
        if not isinstance(what, str):
            raise TypeError("check(what, ok, detail): `what` names the check")
        if ok:
            self.passed += 1
            if not self.quiet:
                print(f"  ok    {what}")
        else:
            msg = f"{what}: {detail}" if detail else what
            self.failures.append(msg)
            if not self.quiet:
                print(f"  FAIL  {msg}")
        return ok

    def same(self, what: str, got, want) -> bool:
        return self.check(what, got == want, f"terraform {got!r} != code {want!r}")


# The functions that post to (or close) @connections, and how: read from the
# handlers (connections.send / connections.close callers). Reviewed by hand; the
# Terraform must match exactly, so widening either side fails.
EXPECTED_WS_MANAGE = {
    "tunnel-connect": {"POST", "DELETE"},  # tunnel_connect/release answers; take_over closes
    "tunnel-relay": {"POST"},
    "tunnel-proxy": {"POST"},
    "replay-request": {"POST"},  # Proxy::forward, as tunnel-proxy: REQUEST, BODY, CREDIT, CANCEL
    "delete-tunnel": {"POST"},  # ERROR to a client still serving the tunnel
}

# DynamoDB actions per function, from the Store methods each function's handlers
# call (lambdas/backend/src/handlers, lambdas/backend/src/api.rs, and for the two
# channel functions Proxy::forward) and how lambdas/aws/src/store/ implements them
# (the store side is also read from store.rs: see check_iam). TransactWriteItems is
# authorised per item (Put/Delete). Every REST authenticate (API key or session
# token) is a get_client; a wrong credential (and a forged token on $connect) is a
# get_bucket and put_bucket on rate_limits.
#   set_client_key: clients UpdateItem
#   get_exchange: requests GetItem, in each of the caller's tunnels (get_request
#     lists them: Query on tunnels' client_id-index)
#   put_exchanges: requests PutItem
#   list_exchanges, count_exchanges: Query on requests (a tunnel's partition)
#   clear_exchanges: that Query, then requests DeleteItem per item
#   hold_request: inbox UpdateItem (counters), PutItem; when full, Query (recount)
#   take_held: inbox Query, DeleteItem, UpdateItem (count)
# The inbox grants come ahead of their callers: tunnel-proxy will hold requests,
# inspect-requests will serve POST /v1/tunnels/{id}/inbox/take.
EXPECTED_TABLE_ACCESS = {
    "register-client": {"clients": {"PutItem"}},
    # client_info; rotate_key's set_client_key; GET /v1/openapi.json reads nothing
    "get-client": {"clients": {"GetItem", "UpdateItem"}, "rate_limits": {"GetItem", "PutItem"}},
    "issue-token": {"clients": {"GetItem"}, "rate_limits": {"GetItem", "PutItem"}},
    # resume_own and PATCH /v1/tunnels/{id}: set_policy is an UpdateItem
    "create-tunnel": {
        "clients": {"GetItem"},
        "tunnels": {"GetItem", "PutItem", "UpdateItem"},
        "domains": {"GetItem", "PutItem"},
        "requests": {"Query"},  # resume_own -> describe -> count_exchanges
        "rate_limits": {"GetItem", "PutItem"},
    },
    # list_tunnels (the index, below); request_count
    "list-tunnels": {"clients": {"GetItem"}, "tunnels": {"GetItem"}, "requests": {"Query"}, "rate_limits": {"GetItem", "PutItem"}},
    "delete-tunnel": {
        "clients": {"GetItem"},
        "tunnels": {"GetItem", "DeleteItem"},
        "domains": {"DeleteItem"},
        "requests": {"Query", "DeleteItem"},  # clear_exchanges
        "rate_limits": {"GetItem", "PutItem"},
    },
    "inspect-requests": {
        "clients": {"GetItem"},
        "tunnels": {"GetItem"},
        "requests": {"GetItem", "DeleteItem", "Query"},  # show; clear; list and live
        "inbox": {"Query", "DeleteItem", "UpdateItem"},  # take_held
        "rate_limits": {"GetItem", "PutItem"},
    },
    "replay-request": {
        "clients": {"GetItem"},
        "tunnels": {"GetItem"},
        "domains": {"GetItem"},  # resolve
        "requests": {"GetItem", "PutItem"},  # the original; the replay's capture
        "rate_limits": {"GetItem", "PutItem"},
    },
    # A forged token costs its address a token of its bucket (auth_limit::failed).
    "authorize-connection": {"rate_limits": {"GetItem", "PutItem"}},
    # attach/detach_connection also set the domain claim's expiry (set_claim_expiry).
    "tunnel-connect": {"tunnels": {"GetItem", "UpdateItem"}, "domains": {"UpdateItem"}, "connections": {"GetItem", "PutItem"}},
    "tunnel-disconnect": {"tunnels": {"UpdateItem"}, "domains": {"UpdateItem"}, "connections": {"GetItem", "DeleteItem"}},
    "tunnel-relay": {},
    "tunnel-proxy": {
        "domains": {"GetItem"},
        "tunnels": {"GetItem"},
        "requests": {"PutItem"},
        "inbox": {"UpdateItem", "PutItem", "Query"},  # hold_request
    },
}
EXPECTED_INDEX_ACCESS = {
    "list-tunnels": {"tunnels": {"Query"}},  # list_tunnels
    "inspect-requests": {"tunnels": {"Query"}},  # get_request: the caller's tunnels
    "replay-request": {"tunnels": {"Query"}},  # the original, as get_request finds it
}
STORE_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query"}


def check_functions(r: Report, facts: dict, tf: dict) -> None:
    r.section("functions")
    fns = tf["locals"].get("functions", {})
    r.same("FUNCTIONS == src/bin/*.rs", sorted(facts["functions"]), facts["bins"])
    r.same("local.functions == FUNCTIONS", sorted(fns), sorted(facts["functions"]))
    lam = tf["resource"].get("aws_lambda_function", {}).get("fn", {})
    r.same("aws_lambda_function.fn iterates local.functions", attr(lam, "for_each"), "${local.functions}")
    r.same("runtime", attr(lam, "runtime"), "provided.al2023")
    r.same("handler", attr(lam, "handler"), "bootstrap")
    r.same("architectures", attr(lam, "architectures"), ["${var.architecture}"])
    r.check("zip per function", "${each.key}.zip" in str(attr(lam, "filename", "")), str(attr(lam, "filename")))
    r.same("role is the function's own", attr(lam, "role"), "${aws_iam_role.fn[each.key].arn}")
    r.check("some function keeps a return channel", bool(facts["channel_functions"]), str(facts["channel_functions"]))
    for fn in sorted(facts["channel_functions"]):
        size = fns.get(fn, {})
        r.check(f"{fn} 256 MB / 60 s", (size.get("memory_size"), size.get("timeout")) == (256, 60), str(size))
    relay = fns.get("tunnel-relay", {})
    r.same("tunnel-relay reserved concurrency", relay.get("reserved_concurrency"), "${var.relay_reserved_concurrency}")
    proxy = fns.get("tunnel-proxy", {})
    r.same("tunnel-proxy reserved concurrency (caps public traffic)", proxy.get("reserved_concurrency"), "${var.proxy_reserved_concurrency}")
    rate = tf["locals"].get("function_env", {}).get("tunnel-proxy", {}).get(facts["public_rate_env"])
    r.same(f"tunnel-proxy: {facts['public_rate_env']} from var.public_rate", rate, "${var.public_rate}")
    lg = tf["resource"].get("aws_cloudwatch_log_group", {}).get("fn", {})
    r.check(
        "own log group per function with retention",
        attr(lg, "for_each") == "${local.functions}"
        and attr(lg, "name") == "/aws/lambda/" + str(attr(lam, "function_name"))
        and attr(lg, "retention_in_days") == "${var.log_retention_days}",
        f"{attr(lg, 'name')} / {attr(lam, 'function_name')}",
    )


def function_env(tf: dict) -> dict[str, dict]:
    """function -> env map, as the lambda's `variables` expression merges them."""
    common = tf["locals"].get("common_env", {})
    per = tf["locals"].get("function_env", {})
    return {fn: {**common, **per.get(fn, {})} for fn in tf["locals"].get("functions", {})}


def check_env(r: Report, facts: dict, tf: dict) -> None:
    r.section("environment")
    lam = tf["resource"].get("aws_lambda_function", {}).get("fn", {})
    env_block = blocks(lam, "environment")
    variables = squash(attr(env_block[0], "variables")) if env_block else ""
    r.same(
        "variables = merge(common_env, function_env[fn])",
        variables,
        squash("${merge(local.common_env,lookup(local.function_env,each.key,{}))}"),
    )
    known = facts["store_env"] | facts["fn_env"] | facts["proxy_env"] | {"RUST_LOG"}
    forbidden = {v for v in facts["store_env"] if v.startswith("AWS_") or v.endswith("_ENDPOINT") and v != "TUNNEL_WS_MANAGEMENT_ENDPOINT"}
    required = facts["required_env"] - forbidden
    envs = function_env(tf)
    r.check("some required variables found in the code", len(required) >= 8, str(sorted(required)))
    for fn in facts["functions"]:
        env = envs.get(fn, {})
        missing = sorted(required - set(env))
        r.check(f"{fn}: every required variable set", not missing, f"missing {missing}")
        unknown = sorted(set(env) - known)
        r.check(f"{fn}: only variables the code reads", not unknown, f"unknown {unknown}")
        bad = sorted(set(env) & forbidden)
        r.check(f"{fn}: no emulator/runtime-owned variables", not bad, f"sets {bad}")
    proxy = envs.get("tunnel-proxy", {})
    missing = sorted(facts["proxy_env"] - set(proxy))
    r.check("tunnel-proxy: its own variables set", not missing, f"missing {missing}")
    # The other return-channel functions read the channel limits (Proxy::from_env)
    # but serve no Function URL: the origin secret stays with the ingress.
    origin = facts["origin_secret_env"]
    channel_vars = facts["proxy_env"] - {origin}
    for fn in sorted(facts["channel_functions"] - {"tunnel-proxy"}):
        env = envs.get(fn, {})
        missing = sorted(channel_vars - set(env))
        r.check(f"{fn}: return-channel variables set", not missing, f"missing {missing}")
        r.same(
            f"{fn}: same return-channel limits as tunnel-proxy",
            {v: env.get(v) for v in sorted(channel_vars)},
            {v: proxy.get(v) for v in sorted(channel_vars)},
        )
    for fn, env in envs.items():
        if fn != "tunnel-proxy":
            allowed = (channel_vars if fn in facts["channel_functions"] else set()) | (
                {origin} if fn in facts["ingress_functions"] else set()
            )
            extra = sorted(set(env) & facts["proxy_env"] - allowed)
            r.check(f"{fn}: only the proxy variables it reads", not extra, f"sets {extra}")
    for key, spec in facts["tables"].items():
        got = (envs.get("tunnel-proxy") or {}).get(spec["env_var"])
        r.same(f"{spec['env_var']} names table {key}", got, f"${{aws_dynamodb_table.{key}.name}}")
    common = tf["locals"].get("common_env", {})
    r.check(
        "token secret from random_password",
        str(common.get("TUNNEL_TOKEN_SECRET", "")).startswith("${random_password."),
        str(common.get("TUNNEL_TOKEN_SECRET")),
    )


def gsi_keys(g: dict) -> dict:
    """An index's keys: its key_schema blocks (the AWS provider 6.x form), else the
    deprecated hash_key/range_key (check_schema.py refuses those)."""
    ks = {attr(k, "key_type"): attr(k, "attribute_name") for k in blocks(g, "key_schema")}
    if ks:
        return {"hash_key": ks.get("HASH"), "range_key": ks.get("RANGE")}
    return {"hash_key": attr(g, "hash_key"), "range_key": attr(g, "range_key")}


def check_tables(r: Report, facts: dict, tf: dict) -> None:
    r.section("tables")
    tfs = tf["resource"].get("aws_dynamodb_table", {})
    r.same("one table per table_definitions entry", sorted(tfs), sorted(facts["tables"]))
    for key, spec in facts["tables"].items():
        t = tfs.get(key)
        if not r.check(f"{key}: defined", t is not None, "missing"):
            continue
        r.same(f"{key}: name", attr(t, "name"), "${local.prefix}" + key)
        r.same(f"{key}: on-demand", attr(t, "billing_mode"), "PAY_PER_REQUEST")
        r.same(f"{key}: hash key", attr(t, "hash_key"), spec["hash_key"])
        r.same(f"{key}: range key", attr(t, "range_key"), spec["range_key"])
        got_attrs = {attr(a, "name"): attr(a, "type") for a in blocks(t, "attribute")}
        r.same(f"{key}: attributes", got_attrs, spec["attributes"])
        got_gsis = {attr(g, "name"): {**gsi_keys(g), "projection": attr(g, "projection_type")} for g in blocks(t, "global_secondary_index")}
        r.same(f"{key}: GSIs", got_gsis, spec["gsis"])
        ttl = [attr(b, "attribute_name") for b in blocks(t, "ttl") if attr(b, "enabled") is True]
        r.same(f"{key}: TTL", ttl[0] if ttl else None, spec["ttl"])
        pitr = blocks(t, "point_in_time_recovery")
        r.check(f"{key}: PITR", bool(pitr) and attr(pitr[0], "enabled") is True)
        sse = blocks(t, "server_side_encryption")
        r.check(f"{key}: SSE", bool(sse) and attr(sse[0], "enabled") is True)


def rest_paths(tf: dict) -> dict[str, str]:
    """aws_api_gateway_resource name -> full path, following parent_id."""
    res = tf["resource"].get("aws_api_gateway_resource", {})
    out: dict[str, str] = {}

    def path(name: str, depth: int = 0) -> str:
        if name in out:
            return out[name]
        body = res[name]
        parent = attr(body, "parent_id")
        m = re.fullmatch(r"\$\{aws_api_gateway_resource\.(\w+)\.id\}", str(parent))
        prefix = path(m.group(1), depth + 1) if m and depth < 20 else ""
        out[name] = f"{prefix}/{attr(body, 'path_part')}"
        return out[name]

    for n in res:
        path(n)
    return out


def check_rest(r: Report, facts: dict, tf: dict) -> None:
    r.section("REST routes")
    want = {f"{m} {p}": fn for fn, m, p in facts["rest_routes"]}
    got = tf["locals"].get("rest_routes", {})
    for k, fn in want.items():
        r.check(f"route {k} -> {fn}", got.get(k) == fn, f"terraform has {got.get(k)!r}")
    extra = sorted(set(got) - set(want))
    r.check("no REST route the code does not serve", not extra, str(extra))
    paths = rest_paths(tf)
    ids = tf["locals"].get("rest_resource_ids", {})
    for p in sorted({route.split(" ", 1)[1] for route in got}):
        ref = re.fullmatch(r"\$\{aws_api_gateway_resource\.(\w+)\.id\}", str(ids.get(p)))
        r.check(f"resource tree has {p}", bool(ref) and paths.get(ref.group(1)) == p, f"{ids.get(p)} -> {paths.get(ref.group(1)) if ref else None}")
    routed = {route.split(" ", 1)[1] for route in want}
    orphans = sorted(p for p in paths.values() if not any(rp == p or rp.startswith(p + "/") for rp in routed))
    r.check("every API Gateway resource leads to a route", not orphans, str(orphans))
    res = tf["resource"]
    method = res.get("aws_api_gateway_method", {}).get("route", {})
    integ = res.get("aws_api_gateway_integration", {}).get("route", {})
    perm = res.get("aws_lambda_permission", {}).get("rest", {})
    r.check(
        "methods, integrations, permissions iterate local.rest_routes",
        all(attr(b, "for_each") == "${local.rest_routes}" for b in (method, integ, perm)),
    )
    r.same("integration is the route's function", attr(integ, "uri"), "${aws_lambda_function.fn[each.value].invoke_arn}")
    r.same("integration type", attr(integ, "type"), "AWS_PROXY")
    r.check("permission scoped to the route", "execution_arn}/${aws_api_gateway_stage.api.stage_name}/" in str(attr(perm, "source_arn")), str(attr(perm, "source_arn")))


def check_ws(r: Report, facts: dict, tf: dict) -> None:
    r.section("WebSocket routes")
    res = tf["resource"]
    api = res.get("aws_apigatewayv2_api", {}).get("ws", {})
    r.same("protocol", attr(api, "protocol_type"), "WEBSOCKET")
    r.same("route selection", attr(api, "route_selection_expression"), "$request.body.action")
    got = dict(tf["locals"].get("ws_routes", {}))
    connect = res.get("aws_apigatewayv2_route", {}).get("connect", {})
    auth = res.get("aws_apigatewayv2_authorizer", {}).get("connect", {})
    m = re.fullmatch(r'\$\{aws_lambda_function\.fn\["([^"]+)"\]\.invoke_arn\}', str(attr(auth, "authorizer_uri")))
    if attr(connect, "route_key") == "$connect" and attr(connect, "authorizer_id") == "${aws_apigatewayv2_authorizer.connect.id}":
        got["$connect"] = m.group(1) if m else None
    for key, fn in facts["ws_routes"]:
        r.check(f"route {key} -> {fn}", got.get(key) == fn, f"terraform has {got.get(key)!r}")
    extra = sorted(set(got) - {k for k, _ in facts["ws_routes"]})
    r.check("no WebSocket route the code does not expect", not extra, str(extra))
    r.same("$connect authorizer is REQUEST", attr(auth, "authorizer_type"), "REQUEST")
    r.same("$connect identity source", attr(auth, "identity_sources"), ["route.request.querystring.token"])
    r.same("$connect authorization", attr(connect, "authorization_type"), "CUSTOM")
    route = res.get("aws_apigatewayv2_route", {}).get("ws", {})
    integ = res.get("aws_apigatewayv2_integration", {}).get("ws", {})
    r.same("routes iterate local.ws_routes", attr(route, "for_each"), "${local.ws_routes}")
    r.same("route target is its function's integration", attr(route, "target"), "integrations/${aws_apigatewayv2_integration.ws[each.value].id}")
    r.same("one integration per routed function", attr(integ, "for_each"), "${toset(values(local.ws_routes))}")
    r.same("integration invokes that function", attr(integ, "integration_uri"), "${aws_lambda_function.fn[each.key].invoke_arn}")


def function_code(tf: dict, code) -> str:
    """A CloudFront Function's code: inline, or the file it loads with file()."""
    m = re.fullmatch(r'\$\{file\("\$\{path\.module\}/([^"]+)"\)\}', str(code))
    if not m:
        return str(code)
    path = tf["dir"] / m.group(1)
    return path.read_text() if path.is_file() else f"(missing file {path})"


def check_ingress(r: Report, facts: dict, tf: dict) -> None:
    r.section("public ingress")
    res = tf["resource"]
    url = res.get("aws_lambda_function_url", {}).get("proxy", {})
    r.same("Function URL on tunnel-proxy", attr(url, "function_name"), '${aws_lambda_function.fn["tunnel-proxy"].function_name}')
    r.same("Function URL streams", attr(url, "invoke_mode"), "RESPONSE_STREAM")
    dist = res.get("aws_cloudfront_distribution", {}).get("tunnels", {})
    origin = (blocks(dist, "origin") or [{}])[0]
    hdrs = {attr(h, "name"): attr(h, "value") for h in blocks(origin, "custom_header")}
    secret = function_env(tf).get("tunnel-proxy", {}).get("TUNNEL_ORIGIN_SECRET")
    r.check(
        f"CloudFront sends {facts['origin_header']} = the proxy's TUNNEL_ORIGIN_SECRET",
        facts["origin_header"] in hdrs and hdrs[facts["origin_header"]] == secret and secret,
        f"{hdrs} vs {secret}",
    )
    code = function_code(tf, attr(res.get("aws_cloudfront_function", {}).get("tunnel_host", {}), "code", ""))
    r.check(f"CloudFront Function sets {facts['host_header']}", f"'{facts['host_header']}'" in code, code[:80])
    orp = res.get("aws_cloudfront_origin_request_policy", {}).get("tunnel", {})
    hc = (blocks(orp, "headers_config") or [{}])[0]
    items = attr((blocks(hc, "headers") or [{}])[0], "items")
    r.check("origin request policy: all headers but Host", attr(hc, "header_behavior") == "allExcept" and items == ["host"], f"{attr(hc, 'header_behavior')} {items}")
    names = {k: str(tf["locals"].get(k, "")) for k in ("api_domain", "ws_domain", "console_domain")}
    for k, v in names.items():
        label = v.split(".", 1)[0]
        r.check(f"{k} label {label!r} is reserved for the service", label in facts["reserved"], str(sorted(facts["reserved"])))


# The console's distribution serves the API under this pattern (same origin, no CORS).
CONSOLE_API_PATTERN = "/v1/*"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}


def _ref(tf: dict, expr, kind: str, rtype: str) -> dict | None:
    """The block `${<kind>.<rtype>.NAME.id}` points at (kind "data" or "resource")."""
    prefix = "data." if kind == "data" else ""
    m = re.fullmatch(rf"\$\{{{re.escape(prefix + rtype)}\.(\w+)\.id\}}", str(expr))
    return tf[kind].get(rtype, {}).get(m.group(1)) if m else None


def _local(tf: dict, expr) -> str:
    """`${local.x}` -> local x's expression (one level), else expr itself."""
    m = re.fullmatch(r"\$\{local\.(\w+)\}", str(expr))
    return str(tf["locals"].get(m.group(1), "")) if m else str(expr)


def check_console(r: Report, facts: dict, tf: dict) -> None:
    r.section("console")
    res = tf["resource"]
    dist = res.get("aws_cloudfront_distribution", {}).get("console", {})
    r.check("console distribution defined", bool(dist))

    # What the console reads: config.json with an empty API base URL = its own origin.
    fields = facts["console_config"]
    r.check("config.json's field found in web-console's Config", len(fields) == 1, str(fields))
    content = squash(attr(res.get("aws_s3_object", {}).get("console_config", {}), "content", ""))
    r.check(
        "config.json: the API is the console's own origin (api base URL empty)",
        len(fields) == 1 and content in (squash(f"${{jsonencode({{'{fields[0]}': ''}})}}"), squash(f'${{jsonencode({{"{fields[0]}": ""}})}}')),
        content,
    )

    # The REST routes all live under the pattern the distribution sends to the API.
    base = CONSOLE_API_PATTERN.rstrip("*")
    outside = sorted(p for _, _, p in facts["rest_routes"] if not p.startswith(base))
    r.check(f"every REST route is under {CONSOLE_API_PATTERN}", not outside, str(outside))

    behaviours = [b for b in blocks(dist, "ordered_cache_behavior") if attr(b, "path_pattern") == CONSOLE_API_PATTERN]
    if not r.check(f"console distribution has a {CONSOLE_API_PATTERN} behaviour", len(behaviours) == 1, f"{len(behaviours)} found"):
        return
    b = behaviours[0]
    origins = {attr(o, "origin_id"): o for o in blocks(dist, "origin")}
    origin = origins.get(attr(b, "target_origin_id"), {})
    domain = _local(tf, attr(origin, "domain_name"))
    r.check(
        f"{CONSOLE_API_PATTERN} origin is the REST API's regional endpoint",
        bool(re.fullmatch(r'\$\{regex\("\^https://\(\[\^/\]\+\)/",\s*aws_api_gateway_stage\.api\.invoke_url\)\[0\]\}', squash(domain)))
        or squash(domain).startswith("${aws_api_gateway_rest_api.api.id}.execute-api."),
        f"{attr(origin, 'domain_name')} = {domain}",
    )
    r.same(f"{CONSOLE_API_PATTERN} origin path is the REST stage", attr(origin, "origin_path"), "/${aws_api_gateway_stage.api.stage_name}")
    coc = (blocks(origin, "custom_origin_config") or [{}])[0]
    r.same(f"{CONSOLE_API_PATTERN} origin: HTTPS only", attr(coc, "origin_protocol_policy"), "https-only")
    r.check(
        f"{CONSOLE_API_PATTERN} origin: no origin access control (not S3)",
        attr(origin, "origin_access_control_id") is None,
        str(attr(origin, "origin_access_control_id")),
    )
    r.check(
        f"{CONSOLE_API_PATTERN}: viewers on HTTPS",
        attr(b, "viewer_protocol_policy") in ("https-only", "redirect-to-https"),
        str(attr(b, "viewer_protocol_policy")),
    )
    methods = attr(b, "allowed_methods", [])
    r.same(f"{CONSOLE_API_PATTERN}: every method allowed", set(methods if isinstance(methods, list) else [methods]), ALL_METHODS)
    route_methods = {m for _, m, _ in facts["rest_routes"]}
    r.check(f"{CONSOLE_API_PATTERN}: the REST routes' methods allowed", route_methods <= set(methods or []), str(sorted(route_methods)))
    cache = _ref(tf, attr(b, "cache_policy_id"), "data", "aws_cloudfront_cache_policy") or {}
    r.same(f"{CONSOLE_API_PATTERN}: caching disabled", attr(cache, "name"), "Managed-CachingDisabled")
    orp_id = attr(b, "origin_request_policy_id")
    managed = _ref(tf, orp_id, "data", "aws_cloudfront_origin_request_policy")
    own = _ref(tf, orp_id, "resource", "aws_cloudfront_origin_request_policy")
    if own is not None:
        hc = (blocks(own, "headers_config") or [{}])[0]
        qc = (blocks(own, "query_strings_config") or [{}])[0]
        forwards = (
            attr(hc, "header_behavior") == "allExcept"
            and attr((blocks(hc, "headers") or [{}])[0], "items") == ["host"]
            and attr(qc, "query_string_behavior") == "all"
        )
        detail = f"{attr(hc, 'header_behavior')} {attr(qc, 'query_string_behavior')}"
    else:
        forwards = attr(managed or {}, "name") == "Managed-AllViewerExceptHostHeader"
        detail = str(attr(managed or {}, "name", orp_id))
    r.check(f"{CONSOLE_API_PATTERN}: forwards every viewer header but Host, and the query string", forwards, detail)

    # CloudFront error pages are per distribution: one here would rewrite the API's
    # answers (a 403 or 404 turned into index.html).
    errors = [attr(e, "error_code") for e in blocks(dist, "custom_error_response") if attr(e, "response_page_path") or attr(e, "response_code")]
    r.check("console distribution rewrites no error responses (they would hide the API's)", not errors, str(errors))

    # The origin is the execute-api host, so that endpoint must stay on; the CLI's
    # custom domain keeps the stage at its root, so both see the same /v1 paths.
    api = res.get("aws_api_gateway_rest_api", {}).get("api", {})
    r.check("REST API's execute-api endpoint enabled", attr(api, "disable_execute_api_endpoint") in (None, False), str(attr(api, "disable_execute_api_endpoint")))
    mapping = res.get("aws_api_gateway_base_path_mapping", {}).get("api", {})
    r.check(
        "API custom domain maps the same stage at its root",
        attr(mapping, "stage_name") == "${aws_api_gateway_stage.api.stage_name}" and attr(mapping, "base_path") in (None, "", "/"),
        f"{attr(mapping, 'stage_name')} {attr(mapping, 'base_path')}",
    )


def _is_wild(s: str) -> bool:
    return s == "*" or s.endswith(":*") and ":" in s and s.count(":") == 1


def check_iam(r: Report, facts: dict, tf: dict) -> None:
    r.section("IAM")
    loc = tf["locals"]
    access = loc.get("table_access", {})
    index = loc.get("index_access", {})
    manage = loc.get("ws_manage", {})
    r.same("one access entry per function", sorted(access), sorted(facts["functions"]))
    strip = lambda acts: {a.split(":", 1)[1] if a.startswith("dynamodb:") else a for a in acts}  # noqa: E731
    for fn in facts["functions"]:
        got = {t: strip(a) for t, a in (access.get(fn) or {}).items()}
        r.same(f"{fn}: table actions", got, EXPECTED_TABLE_ACCESS.get(fn, {}))
        gi = {t: strip(a) for t, a in (index.get(fn) or {}).items()}
        r.same(f"{fn}: index actions", gi, EXPECTED_INDEX_ACCESS.get(fn, {}))
        r.same(f"{fn}: @connections methods", set(manage.get(fn, [])), EXPECTED_WS_MANAGE.get(fn, set()))
    every = [a for m in (access, index) for per in m.values() for acts in per.values() for a in acts]
    bad = sorted({a for a in every if "*" in a or not a.startswith("dynamodb:") or a.split(":", 1)[1] not in STORE_ACTIONS})
    r.check("only the store's DynamoDB actions, no wildcards", not bad, str(bad))
    tables = set(facts["tables"])
    unknown = sorted({t for m in (access, index) for per in m.values() for t in per} - tables)
    r.check("access names only real tables", not unknown, str(unknown))

    # Against store.rs: across all functions, the actions granted on a table (or on
    # its index) are exactly the ones the store performs there. A grant nothing calls
    # is too wide; a call nothing is granted is an AccessDenied waiting to happen.
    r.check("DynamoDB calls found in store.rs", bool(facts["store_ops"]) and bool(facts["store_index_ops"]), str(facts["store_ops"]))
    granted: dict[str, set] = {}
    granted_index: dict[str, set] = {}
    for m, out in ((access, granted), (index, granted_index)):
        for per in m.values():
            for t, acts in (per or {}).items():
                out.setdefault(t, set()).update(strip(acts))
    table_index = loc.get("table_index", {})
    for t in sorted(tables):
        store = facts["store_ops"].get(t, set())
        got = granted.get(t, set())
        r.check(f"{t}: every action granted on it is one store.rs performs", got <= store, f"granted {sorted(got - store)}, store.rs calls {sorted(store)}")
        r.check(f"{t}: every store.rs call on it is granted to some function", store <= got, f"{sorted(store - got)} granted to none")
        queried = facts["store_index_ops"].get(t, {})
        store_i = set().union(*queried.values()) if queried else set()
        got_i = granted_index.get(t, set())
        r.check(f"{t}: every index action granted is one store.rs performs", got_i <= store_i, f"granted {sorted(got_i - store_i)}, store.rs calls {sorted(store_i)}")
        r.check(f"{t}: every store.rs index call is granted to some function", store_i <= got_i, f"{sorted(store_i - got_i)} granted to none")
        if queried or t in table_index:
            r.same(f"{t}: table_index names the index store.rs queries", table_index.get(t), next(iter(queried), None) if len(queried) == 1 else sorted(queried))
            r.check(f"{t}: table_index names a GSI of the table", table_index.get(t) in facts["tables"][t]["gsis"], f"{table_index.get(t)!r} not in {sorted(facts['tables'][t]['gsis'])}")
    stray = sorted(set(table_index) - tables)
    r.check("table_index names only real tables", not stray, str(stray))

    # Every Allow statement of every policy document: no '*' action or resource.
    role = tf["resource"].get("aws_iam_role", {}).get("fn", {})
    r.same("one role per function", attr(role, "for_each"), "${local.functions}")
    fn_doc = tf["data"].get("aws_iam_policy_document", {}).get("fn", {})
    index_stmts = [
        d["statement"]
        for d in blocks(fn_doc, "dynamic")
        if "statement" in d and "local.index_access" in str(attr(d["statement"], "for_each"))
    ]
    got_res = [attr(c, "resources") for s in index_stmts for c in blocks(s, "content")]
    r.same(
        "index grants name each table's own GSI (local.table_index)",
        got_res,
        [["${local.tables[statement.key].arn}/index/${local.table_index[statement.key]}"]],
    )
    # Key policies: there "*" as the resource is the key itself, and AWS's default
    # statement gives the account root kms:* (its IAM policies decide). Every other
    # statement of theirs is held to the same rules.
    key_policies = {
        m.group(1)
        for k in tf["resource"].get("aws_kms_key", {}).values()
        for m in [re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", str(attr(k, "policy")))]
        if m
    }
    for name, doc in tf["data"].get("aws_iam_policy_document", {}).items():
        stmts = list(blocks(doc, "statement"))
        for dyn in blocks(doc, "dynamic"):
            for label, d in dyn.items():
                if label == "statement":
                    stmts.extend(blocks(d, "content"))
        for i, st in enumerate(stmts):
            if attr(st, "effect", "Allow") != "Allow":
                continue
            actions = attr(st, "actions", [])
            actions = actions if isinstance(actions, list) else [actions]
            resources = attr(st, "resources", [])
            resources = resources if isinstance(resources, list) else [resources]
            principals = [i for p in blocks(st, "principals") for i in (attr(p, "identifiers") or [])]
            account_root = bool(principals) and all(re.fullmatch(r"arn:\$\{local\.partition\}:iam::\$\{local\.account_id\}:root", str(i)) for i in principals)
            wild_a = [a for a in actions if a == "*" or str(a).endswith(":*")]
            if name in key_policies and account_root:
                wild_a = [a for a in wild_a if a != "kms:*"]
            r.check(f"policy {name}[{i}]: no wildcard action", not wild_a, str(wild_a))
            wild_r = [x for x in resources if str(x).strip() == "*"]
            if name in key_policies:
                wild_r = []
            r.check(f"policy {name}[{i}]: no '*' resource", not wild_r, str(wild_r))
            if name == "fn":
                r.check(
                    f"policy fn[{i}]: resources are ARNs of this stack",
                    bool(resources) and all(re.search(r"\.(arn|execution_arn)\}", str(x)) for x in resources),
                    str(resources),
                )


def check_log_bucket(r: Report, facts: dict, tf: dict) -> None:
    r.section("request log bucket")
    res = tf["resource"]
    name = "log"
    r.check("aws_s3_bucket.log defined", name in res.get("aws_s3_bucket", {}), "missing")
    on_bucket = lambda rtype: res.get(rtype, {}).get(name, {})  # noqa: E731
    for rtype in (
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
    ):
        r.same(f"{rtype}.log is on the log bucket", attr(on_bucket(rtype), "bucket"), "${aws_s3_bucket.log.id}")
    pab = on_bucket("aws_s3_bucket_public_access_block")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    r.check("log bucket: public access blocked", all(attr(pab, f) is True for f in flags), str({f: attr(pab, f) for f in flags}))
    oc = (blocks(on_bucket("aws_s3_bucket_ownership_controls"), "rule") or [{}])[0]
    r.same("log bucket: ACLs off (BucketOwnerEnforced)", attr(oc, "object_ownership"), "BucketOwnerEnforced")
    sse = [
        attr(d, "sse_algorithm")
        for rule in blocks(on_bucket("aws_s3_bucket_server_side_encryption_configuration"), "rule")
        for d in blocks(rule, "apply_server_side_encryption_by_default")
    ]
    r.check("log bucket: encrypted at rest", bool(sse) and all(a in ("AES256", "aws:kms") for a in sse), str(sse))
    days = -(-facts["log_ttl_secs"] // 86400)
    rules = [
        rule
        for rule in blocks(on_bucket("aws_s3_bucket_lifecycle_configuration"), "rule")
        if attr(rule, "status") == "Enabled" and any(attr(f, "prefix") == facts["log_prefix"] for f in blocks(rule, "filter"))
    ]
    expiry = [attr(e, "days") for rule in rules for e in blocks(rule, "expiration")]
    r.same(f"log bucket: {facts['log_prefix']} objects expire with the log ({days} day)", expiry, [days])

    # Who may do what: the code's map, the Terraform's, and log_bucket.rs's calls.
    loc = tf["locals"].get("log_bucket_access", {})
    got = {fn: {a.split(":", 1)[1] if a.startswith("s3:") else a for a in acts} for fn, acts in loc.items()}
    r.same("log_bucket_access == functions::LOG_BUCKET_ACCESS", got, facts["log_access"])
    every = [a for acts in loc.values() for a in acts]
    bad = sorted({a for a in every if not a.startswith("s3:") or "*" in a})
    r.check("log bucket: only s3: object actions, no wildcards", not bad, str(bad))
    granted = set().union(*facts["log_access"].values()) if facts["log_access"] else set()
    r.check("S3 calls found in log_bucket.rs", bool(facts["s3_calls"]), str(facts["s3_calls"]))
    r.check("log bucket: every S3 action granted is one log_bucket.rs performs", granted <= facts["s3_calls"], f"granted {sorted(granted - facts['s3_calls'])}")
    r.check("log bucket: every log_bucket.rs call is granted to some function", facts["s3_calls"] <= granted, f"{sorted(facts['s3_calls'] - granted)} granted to none")
    fn_doc = tf["data"].get("aws_iam_policy_document", {}).get("fn", {})
    stmts = [d["statement"] for d in blocks(fn_doc, "dynamic") if "statement" in d and "local.log_bucket_access" in str(attr(d["statement"], "for_each"))]
    got_res = [attr(c, "resources") for s in stmts for c in blocks(s, "content")]
    r.same("log bucket grants name the log prefix only", got_res, [["${aws_s3_bucket.log.arn}/" + facts["log_prefix"] + "*"]])

    # The bucket's name reaches exactly the functions that use it.
    var = facts["log_bucket_env"]
    envs = function_env(tf)
    with_var = {fn for fn, env in envs.items() if var in env}
    r.same(f"{var} set on exactly the functions that use the bucket", sorted(with_var), sorted(facts["log_access"]))
    values = {str(env[var]) for env in envs.values() if var in env}
    r.check(f"{var} names aws_s3_bucket.log", values <= {"${aws_s3_bucket.log.bucket}", "${aws_s3_bucket.log.id}"} and bool(values), str(values))

    # Bodies in transit (body/): who may, what, where, and for how long.
    body = facts["body_prefix"]
    loc = tf["locals"].get("body_bucket_access", {})
    got = {fn: {a.split(":", 1)[1] if a.startswith("s3:") else a for a in acts} for fn, acts in loc.items()}
    r.same("body_bucket_access == functions::BODY_BUCKET_ACCESS", got, facts["body_access"])
    bad = sorted({a for acts in loc.values() for a in acts if not a.startswith("s3:") or "*" in a})
    r.check("stored bodies: only s3: object actions, no wildcards", not bad, str(bad))
    granted = set().union(*facts["body_access"].values()) if facts["body_access"] else set()
    calls = facts["body_s3_calls"]
    r.check("stored bodies: every S3 action granted is one stored_body.rs performs or presigns", granted <= calls, f"granted {sorted(granted - calls)}")
    r.check("stored bodies: every stored_body.rs call is granted to some function", calls <= granted, f"{sorted(calls - granted)} granted to none")
    stmts = [d["statement"] for d in blocks(fn_doc, "dynamic") if "statement" in d and "local.body_bucket_access" in str(attr(d["statement"], "for_each"))]
    got_res = [attr(c, "resources") for s in stmts for c in blocks(s, "content")]
    r.same("stored body grants name the body prefix only", got_res, [["${aws_s3_bucket.log.arn}/" + body + "*"]])
    rules = [
        rule
        for rule in blocks(on_bucket("aws_s3_bucket_lifecycle_configuration"), "rule")
        if attr(rule, "status") == "Enabled" and any(attr(f, "prefix") == body for f in blocks(rule, "filter"))
    ]
    expiry = [attr(e, "days") for rule in rules for e in blocks(rule, "expiration")]
    r.same(f"log bucket: {body} objects expire after a day (the shortest rule S3 runs)", expiry, [1])
    without = sorted(fn for fn in facts["body_access"] if var not in envs.get(fn, {}))
    r.check(f"stored bodies: {var} set on every function that stores bodies", not without, str(without))


CHECKS = (check_functions, check_env, check_tables, check_rest, check_ws, check_ingress, check_console, check_iam, check_log_bucket)


def run(facts: dict, tf: dict, quiet: bool = False) -> Report:
    r = Report(quiet)
    for check in CHECKS:
        try:
            check(r, facts, tf)
        except Exception as e:  # a malformed file is a failure, not a crash
            r.check(f"{check.__name__} ran", False, f"{type(e).__name__}: {e}")
    return r


# ------------------------------------------------------------------ self-test


def mutations():
    """(description, mutate(facts, tf), substring the failure must contain)."""

    def code(f):
        return lambda facts, tf: f(facts)

    def terraform(f):
        return lambda facts, tf: f(tf)

    def rename_hash(facts):
        facts["tables"]["tunnels"]["hash_key"] = "tunnel_key"
        facts["tables"]["tunnels"]["attributes"] = {"tunnel_key": "S", "client_id": "S", "created_at": "N"}

    def console(tf):
        return tf["resource"]["aws_cloudfront_distribution"]["console"]

    def api_behaviour(tf):
        return next(b for b in console(tf)["ordered_cache_behavior"] if b["path_pattern"] == ["/v1/*"])

    def api_origin(tf):
        return next(o for o in console(tf)["origin"] if o["origin_id"] == api_behaviour(tf)["target_origin_id"])

    return [
        ("code renames the tunnels table's hash key", code(rename_hash), "tunnels: hash key"),
        ("code changes the GSI range key type", code(lambda f: f["tables"]["tunnels"]["attributes"].update(created_at="S")), "tunnels: attributes"),
        ("code drops the TTL", code(lambda f: f["tables"]["connections"].update(ttl=None)), "connections: TTL"),
        ("code adds a REST route", code(lambda f: f["rest_routes"].append(("list-tunnels", "GET", "/v1/extra"))), "route GET /v1/extra"),
        ("terraform drops a REST route", terraform(lambda tf: tf["locals"]["rest_routes"].pop("DELETE /v1/tunnels/{id}")), "route DELETE /v1/tunnels/{id}"),
        ("terraform wires a REST route to another function", terraform(lambda tf: tf["locals"]["rest_routes"].update({"GET /v1/tunnels/{id}": "delete-tunnel"})), "route GET /v1/tunnels/{id}"),
        ("terraform drops a WebSocket route", terraform(lambda tf: tf["locals"]["ws_routes"].pop("release")), "route release"),
        ("code moves a WebSocket route", code(lambda f: f["ws_routes"].__setitem__(f["ws_routes"].index(("ping", "tunnel-relay")), ("ping", "tunnel-connect"))), "route ping"),
        ("code adds a function", code(lambda f: (f["functions"].append("tunnel-gc"), f["bins"].append("tunnel-gc"))), "local.functions == FUNCTIONS"),
        ("a bin without an entry in FUNCTIONS", code(lambda f: f["bins"].append("orphan")), "FUNCTIONS == src/bin"),
        ("code requires a new variable", code(lambda f: (f["required_env"].add("TUNNEL_NEW"), f["fn_env"].add("TUNNEL_NEW"))), "every required variable set"),
        ("terraform sets DYNAMODB_ENDPOINT", terraform(lambda tf: tf["locals"]["common_env"].update(DYNAMODB_ENDPOINT="http://x")), "no emulator/runtime-owned"),
        ("terraform forgets the origin secret", terraform(lambda tf: tf["locals"]["function_env"]["tunnel-proxy"].pop("TUNNEL_ORIGIN_SECRET")), "tunnel-proxy: its own variables"),
        ("terraform grants dynamodb:*", terraform(lambda tf: tf["locals"]["table_access"]["tunnel-relay"].update(tunnels=["dynamodb:*"])), "no wildcards"),
        ("terraform widens a role", terraform(lambda tf: tf["locals"]["table_access"]["tunnel-proxy"]["tunnels"].append("dynamodb:PutItem")), "tunnel-proxy: table actions"),
        ("terraform lets the relay skip @connections", terraform(lambda tf: tf["locals"]["ws_manage"].pop("tunnel-relay")), "tunnel-relay: @connections"),
        (
            "terraform adds a '*' resource",
            terraform(lambda tf: tf["data"]["aws_iam_policy_document"]["fn"]["statement"].append({"actions": [["xray:PutTraceSegments"]], "resources": [["*"]]})),
            "no '*' resource",
        ),
        ("terraform buffers the proxy", terraform(lambda tf: tf["resource"]["aws_lambda_function_url"]["proxy"].update(invoke_mode=["BUFFERED"])), "Function URL streams"),
        ("code renames the host header", code(lambda f: f.update(host_header="x-forwarded-tunnel")), "CloudFront Function sets"),
        ("terraform forwards Host", terraform(lambda tf: tf["resource"]["aws_cloudfront_origin_request_policy"]["tunnel"]["headers_config"][0].update(header_behavior=["allViewer"])), "all headers but Host"),
        ("terraform names the API with an unreserved label", terraform(lambda tf: tf["locals"].update(api_domain="control.${local.base_domain}")), "api_domain label"),
        ("terraform lets public traffic take the whole account", terraform(lambda tf: tf["locals"]["functions"]["tunnel-proxy"].update(reserved_concurrency=-1)), "tunnel-proxy reserved concurrency"),
        ("terraform forgets the per-tunnel public rate", terraform(lambda tf: tf["locals"]["function_env"]["tunnel-proxy"].pop("TUNNEL_PUBLIC_RATE")), "TUNNEL_PUBLIC_RATE from var.public_rate"),
        ("terraform names another attribute as an index's RANGE key", terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["tunnels"]["global_secondary_index"][0]["key_schema"][1].update(attribute_name=["updated_at"])), "tunnels: GSIs"),
        ("terraform swaps an index's HASH and RANGE", terraform(lambda tf: [k.update(key_type=[{"HASH": "RANGE", "RANGE": "HASH"}[k["key_type"][0]]]) for k in tf["resource"]["aws_dynamodb_table"]["tunnels"]["global_secondary_index"][0]["key_schema"]]), "tunnels: GSIs"),
        (
            "terraform grants kms:* to a service in the alarm key's policy",
            terraform(lambda tf: tf["data"]["aws_iam_policy_document"]["alarms_key"]["statement"][1].update(actions=[["kms:*"]])),
            "policy alarms_key[1]: no wildcard action",
        ),
        ("terraform renames the origin header", terraform(lambda tf: tf["resource"]["aws_cloudfront_distribution"]["tunnels"]["origin"][0]["custom_header"][0].update(name=["x-secret"])), "CloudFront sends"),
        # The request log: table, routes, functions, grants.
        (
            "terraform gives the request log its GSI back",
            terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["requests"].update(global_secondary_index=copy.deepcopy(tf["resource"]["aws_dynamodb_table"]["tunnels"]["global_secondary_index"]))),
            "requests: GSIs",
        ),
        ("terraform drops the request log's TTL", terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["requests"].pop("ttl")), "requests: TTL"),
        ("code drops the log's sort key", code(lambda f: f["tables"]["requests"].update(range_key=None)), "requests: range key"),
        ("terraform keys the log by request id", terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["requests"].update(hash_key=["request_id"], range_key=["tunnel_id"])), "requests: hash key"),
        # The offline inbox: a sort key, TTL, and two functions' grants.
        ("terraform drops the inbox's sort key", terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["inbox"].pop("range_key")), "inbox: range key"),
        ("code makes the inbox's sort key a string", code(lambda f: f["tables"]["inbox"]["attributes"].update(seq="S")), "inbox: attributes"),
        ("terraform drops the inbox's TTL", terraform(lambda tf: tf["resource"]["aws_dynamodb_table"]["inbox"].pop("ttl")), "inbox: TTL"),
        ("terraform forgets TUNNEL_INBOX_TABLE", terraform(lambda tf: tf["locals"]["common_env"].pop("TUNNEL_INBOX_TABLE")), "TUNNEL_INBOX_TABLE names table inbox"),
        ("terraform lets the proxy delete held requests", terraform(lambda tf: tf["locals"]["table_access"]["tunnel-proxy"]["inbox"].append("dynamodb:DeleteItem")), "tunnel-proxy: table actions"),
        ("terraform leaves take without DeleteItem", terraform(lambda tf: tf["locals"]["table_access"]["inspect-requests"]["inbox"].remove("dynamodb:DeleteItem")), "inspect-requests: table actions"),
        ("terraform grants the inbox to another function", terraform(lambda tf: tf["locals"]["table_access"]["get-client"].update(inbox=["dynamodb:Query"])), "get-client: table actions"),
        ("code's store stops counting held requests", code(lambda f: f["store_ops"]["inbox"].discard("Query")), "inbox: every action granted on it is one store.rs performs"),
        ("terraform drops the OpenAPI route", terraform(lambda tf: tf["locals"]["rest_routes"].pop("GET /v1/openapi.json")), "route GET /v1/openapi.json"),
        ("terraform serves replays from inspect-requests", terraform(lambda tf: tf["locals"]["rest_routes"].update({"POST /v1/requests/{id}/replay": "inspect-requests"})), "route POST /v1/requests/{id}/replay"),
        ("terraform hangs a route on the wrong resource", terraform(lambda tf: tf["locals"]["rest_resource_ids"].update({"/v1/requests/{id}/replay": "${aws_api_gateway_resource.request.id}"})), "resource tree has /v1/requests/{id}/replay"),
        (
            "terraform leaves a resource with no route under it",
            terraform(lambda tf: tf["resource"]["aws_api_gateway_resource"].update(stray={"parent_id": ["${aws_api_gateway_resource.v1.id}"], "path_part": ["stray"]})),
            "every API Gateway resource leads to a route",
        ),
        ("terraform sizes replay-request like a REST function", terraform(lambda tf: tf["locals"]["functions"]["replay-request"].update(timeout=10)), "replay-request 256 MB / 60 s"),
        ("terraform forgets replay-request's channel limits", terraform(lambda tf: tf["locals"]["function_env"].pop("replay-request")), "replay-request: return-channel variables set"),
        ("terraform gives replay-request other channel limits", terraform(lambda tf: tf["locals"]["function_env"]["replay-request"].update(TUNNEL_CHANNEL_MAX_IDLE_SECS="900")), "same return-channel limits"),
        (
            "terraform hands the origin secret to replay-request",
            terraform(lambda tf: tf["locals"]["function_env"]["replay-request"].update(TUNNEL_ORIGIN_SECRET="${random_password.origin_secret.result}")),
            "replay-request: only the proxy variables it reads",
        ),
        ("terraform gives a REST function channel limits", terraform(lambda tf: tf["locals"]["function_env"].update({"inspect-requests": {"TUNNEL_CHANNEL_MAX_AGE_SECS": "7000"}})), "inspect-requests: only the proxy variables"),
        ("terraform forgets TUNNEL_REQUESTS_TABLE", terraform(lambda tf: tf["locals"]["common_env"].pop("TUNNEL_REQUESTS_TABLE")), "TUNNEL_REQUESTS_TABLE names table requests"),
        ("terraform lets the proxy skip the request log", terraform(lambda tf: tf["locals"]["table_access"]["tunnel-proxy"].pop("requests")), "tunnel-proxy: table actions"),
        ("terraform lets delete-tunnel skip querying the log", terraform(lambda tf: tf["locals"]["table_access"]["delete-tunnel"]["requests"].remove("dynamodb:Query")), "delete-tunnel: table actions"),
        ("terraform leaves show without the caller's tunnels", terraform(lambda tf: tf["locals"]["index_access"].pop("inspect-requests")), "inspect-requests: index actions"),
        ("terraform leaves replay-request without @connections", terraform(lambda tf: tf["locals"]["ws_manage"].pop("replay-request")), "replay-request: @connections"),
        (
            "terraform grants an action store.rs never performs on the log",
            terraform(lambda tf: tf["locals"]["table_access"]["inspect-requests"]["requests"].append("dynamodb:UpdateItem")),
            "requests: every action granted on it is one store.rs performs",
        ),
        ("code's store writes the log in a way nobody is granted", code(lambda f: f["store_ops"]["requests"].add("UpdateItem")), "requests: every store.rs call on it is granted"),
        ("code's store stops deleting log items", code(lambda f: f["store_ops"]["requests"].discard("DeleteItem")), "requests: every action granted on it is one store.rs performs"),
        ("code's store queries the log another way", code(lambda f: f["store_index_ops"].update(requests={"by-time": {"Query"}})), "requests: table_index names the index store.rs queries"),
        ("terraform points the log's grants at the tunnels index", terraform(lambda tf: tf["locals"]["table_index"].update(requests="client_id-index")), "requests: table_index"),
        (
            "terraform grants Query on every index",
            terraform(lambda tf: tf["data"]["aws_iam_policy_document"]["fn"]["dynamic"][1]["statement"]["content"][0].update(resources=[["${local.tables[statement.key].arn}/index/*"]])),
            "index grants name each table's own GSI",
        ),
        # The request log's bucket.
        ("terraform lets list-tunnels read the log bucket", terraform(lambda tf: tf["locals"]["log_bucket_access"].update({"list-tunnels": ["s3:GetObject"]})), "log_bucket_access == functions::LOG_BUCKET_ACCESS"),
        ("terraform lets the proxy read captured bodies", terraform(lambda tf: tf["locals"]["log_bucket_access"]["tunnel-proxy"].append("s3:GetObject")), "log_bucket_access == functions::LOG_BUCKET_ACCESS"),
        ("terraform grants s3:*", terraform(lambda tf: tf["locals"]["log_bucket_access"]["delete-tunnel"].append("s3:*")), "no wildcards"),
        ("code stops deleting objects", code(lambda f: f["s3_calls"].discard("DeleteObject")), "every S3 action granted is one log_bucket.rs performs"),
        ("code reads objects nobody may read", code(lambda f: (f["s3_calls"].add("GetObject"), [a.discard("GetObject") for a in f["log_access"].values()])), "every log_bucket.rs call is granted"),
        (
            "terraform grants the whole bucket",
            terraform(lambda tf: tf["data"]["aws_iam_policy_document"]["fn"]["dynamic"][2]["statement"]["content"][0].update(resources=[["${aws_s3_bucket.log.arn}/*"]])),
            "log bucket grants name the log prefix only",
        ),
        # Bodies in transit.
        ("terraform lets inspect-requests read bodies in transit", terraform(lambda tf: tf["locals"]["body_bucket_access"].update({"inspect-requests": ["s3:GetObject"]})), "body_bucket_access == functions::BODY_BUCKET_ACCESS"),
        ("terraform lets the proxy delete bodies", terraform(lambda tf: tf["locals"]["body_bucket_access"]["tunnel-proxy"].append("s3:DeleteObject")), "body_bucket_access == functions::BODY_BUCKET_ACCESS"),
        ("code presigns a delete nobody may do", code(lambda f: f["body_s3_calls"].add("DeleteObject")), "every stored_body.rs call is granted"),
        (
            "terraform grants bodies in transit on the whole bucket",
            terraform(lambda tf: tf["data"]["aws_iam_policy_document"]["fn"]["dynamic"][3]["statement"]["content"][0].update(resources=[["${aws_s3_bucket.log.arn}/*"]])),
            "stored body grants name the body prefix only",
        ),
        ("terraform keeps bodies in transit a week", terraform(lambda tf: tf["resource"]["aws_s3_bucket_lifecycle_configuration"]["log"]["rule"][1]["expiration"][0].update(days=[7])), "objects expire after a day"),
        ("terraform drops the bodies' lifecycle rule", terraform(lambda tf: tf["resource"]["aws_s3_bucket_lifecycle_configuration"]["log"]["rule"].pop(1)), "objects expire after a day"),
        ("terraform lets the public in", terraform(lambda tf: tf["resource"]["aws_s3_bucket_public_access_block"]["log"].update(restrict_public_buckets=[False])), "log bucket: public access blocked"),
        ("terraform turns ACLs back on", terraform(lambda tf: tf["resource"]["aws_s3_bucket_ownership_controls"]["log"]["rule"][0].update(object_ownership=["ObjectWriter"])), "BucketOwnerEnforced"),
        ("terraform drops the bucket's encryption", terraform(lambda tf: tf["resource"]["aws_s3_bucket_server_side_encryption_configuration"].pop("log")), "log bucket: encrypted at rest"),
        ("terraform keeps captured bodies a year", terraform(lambda tf: tf["resource"]["aws_s3_bucket_lifecycle_configuration"]["log"]["rule"][0]["expiration"][0].update(days=[365])), "expire with the log"),
        ("terraform expires another prefix", terraform(lambda tf: tf["resource"]["aws_s3_bucket_lifecycle_configuration"]["log"]["rule"][0]["filter"][0].update(prefix=["logs/"])), "expire with the log"),
        ("code keeps the log a week", code(lambda f: f.update(log_ttl_secs=7 * 86400)), "expire with the log (7 day)"),
        ("terraform names the bucket on the relay", terraform(lambda tf: tf["locals"]["function_env"].update({"tunnel-relay": {"TUNNEL_LOG_BUCKET": "${aws_s3_bucket.log.bucket}"}})), "set on exactly the functions that use the bucket"),
        ("terraform forgets the bucket on the proxy", terraform(lambda tf: tf["locals"]["function_env"]["tunnel-proxy"].pop("TUNNEL_LOG_BUCKET")), "set on exactly the functions that use the bucket"),
        ("terraform names another bucket", terraform(lambda tf: tf["locals"]["function_env"]["delete-tunnel"].update(TUNNEL_LOG_BUCKET="${aws_s3_bucket.console.bucket}")), "TUNNEL_LOG_BUCKET names aws_s3_bucket.log"),
        ("terraform sets S3_ENDPOINT", terraform(lambda tf: tf["locals"]["common_env"].update(S3_ENDPOINT="http://x")), "no emulator/runtime-owned"),
        # The console's same-origin API.
        ("terraform drops the console's /v1/* behaviour", terraform(lambda tf: console(tf).pop("ordered_cache_behavior")), "has a /v1/* behaviour"),
        ("terraform sends /v1/* to the bucket", terraform(lambda tf: api_behaviour(tf).update(target_origin_id=["console-bucket"])), "/v1/* origin is the REST API"),
        ("terraform points /v1/* at the API's custom domain", terraform(lambda tf: tf["locals"].update(rest_api_origin_domain="${local.api_domain}")), "/v1/* origin is the REST API"),
        ("terraform forgets the stage in the origin path", terraform(lambda tf: api_origin(tf).pop("origin_path")), "origin path is the REST stage"),
        ("terraform reaches the API over HTTP", terraform(lambda tf: api_origin(tf)["custom_origin_config"][0].update(origin_protocol_policy=["match-viewer"])), "/v1/* origin: HTTPS only"),
        ("terraform allows only GET and HEAD on /v1/*", terraform(lambda tf: api_behaviour(tf).update(allowed_methods=[["GET", "HEAD"]])), "every method allowed"),
        ("terraform caches the API", terraform(lambda tf: api_behaviour(tf).update(cache_policy_id=["${data.aws_cloudfront_cache_policy.caching_optimized.id}"])), "/v1/*: caching disabled"),
        (
            "terraform forwards Host to API Gateway",
            terraform(lambda tf: tf["data"]["aws_cloudfront_origin_request_policy"]["all_viewer_except_host"].update(name=["Managed-AllViewer"])),
            "forwards every viewer header but Host",
        ),
        ("terraform forwards no headers to the API", terraform(lambda tf: api_behaviour(tf).pop("origin_request_policy_id")), "forwards every viewer header but Host"),
        (
            "terraform serves index.html for 403s again",
            terraform(lambda tf: console(tf).update(custom_error_response=[{"error_code": [403], "response_code": [200], "response_page_path": ["/index.html"]}])),
            "rewrites no error responses",
        ),
        ("terraform names the API in config.json", terraform(lambda tf: tf["resource"]["aws_s3_object"]["console_config"].update(content=["${jsonencode({'api_base_url': 'https://${local.api_domain}'})}"])), "config.json: the API is the console's own origin"),
        ("terraform writes config.json's old key", terraform(lambda tf: tf["resource"]["aws_s3_object"]["console_config"].update(content=["${jsonencode({'api_url': ''})}"])), "config.json: the API is the console's own origin"),
        ("code renames config.json's field", code(lambda f: f.update(console_config=["api_url"])), "config.json: the API is the console's own origin"),
        ("code adds a REST route outside /v1", code(lambda f: f["rest_routes"].append(("get-client", "GET", "/health"))), "every REST route is under /v1/*"),
        ("terraform turns off the execute-api endpoint", terraform(lambda tf: tf["resource"]["aws_api_gateway_rest_api"]["api"].update(disable_execute_api_endpoint=[True])), "execute-api endpoint enabled"),
        ("terraform maps the API under a base path", terraform(lambda tf: tf["resource"]["aws_api_gateway_base_path_mapping"]["api"].update(base_path=["api"])), "maps the same stage at its root"),
    ]


def self_test(facts: dict, tf: dict) -> Report:
    r = Report()
    r.section("self-test: each deliberate mismatch must be reported")
    base = run(facts, tf, quiet=True)
    r.check("baseline passes", not base.failures, "; ".join(base.failures[:3]))
    for desc, mutate, expect in mutations():
        f2, t2 = copy.deepcopy(facts), copy.deepcopy(tf)
        mutate(f2, t2)
        got = run(f2, t2, quiet=True).failures
        r.check(f"detects: {desc}", any(expect in m for m in got), f"failures were {got[:3]}")
    # End to end through the regexes: a copy of the Rust sources with the tunnels
    # table's hash key changed in tables.rs must fail too.
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel in ("lambdas/aws/src", "lambdas/backend/src", "client-core/src", "web-console/src"):
            shutil.copytree(ROOT / rel, root / rel)
        tables_rs = root / "lambdas/aws/src/tables.rs"
        text = tables_rs.read_text()
        mutated = text.replace("hash_key: s(attr::TUNNEL_ID)", "hash_key: s(attr::DOMAIN)")
        tables_rs.write_text(mutated)
        got = run(read_facts(root), tf, quiet=True).failures
        r.check("detects: tables.rs on disk with another tunnels hash key", mutated != text and any("tunnels: hash key" in m for m in got), str(got[:3]))
        tables_rs.write_text(text)
        # And store.rs: the request log written with UpdateItem instead of PutItem.
        store_rs = root / "lambdas/aws/src/store/log.rs"
        text = store_rs.read_text()
        mutated, n = re.subn(r"\.put_item\(\)(\s*)\.table_name\(&self\.tables\.requests\)", r".update_item()\1.table_name(&self.tables.requests)", text)
        store_rs.write_text(mutated)
        got = run(read_facts(root), tf, quiet=True).failures
        r.check("detects: store.rs on disk writing the log with UpdateItem", n == 1 and any("requests: every store.rs call on it is granted" in m for m in got), str(got[:3]))
    return r


ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    ROOT = args.root
    t0 = time.monotonic()
    facts = read_facts(args.root)
    tf = load_tf(args.root / "infra")
    print(f"infra: {', '.join(tf['files'])}")
    r = run(facts, tf)
    passed, failed = r.passed, len(r.failures)
    if args.self_test:
        s = self_test(facts, tf)
        passed += s.passed
        failed += len(s.failures)
        r.failures += s.failures
    if r.failures:
        print("\nfailures:")
        for m in r.failures:
            print(f"  - {m}")
    print(f"({time.monotonic() - t0:.2f} s)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
