// The tunnels distribution's CloudFront Function, infra/functions/tunnel-host.js
// (the file infra/cloudfront.tf uploads), run as the cloudfront-js-2.0 runtime runs
// it: a script that declares `function handler(event)`, with no module system and
// no Node globals, given viewer-request events shaped as AWS documents them:
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-event-structure.html
//
//   node --test tests/infra/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const ROOT = new URL('../../', import.meta.url);
const CODE = readFileSync(new URL('infra/functions/tunnel-host.js', ROOT), 'utf8');
const CLOUDFRONT_TF = readFileSync(new URL('infra/cloudfront.tf', ROOT), 'utf8');
// The proxy's incoming request step defines them (functions/incoming.rs).
const INCOMING_RS = readFileSync(new URL('lambdas/aws/src/functions/incoming.rs', ROOT), 'utf8');

// The header tunnel-proxy reads the tunnel's host from (TUNNEL_HOST_HEADER).
const TUNNEL_HOST_HEADER = INCOMING_RS.match(/pub const TUNNEL_HOST_HEADER: &str = "([^"]+)";/)[1];
// The header it reads the viewer's address from (TUNNEL_VIEWER_HEADER).
const TUNNEL_VIEWER_HEADER = INCOMING_RS.match(/pub const TUNNEL_VIEWER_HEADER: &str = "([^"]+)";/)[1];

// CloudFront Functions quota: 10 KB of code per function.
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html#limits-functions
const MAX_CODE_BYTES = 10 * 1024;

// Modules cloudfront-js-2.0 lets a function require; nothing else exists there.
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html
const RUNTIME_MODULES = new Set(['crypto', 'querystring', 'buffer', 'cloudfront']);

/** The handler, from a context holding only what the runtime offers (console). */
function load(source = CODE) {
  const context = vm.createContext({ console });
  new vm.Script(source, { filename: 'tunnel-host.js' }).runInContext(context);
  assert.equal(typeof context.handler, 'function', 'the file declares function handler(event)');
  return context.handler;
}

/** A viewer-request event as the event-structure page documents it. */
function viewerRequest(request) {
  return {
    version: '1.0',
    context: {
      distributionDomainName: 'd111111abcdef8.cloudfront.net',
      endpoint: 'd111111abcdef8.cloudfront.net',
      distributionId: 'EDFDVBD6EXAMPLE',
      eventType: 'viewer-request',
      requestId: 'EXAMPLEntjQpEXAMPLE_SG5Z-EXAMPLEPmPfEXAMPLEu3EqEXAMPLE==',
    },
    viewer: { ip: '198.51.100.11' },
    request: {
      method: 'POST',
      uri: '/api/orders',
      querystring: {
        id: { value: '42' },
        empty: { value: '' },
        tag: { value: 'a', multiValue: [{ value: 'a' }, { value: 'b,c' }] },
      },
      headers: {
        host: { value: 'myapp.tunnel.example.com' },
        'user-agent': { value: 'curl/8.5.0' },
        accept: { value: 'text/html', multiValue: [{ value: 'text/html' }, { value: 'application/json' }] },
        'content-type': { value: 'application/json' },
      },
      cookies: {
        session: { value: 'abc123' },
        pref: { value: 'dark', multiValue: [{ value: 'dark' }, { value: 'compact' }] },
      },
      ...request,
    },
  };
}

// Values made inside the function's context have that context's prototypes: compare as data.
const data = (v) => JSON.parse(JSON.stringify(v));

test('the viewer Host is copied into the tunnel host header; nothing else changes', () => {
  const event = viewerRequest({});
  const before = data(event.request);
  const out = data(load()(event));
  const want = structuredClone(before);
  want.headers[TUNNEL_HOST_HEADER] = { value: 'myapp.tunnel.example.com' };
  want.headers[TUNNEL_VIEWER_HEADER] = { value: '198.51.100.11' };
  assert.deepEqual(out, want);
});

test("the viewer's address is stated, replacing what a caller sent", () => {
  const headers = {
    host: { value: 'mine.tunnel.example.com' },
    [TUNNEL_VIEWER_HEADER]: { value: '10.0.0.1', multiValue: [{ value: '10.0.0.1' }, { value: '10.0.0.2' }] },
  };
  const event = viewerRequest({ headers });
  event.viewer.ip = '2001:db8::7';
  const out = data(load()(event));
  assert.deepEqual(out.headers[TUNNEL_VIEWER_HEADER], { value: '2001:db8::7' });
});

