#!/usr/bin/env python3
"""Writes lambdas/backend/src/openapi.json, the OpenAPI document of the REST API.

Edit the paths and schemas here, run `python3 scripts/openapi.py > lambdas/backend/src/openapi.json`;
lambdas/backend/tests/openapi.rs holds the document and the router together."""
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def jbody(n): return {"content": {"application/json": {"schema": ref(n)}}}
def resp(desc, n=None):
    r={"description": desc}
    if n: r.update(jbody(n))
    return r
err=lambda d: resp(d,"ErrorBody")
S=lambda t,**k: dict(type=t,**k)
nullable=lambda s: {"anyOf":[s,{"type":"null"}]}
limited={"description":"Over a rate limit: per client; per source address for registration, and for failed authentications (wrong API keys or session tokens; then even a right one from that address waits).","headers":{"Retry-After":{"description":"Seconds to wait.","schema":S("integer")}},"content":{"application/json":{"schema":ref("ErrorBody")}}}
auth_errs={"401": err("No, malformed, unknown or revoked API key or session token."),"429":limited}
nf={"404": err("No such resource among the caller's (another client's is reported the same way).")}
bad={"400": err("Malformed request: the message says what to fix.")}
tid={"name":"tunnel_id","in":"path","required":True,"schema":S("string")}
rid={"name":"request_id","in":"path","required":True,"schema":S("string")}
filters=[
 {"name":"method","in":"query","schema":S("string"),"description":"Only this HTTP method."},
 {"name":"status","in":"query","schema":S("string",enum=["1xx","2xx","3xx","4xx","5xx"]),"description":"Only responses of this status class."},
 {"name":"path_prefix","in":"query","schema":S("string",pattern="^/"),"description":"Only paths (with query) starting with this."},
]
headers=S("array",items=S("array",items=S("string"),minItems=2,maxItems=2),description="Header lines as [name, value] pairs, in order; repeated names stay repeated.")
b64=S("string",format="byte",description="Base64 (standard alphabet, padded).")
schemas={
 "ErrorBody": S("object",required=["error"],properties={"error":S("object",required=["code","message"],properties={"code":S("string",enum=["unauthorized","not_found","bad_request","invalid_domain","domain_taken","invalid_policy","rate_limited","payload_too_large","internal"]),"message":S("string",description="What to do about it, for a person."),"field":S("string",description="The request field at fault, when one is: for invalid_policy the policy's field (basic_auth, share_token, allow_ips, webhook or inbox).")})}),
 "Registration": S("object",required=["client_id","api_key"],properties={"client_id":S("string"),"api_key":S("string",description="Shown once; the server keeps only its hash.")}),
 "ClientInfo": S("object",required=["client_id","created_at"],properties={"client_id":S("string"),"created_at":S("integer",description="Unix seconds.")}),
 "SessionToken": S("object",required=["token","expires_at","ws_url"],properties={"token":S("string"),"expires_at":S("integer"),"ws_url":S("string")}),
 "CreateTunnel": S("object",properties={"domain":S("string",description="Subdomain wanted (lower-case letters, digits and inner hyphens, 1 to 63); random when absent."),"redact_secrets":S("boolean",description="Mask credential headers in the inspector (default true)."),"policy":ref("Policy")}),
 "Policy": S("object",description="Who may reach the public URL; every setting present must pass. Refusals: 403 for an address outside allow_ips, 401 for missing or wrong credentials or webhook signature (the text/plain body says what failed: a missing or malformed header, a bad signature, a stale timestamp), 413 for a body over 4 MiB when webhook verification is on.",properties={"basic_auth":S("string",pattern="^[^:]+:.+$",maxLength=256,description="USER:PASSWORD for HTTP basic auth; stored only as a salted hash, never shown back."),"share_token":S("string",pattern="^[A-Za-z0-9._~-]{8,256}$",description="Accepted as the X-Tunnel-Token header or the tunnel_token query parameter, both removed before the origin; stored only as a salted hash."),"allow_ips":S("array",maxItems=64,items=S("string"),description="CIDRs or bare addresses (IPv4 or IPv6)."),"webhook":ref("Webhook"),"inbox":ref("Inbox")}),
 "Inbox": S("object",description="Offline inbox: while no client serves the tunnel, admitted requests (bodies up to 256 KiB) are held and answered for it, then delivered in arrival order when the client is back. {} turns it on with the defaults.",properties={"status":S("integer",minimum=200,maximum=599,description="Status of the answer to a held request (default 202)."),"body":S("string",maxLength=4096,description="Body of that answer, sent as text/plain (default: a short JSON note)."),"max_requests":S("integer",minimum=1,maximum=1000,description="Most requests held at once (default 100); past it the public gets 503 with Retry-After."),"ttl_secs":S("integer",minimum=1,maximum=604800,description="Seconds a held request waits before it is dropped (default 86400).")}),
 "HeldRequest": S("object",required=["request_id","tunnel_id","seq","received_ms","expires_at","method","path","headers","body"],properties={"request_id":S("string",description="The held request's record in the request log."),"tunnel_id":S("string"),"seq":S("integer",description="Arrival order, from 1."),"received_ms":S("integer"),"expires_at":S("integer",description="Unix seconds."),"method":S("string"),"path":S("string"),"headers":ref("Headers"),"body":b64}),
 "Taken": S("object",required=["request"],properties={"request":nullable(ref("HeldRequest"))}),
 "DeliveryReport": S("object",required=["request_id","method","path","outcome","started_ms","done_ms"],properties={"request_id":S("string",description="The held request's id."),"method":S("string"),"path":S("string"),"outcome":ref("Outcome"),"status":nullable(S("integer",minimum=100,maximum=599)),"headers":ref("Headers"),"body":S("string",format="byte",description="Base64 of the start of the response body (at most 16 KiB)."),"body_size":S("integer",minimum=0),"error":nullable(S("string")),"started_ms":S("integer",minimum=0),"first_byte_ms":nullable(S("integer",minimum=0)),"done_ms":S("integer",minimum=0)}),
 "WebhookProvider": S("string",enum=["hmac","github","stripe","slack","shopify","standard"],description="Whose signature scheme. hmac: HMAC-SHA256 of the body, hex after a prefix, in a header of your choice. github: X-Hub-Signature-256: sha256=<hex>. stripe: Stripe-Signature: t=<unix>,v1=<hex> over '<t>.<body>'. slack: X-Slack-Signature: v0=<hex> over 'v0:<X-Slack-Request-Timestamp>:<body>'. shopify: X-Shopify-Hmac-Sha256: <base64>. standard: Standard Webhooks (Svix's svix-* headers too), webhook-signature: v1,<base64> over '<webhook-id>.<webhook-timestamp>.<body>'."),
 "Webhook": S("object",required=["secret"],description="Webhook signature verification. header and prefix only with provider hmac; tolerance_secs only with stripe, slack and standard.",properties={"secret":S("string",minLength=1,maxLength=256,description="The signing secret as the sender shows it (for standard: whsec_ and base64); never shown back."),"provider":ref("WebhookProvider"),"header":S("string",maxLength=64,description="hmac only: signature header (default X-Hub-Signature-256)."),"prefix":S("string",maxLength=32,description="hmac only: before the hex digest (default sha256=)."),"tolerance_secs":S("integer",minimum=1,maximum=3600,description="Seconds a signed timestamp may be from the server's clock, either way (default 300); older or newer is refused as a replay.")}),
 "UpdateTunnel": S("object",properties={"policy":nullable(ref("PolicyPatch"))},description="Changes the policy field by field (JSON Merge Patch, RFC 7396): policy absent changes nothing, null removes every check."),
 "PolicyPatch": S("object",description="Each field: absent keeps what is in force (secrets included), null removes that check, a value sets it (allow_ips and inbox replace whole). The merged policy is checked whole; a failure is 400 invalid_policy naming the field.",properties={"basic_auth":nullable(S("string",pattern="^[^:]+:.+$",maxLength=256,description="USER:PASSWORD; absent keeps the password in force.")),"share_token":nullable(S("string",pattern="^[A-Za-z0-9._~-]{8,256}$")),"allow_ips":nullable(S("array",maxItems=64,items=S("string"))),"webhook":nullable(ref("WebhookPatch")),"inbox":nullable(ref("Inbox"))}),
 "WebhookPatch": S("object",description="As Webhook, but secret may be left out to keep the one in force (for the same provider only).",properties={"secret":S("string",minLength=1,maxLength=256),"provider":ref("WebhookProvider"),"header":S("string",maxLength=64),"prefix":S("string",maxLength=32),"tolerance_secs":S("integer",minimum=1,maximum=3600)}),
 "PolicySummary": S("object",required=["share_token"],description="A tunnel's policy without secrets.",properties={"basic_auth_user":S("string"),"share_token":S("boolean"),"allow_ips":S("array",items=S("string")),"webhook":S("object",required=["provider","header","prefix"],properties={"provider":ref("WebhookProvider"),"header":S("string",description="Where the signature is read."),"prefix":S("string",description="What precedes each signature in it."),"tolerance_secs":S("integer",description="For schemes with a signed timestamp: seconds it may be off.")}),"inbox":ref("Inbox")}),
 "Tunnel": S("object",required=["tunnel_id","domain","public_url","status","created_at","request_count","redact_secrets"],properties={"tunnel_id":S("string"),"domain":S("string"),"public_url":S("string"),"status":S("string",enum=["online","offline"]),"created_at":S("integer"),"request_count":S("integer",description="Exchanges in its request log now."),"redact_secrets":S("boolean"),"policy":ref("PolicySummary"),"expires_at":S("integer",description="While no client serves it (inactive): when it expires with its domain, policy, inbox and request log, Unix seconds (7 days after it went inactive). Absent while online.")}),
 "TunnelStats": S("object",required=["tunnel_id","domain","public_url","status","window_secs","requests","errors","bytes_in","bytes_out","truncated"],properties={"tunnel_id":S("string"),"domain":S("string"),"public_url":S("string"),"status":S("string",enum=["online","offline"]),"connected_since":nullable(S("integer",description="Unix seconds the serving client connected.")),"window_secs":S("integer",description="Seconds the counts cover."),"requests":S("integer"),"errors":S("integer",description="Requests answered 5xx or not answered."),"p50_ms":nullable(S("integer")),"p99_ms":nullable(S("integer")),"bytes_in":S("integer"),"bytes_out":S("integer"),"truncated":S("boolean",description="The request log held fewer requests than the window had: the counts are a lower bound."),"held":nullable(S("integer",description="Requests the offline inbox holds now; null when the tunnel has no inbox."))}),
 "TunnelList": S("object",required=["tunnels"],properties={"tunnels":S("array",items=ref("Tunnel"))}),
 "Headers": headers,
 "CapturedBody": S("object",required=["bytes","size","truncated"],properties={"bytes":b64,"size":S("integer",description="Size of the whole body."),"truncated":S("boolean")}),
 "Message": S("object",required=["headers","body"],properties={"headers":ref("Headers"),"body":ref("CapturedBody")}),
 "ResponseRecord": S("object",required=["status","headers","body"],properties={"status":S("integer"),"headers":ref("Headers"),"body":ref("CapturedBody")}),
 "Outcome": S("string",enum=["completed","origin_refused","origin_timeout","origin_failed","client_disconnected","tunnel_offline","timeout","too_large","refused","held"],description="held: the tunnel was offline and the request went to its inbox (its delivery is a separate exchange with inbox_of set)."),
 "Timings": S("object",required=["received_ms"],properties={"received_ms":S("integer"),"forwarded_ms":nullable(S("integer")),"first_byte_ms":nullable(S("integer")),"done_ms":nullable(S("integer"))},description="Unix milliseconds."),
 "Exchange": S("object",required=["request_id","tunnel_id","method","path","remote_addr","request","outcome","timings"],properties={"request_id":S("string"),"tunnel_id":S("string"),"replay_of":nullable(S("string")),"inbox_of":nullable(S("string")),"method":S("string"),"path":S("string"),"remote_addr":S("string"),"request":ref("Message"),"response":nullable(ref("ResponseRecord")),"outcome":ref("Outcome"),"timings":ref("Timings")}),
 "ExchangeSummary": S("object",required=["request_id","tunnel_id","method","path","outcome","received_ms","request_size"],properties={"request_id":S("string"),"tunnel_id":S("string"),"replay_of":nullable(S("string")),"inbox_of":nullable(S("string")),"method":S("string"),"path":S("string"),"status":nullable(S("integer")),"outcome":ref("Outcome"),"received_ms":S("integer"),"duration_ms":nullable(S("integer")),"request_size":S("integer"),"response_size":nullable(S("integer"))}),
 "RequestPage": S("object",required=["requests"],properties={"requests":S("array",items=ref("ExchangeSummary")),"next_cursor":nullable(S("string"))}),
 "ReplayEdits": S("object",properties={"method":nullable(S("string")),"path":nullable(S("string",description="Origin form, starting with /.")),"set_headers":ref("Headers"),"remove_headers":S("array",items=S("string")),"body":nullable(b64)}),
}
sec=[{"bearer":[]}]
def op(summary, responses, **k):
    o={"summary":summary,"responses":responses}
    o.update(k); return o
