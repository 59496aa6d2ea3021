#!/usr/bin/env python3
"""Writes webhook_vectors.json beside it: signed webhooks for every scheme the tunnel
verifies, computed here with Python's own hmac/hashlib/base64 from each provider's
documented algorithm, independently of the Rust code they test
(lambdas/backend/src/handlers/webhook_tests.rs).

Run: python3 lambdas/backend/tests/data/webhook_vectors.py  (stdlib only; deterministic)
"""
import base64
import hashlib
import hmac
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


BODIES = [
    b'{"id":"evt_1","type":"payment_intent.succeeded","amount":4200}',
    "{\"text\":\"caf\u00e9 \u2615 \u65e5\u672c\"}".encode(),  # multi-byte UTF-8
    bytes(range(256)),  # not UTF-8 at all: signatures cover raw bytes
    b"",
]
TIMESTAMP = 1_700_000_000


def vectors():
    out = []
    for i, body in enumerate(BODIES):
        ts = str(TIMESTAMP + i)
        # GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>.
        secret = "gh-secret-%d" % i
        out.append(("github", secret, body, ts, "", [
            ("X-Hub-Signature-256", "sha256=" + mac(secret.encode(), body).hex())]))
        # Generic: the same digest, in the owner's header, after the owner's prefix
        # (here X-Signature and none).
        out.append(("hmac", secret, body, ts, "", [
            ("X-Signature", mac(secret.encode(), body).hex())]))
        # Stripe: t=<ts>,v1=<hex HMAC(secret, "<ts>.<body>")>; the whsec_ secret is
        # the key as text.
        secret = "whsec_stripe%02dAbCdEf" % i
        sig = mac(secret.encode(), ts.encode() + b"." + body).hex()
        out.append(("stripe", secret, body, ts, "", [
            ("Stripe-Signature", "t=%s,v1=%s" % (ts, sig))]))
        # Slack: v0=<hex HMAC(secret, "v0:<ts>:<body>")>.
        secret = "8f742231b10e8888abcd99yyyzzz85a%d" % i
        sig = mac(secret.encode(), b"v0:" + ts.encode() + b":" + body).hex()
        out.append(("slack", secret, body, ts, "", [
            ("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", "v0=" + sig)]))
        # Shopify: base64(HMAC(secret, body)).
        secret = "shpss_%032x" % (i + 1)
        out.append(("shopify", secret, body, ts, "", [
            ("X-Shopify-Hmac-Sha256", base64.b64encode(mac(secret.encode(), body)).decode())]))
        # Standard Webhooks: v1,<base64 HMAC(base64decode(secret after whsec_),
        # "<id>.<ts>.<body>")>.
        key = hashlib.sha256(b"standard-%d" % i).digest()[:24]
        secret = "whsec_" + base64.b64encode(key).decode()
        msg_id = "msg_vector%d" % i
        sig = base64.b64encode(mac(key, msg_id.encode() + b"." + ts.encode() + b"." + body)).decode()
        out.append(("standard", secret, body, ts, msg_id, [
            ("webhook-id", msg_id), ("webhook-timestamp", ts), ("webhook-signature", "v1," + sig)]))
    return [
        {
            "provider": p,
            "secret": s,
            "body_b64": base64.b64encode(b).decode(),
            "timestamp": int(t),
            "id": m,
            "headers": [list(h) for h in hs],
            **({"header": "X-Signature", "prefix": ""} if p == "hmac" else {}),
        }
        for (p, s, b, t, m, hs) in out
    ]


if __name__ == "__main__":
    with open(os.path.join(HERE, "webhook_vectors.json"), "w") as f:
        json.dump(vectors(), f, indent=1)
        f.write("\n")