test('a tunnel host header the caller sent is overwritten: the Host chooses the tunnel', () => {
  const headers = {
    host: { value: 'mine.tunnel.example.com' },
    [TUNNEL_HOST_HEADER]: {
      value: 'victim.tunnel.example.com',
      multiValue: [{ value: 'victim.tunnel.example.com' }, { value: 'other.tunnel.example.com' }],
    },
  };
  const out = data(load()(viewerRequest({ headers })));
  assert.deepEqual(out.headers[TUNNEL_HOST_HEADER], { value: 'mine.tunnel.example.com' });
  assert.deepEqual(out.headers.host, { value: 'mine.tunnel.example.com' });
});

test('without a Host the request goes on without a tunnel host header, a sent one removed', () => {
  for (const headers of [
    { accept: { value: '*/*' }, [TUNNEL_HOST_HEADER]: { value: 'victim.tunnel.example.com' } },
    { host: { value: '' }, [TUNNEL_HOST_HEADER]: { value: 'victim.tunnel.example.com' } },
    {},
  ]) {
    const event = viewerRequest({ headers });
    const before = data(event.request);
    const out = data(load()(event));
    assert.equal(out.headers[TUNNEL_HOST_HEADER], undefined, JSON.stringify(headers));
    delete before.headers[TUNNEL_HOST_HEADER];
    before.headers[TUNNEL_VIEWER_HEADER] = { value: '198.51.100.11' };
    assert.deepEqual(out, before);
  }
});

test('the method, URI, query string and cookies pass as they came', () => {
  const event = viewerRequest({ method: 'DELETE', uri: '/a%20b/c', querystring: {}, cookies: {} });
  const out = data(load()(event));
  assert.equal(out.method, 'DELETE');
  assert.equal(out.uri, '/a%20b/c');
  assert.deepEqual(out.querystring, {});
  assert.deepEqual(out.cookies, {});
});

test('the code uses only what cloudfront-js-2.0 has, and fits its size quota', () => {
  assert.ok(Buffer.byteLength(CODE) <= MAX_CODE_BYTES, `${Buffer.byteLength(CODE)} bytes > ${MAX_CODE_BYTES}`);
  assert.match(CODE, /^function handler\(event\) \{/m, 'a top-level function handler(event)');
  const required = [...CODE.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  assert.deepEqual(required.filter((m) => !RUNTIME_MODULES.has(m)), [], 'modules the runtime does not have');
  assert.doesNotMatch(CODE, /^\s*(import|export)\s/m, 'no ES module syntax: the runtime runs a script');
  assert.doesNotMatch(CODE, /\b(module\.exports|exports\.|process\.|setTimeout|setInterval|fetch)\b/, 'no Node or browser globals');
  // Run in a context without Node's globals: any use of them throws here.
  assert.doesNotThrow(() => load()(viewerRequest({})));
});

test('a planted Node-only call is caught: the context has no require', () => {
  const planted = CODE.replace('var request = event.request;', "var request = event.request; require('fs');");
  assert.notEqual(planted, CODE);
  assert.throws(() => load(planted)(viewerRequest({})), /require is not defined/);
});

test('Terraform uploads this file as a cloudfront-js-2.0 viewer-request function', () => {
  const fn = CLOUDFRONT_TF.match(/resource "aws_cloudfront_function" "tunnel_host" \{([\s\S]*?)\n\}/);
  assert.ok(fn, 'aws_cloudfront_function.tunnel_host in infra/cloudfront.tf');
  assert.match(fn[1], /runtime\s*=\s*"cloudfront-js-2\.0"/);
  assert.match(fn[1], /code\s*=\s*file\("\$\{path\.module\}\/functions\/tunnel-host\.js"\)/);
  assert.match(
    CLOUDFRONT_TF,
    /function_association \{\s*event_type\s*=\s*"viewer-request"\s*function_arn\s*=\s*aws_cloudfront_function\.tunnel_host\.arn\s*\}/,
  );
});
