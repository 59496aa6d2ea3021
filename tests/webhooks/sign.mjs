// Signs a webhook the way its sender does, with the sender's own npm library, for the
// end-to-end tests (tests/src/webhooks.rs):
//
//   node sign.mjs PROVIDER SECRET TIMESTAMP ID < body
//
// prints {"headers": [[name, value], ...], "body": "..."}: the request to send. The
// body printed is the one signed (Shopify's helper serialises the JSON itself).
//
//   github   @octokit/webhooks-methods sign()           X-Hub-Signature-256
//   stripe   stripe's webhooks.generateTestHeaderString Stripe-Signature (t=TIMESTAMP)
//   shopify  @shopify/shopify-api's test helper setUpValidRequest, and the request it
//            makes is checked with the same library's webhooks.validate() first
import { readFileSync } from "node:fs";

import { sign as githubSign, verify as githubVerify } from "@octokit/webhooks-methods";
import Stripe from "stripe";
import "@shopify/shopify-api/adapters/web-api";
import { ApiVersion, shopifyApi } from "@shopify/shopify-api";
import { RequestType, setUpValidRequest } from "@shopify/shopify-api/test-helpers";

const [provider, secret, timestamp, id] = process.argv.slice(2);
if (!provider || secret === undefined || !timestamp || id === undefined) {
  console.error("usage: node sign.mjs PROVIDER SECRET TIMESTAMP ID < body");
  process.exit(2);
}
const body = readFileSync(0, "utf8");

async function github() {
  const signature = await githubSign(secret, body);
  if (!(await githubVerify(secret, body, signature))) {
    throw new Error("octokit does not verify its own signature");
  }
  return {
    headers: [
      ["X-GitHub-Event", "ping"],
      ["X-GitHub-Delivery", id],
      ["X-Hub-Signature-256", signature],
    ],
    body,
  };
}

function stripe() {
  const header = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret,
    timestamp: Number(timestamp),
  });
  return { headers: [["Stripe-Signature", header]], body };
}

async function shopify() {
  const store = "tunnel-test";
  const signed = await setUpValidRequest(
    {
      type: RequestType.Extension,
      store,
      apiSecretKey: secret,
      body: JSON.parse(body),
      headers: {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-API-Version": ApiVersion.January25,
        "X-Shopify-Webhook-Id": id,
      },
    },
    new Request(`https://${store}.myshopify.com/webhooks`, { method: "POST" }),
  );
  const rawBody = await signed.clone().text();
  // The signer is a test helper: the library's own validator must accept its output.
  const api = shopifyApi({
    apiKey: "tunnel-test",
    apiSecretKey: secret,
    apiVersion: ApiVersion.January25,
    hostName: "tunnel.localhost",
    isEmbeddedApp: false,
    logger: { level: 0 },
  });
  const checked = await api.webhooks.validate({ rawBody, rawRequest: signed });
  if (!checked.valid) {
    throw new Error(`@shopify/shopify-api refuses its own signature: ${JSON.stringify(checked)}`);
  }
  const headers = [...signed.headers.entries()]
    .filter(([name]) => name.startsWith("x-shopify-"))
    .map(([name, value]) => [name, value]);
  return { headers, body: rawBody };
}

const signers = { github, stripe, shopify };
if (!signers[provider]) {
  console.error(`sign.mjs signs ${Object.keys(signers).join(", ")}, not ${provider}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await signers[provider]()));
