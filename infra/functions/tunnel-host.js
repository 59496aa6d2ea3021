// CloudFront Function (runtime cloudfront-js-2.0), viewer request, tunnels
// distribution (infra/cloudfront.tf loads this file). A Lambda Function URL answers
// only for its own Host, so the origin request policy forwards every viewer header
// but Host, and this copies the Host the viewer asked for into x-tunnel-host
// (tunnel_aws::functions::proxy::TUNNEL_HOST_HEADER), which tunnel-proxy reads.
//
// A caller's own x-tunnel-host is always replaced or removed: only the Host that
// reached CloudFront chooses the tunnel. Without a Host (HTTP/1.0) the request goes
// on without the header, and tunnel-proxy answers that it is not a tunnel address.
//
// The viewer's address goes in x-tunnel-viewer (TUNNEL_VIEWER_HEADER), replacing a
// caller's: behind CloudFront the Function URL's sourceIp is an edge server's, and
// tunnel-proxy needs the viewer's for allow_ips and X-Forwarded-For. It trusts this
// header only together with CloudFront's secret origin header.
// Tested in Node as the runtime runs it: tests/infra/cloudfront_function.test.mjs.
function handler(event) {
    var request = event.request;
    var host = request.headers.host;
    if (host && host.value) {
        request.headers['x-tunnel-host'] = { value: host.value };
    } else {
        delete request.headers['x-tunnel-host'];
    }
    request.headers['x-tunnel-viewer'] = { value: event.viewer.ip };
    return request;
}
