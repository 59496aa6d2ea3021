"""Signs a webhook the way its sender does, with the sender's own PyPI library, for the
end-to-end tests (tests/src/webhooks.rs):

    python sign.py PROVIDER SECRET TIMESTAMP ID < body

prints {"headers": [[name, value], ...], "body": "..."}: the request to send.

    slack     slack_sdk.signature.SignatureVerifier.generate_signature
    standard  standardwebhooks.Webhook.sign (Standard Webhooks, which Svix sends too)

Runs in the venv scripts/setup.sh webhooks makes (TUNNEL_WEBHOOKS_VENV).
"""

import json
import sys
from datetime import datetime, timezone

from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook


def slack(secret, timestamp, _id, body):
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return [["X-Slack-Request-Timestamp", timestamp], ["X-Slack-Signature", signature]]


def standard(secret, timestamp, msg_id, body):
    at = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body)
    return [["webhook-id", msg_id], ["webhook-timestamp", timestamp], ["webhook-signature", signature]]


SIGNERS = {"slack": slack, "standard": standard}


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: python sign.py PROVIDER SECRET TIMESTAMP ID < body")
    provider, secret, timestamp, msg_id = sys.argv[1:]
    if provider not in SIGNERS:
        sys.exit(f"sign.py signs {', '.join(SIGNERS)}, not {provider}")
    body = sys.stdin.buffer.read().decode("utf-8")
    headers = SIGNERS[provider](secret, timestamp, msg_id, body)
    json.dump({"headers": headers, "body": body}, sys.stdout)


if __name__ == "__main__":
    main()