paths={
 "/v1/clients":{"post":op("Register a new client; its API key is shown once.",{"201":resp("Registered.","Registration"),"429":limited},security=[], operationId="registerClient")},
 "/v1/clients/me":{"get":op("The calling client.",{"200":resp("The client.","ClientInfo"),**auth_errs},security=sec,operationId="getMe")},
 "/v1/clients/me/key":{"post":op("Replace the caller's API key; the old key and the sessions opened with it stop working at once. The new key is shown once.",{"201":resp("The new key.","Registration"),**auth_errs},security=sec,operationId="rotateKey")},
 "/v1/tokens":{"post":op("Exchange the API key for a short-lived session token (WebSocket, web console).",{"201":resp("A token.","SessionToken"),**auth_errs},security=sec,operationId="issueToken")},
 "/v1/tunnels":{
   "post":op("Create a tunnel on a chosen or random subdomain (or take back the caller's own offline one). A new tunnel is inactive until a client serves it, and expires 7 days after it was last served (or created, if never). Taking back an offline tunnel keeps its policy: the settings in `policy` replace those of the same kind, the others stay.",{"201":resp("Created.","Tunnel"),"200":resp("The caller's offline tunnel on that domain, handed back, its policy merged with the one asked for.","Tunnel"),**bad,**auth_errs,"409":err("The domain is taken.")},security=sec,operationId="createTunnel",requestBody={"required":False,**jbody("CreateTunnel")}),
   "get":op("The caller's tunnels, oldest first.",{"200":resp("The tunnels.","TunnelList"),**auth_errs},security=sec,operationId="listTunnels")},
 "/v1/tunnels/{tunnel_id}":{"parameters":[tid],
   "get":op("One tunnel.",{"200":resp("The tunnel.","Tunnel"),**auth_errs,**nf},security=sec,operationId="getTunnel"),
   "patch":op("Change the tunnel's access policy field by field (merge patch); it applies from the next public request.",{"200":resp("The tunnel.","Tunnel"),**bad,**auth_errs,**nf},security=sec,operationId="updateTunnel",requestBody={"required":False,**jbody("UpdateTunnel")}),
   "delete":op("Delete a tunnel, release its domain and clear its log; a connected client is told to stop.",{"204":resp("Deleted."),**auth_errs,**nf},security=sec,operationId="deleteTunnel")},
 "/v1/tunnels/{tunnel_id}/stats":{"parameters":[tid],
   "get":op("Whether the tunnel is served, since when, and its traffic over the last minute (from its request log; replays not counted).",{"200":resp("The stats.","TunnelStats"),**auth_errs,**nf},security=sec,operationId="tunnelStats")},
 "/v1/tunnels/{tunnel_id}/requests":{"parameters":[tid],
   "get":op("A page of the tunnel's captured exchanges, newest first.",{"200":resp("A page.","RequestPage"),**bad,**auth_errs,**nf},security=sec,operationId="listRequests",parameters=[{"name":"cursor","in":"query","schema":S("string"),"description":"next_cursor of the previous page."},{"name":"limit","in":"query","schema":S("integer",minimum=1,maximum=200,default=50)},*filters]),
   "delete":op("Empty the tunnel's request log.",{"204":resp("Emptied."),**auth_errs,**nf},security=sec,operationId="clearRequests")},
 "/v1/tunnels/{tunnel_id}/requests/live":{"parameters":[tid],
   "get":op("Live feed of new exchanges as server-sent events (event `exchange`, data an ExchangeSummary, id its request_id). The local stack holds the stream open; a deployment that cannot (API Gateway) sends what is new since Last-Event-ID and a retry field, so the browser reopens it.",{"200":{"description":"An event stream.","content":{"text/event-stream":{"schema":S("string")}}},**bad,**auth_errs,**nf},security=[{"bearer":[]},{"access_token":[]}],operationId="liveRequests",parameters=[*filters,{"name":"after","in":"query","schema":S("string"),"description":"Resume after this request id (as Last-Event-ID)."}])},
 "/v1/requests/{request_id}":{"parameters":[rid],
   "get":op("One captured exchange, with headers and bodies.",{"200":resp("The exchange.","Exchange"),**auth_errs,**nf},security=sec,operationId="getRequest")},
 "/v1/requests/{request_id}/replay":{"parameters":[rid],
   "post":op("Send a captured request again through its tunnel, with optional edits; the new exchange is recorded with replay_of set.",{"201":resp("The new exchange.","Exchange"),**bad,**auth_errs,**nf,"422":err("The edits are not valid HTTP, or the captured body is truncated and no new body was given.")},security=sec,operationId="replayRequest",requestBody={"required":False,**jbody("ReplayEdits")})},
 "/v1/tunnels/{tunnel_id}/inbox/take":{"parameters":[tid],
   "post":op("Take the oldest request the tunnel's offline inbox holds, removing it (the tunnel's client calls this when it is back, then delivers it to its origin). request is null when the inbox is empty.",{"200":resp("The request, or null.","Taken"),**auth_errs,**nf},security=sec,operationId="takeHeld")},
 "/v1/tunnels/{tunnel_id}/inbox/deliveries":{"parameters":[tid],
   "post":op("Record how the delivery of a held request went; the request log gets an exchange with inbox_of set to the held request.",{"201":resp("The recorded delivery.","ExchangeSummary"),**bad,**auth_errs,**nf,"422":err("The report is not one a delivery could give (ids, times, status, body size).")},security=sec,operationId="reportDelivery",requestBody={"required":True,**jbody("DeliveryReport")})},
 "/v1/openapi.json":{"get":op("This document.",{"200":{"description":"OpenAPI 3.1 document.","content":{"application/json":{"schema":S("object")}}}},security=[],operationId="openapi")},
}
# Request bodies are strict: a field the server does not know is refused with 400
# naming it (a typo in a policy must not create an unprotected tunnel), so every
# object schema a request body reaches says additionalProperties: false.
def strict(name, seen=set()):
    if name in seen: return
    seen.add(name)
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node: strict(node["$ref"].rsplit("/",1)[1])
            for v in node.values(): walk(v)
        elif isinstance(node, list):
            for v in node: walk(v)
    sch=schemas[name]
    if sch.get("type")=="object": sch["additionalProperties"]=False
    walk(sch)
for item in paths.values():
    for op_ in item.values():
        if isinstance(op_, dict) and "requestBody" in op_:
            strict(op_["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/",1)[1])
doc={"openapi":"3.1.0","info":{"title":"tunnel control plane","version":"1","description":"REST API of the tunnel service: clients, tunnels, and the request inspector. Authenticate with `Authorization: Bearer <api key or session token>`."},
 "servers":[{"url":"/"}],
 "paths":paths,
 "components":{"schemas":schemas,"securitySchemes":{"bearer":{"type":"http","scheme":"bearer","description":"An API key (tk_...) or a session token from POST /v1/tokens."},"access_token":{"type":"apiKey","in":"query","name":"access_token","description":"A session token, for EventSource, which cannot send headers."}}}}
print(json.dumps(doc,indent=2))
