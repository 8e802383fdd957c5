// The small-request ceiling: a server with no logic answering every GET and HEAD with the same manifest-sized
// document and the headers a registry sends, on uWS or node:http (argv[2]). Prints its port.
const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: `sha256:${'a'.repeat(64)}`, size: 38 }, layers: [{ digest: `sha256:${'b'.repeat(64)}`, size: 67108864 }] }));
const headers = [
  ['content-type', 'application/vnd.oci.image.manifest.v1+json'],
  ['docker-content-digest', `sha256:${'c'.repeat(64)}`],
  ['docker-distribution-api-version', 'registry/2.0'],
];
const print = (port) => process.stdout.write(`${port}\n`);
if (process.argv[2] === 'node') {
  const http = require('node:http');
  const flat = headers.flat();
  const s = http.createServer((req, res) => {
    res.writeHead(200, [...flat, 'content-length', String(body.length)]);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  s.keepAliveTimeout = 60_000;
  s.listen(0, '127.0.0.1', () => print(s.address().port));
} else {
  const uws = require('uWebSockets.js');
  const app = uws.App();
  app.any('/*', (res, req) => {
    const head = req.getMethod() === 'head';
    res.cork(() => {
      res.writeStatus('200 OK');
      for (const [k, v] of headers) res.writeHeader(k, v);
      // As the server does for HEAD: the length written by hand and endWithoutBody() with no argument (given a
      // length, this build leaves the connection waiting for that many bytes).
      if (head) res.writeHeader('content-length', String(body.length)).endWithoutBody();
      else res.end(body);
    });
  });
  app.listen('127.0.0.1', 0, (s) => {
    if (!s) process.exit(1);
    print(uws.us_socket_local_port(s));
  });
}
