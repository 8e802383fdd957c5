// The loopback ceiling: a uWS server with no logic that swallows PUT bodies and streams GET bodies of the size
// asked for (?mib=N) from one block. Prints its port.
const uws = require('uWebSockets.js');
const block = Buffer.alloc(1024 * 1024, 7);
const app = uws.App();
app.put('/*', (res) => {
  res.onAborted(() => {});
  res.onData((_ab, last) => last && res.cork(() => res.end('ok')));
});
app.get('/*', (res, req) => {
  const mib = Number(new URLSearchParams(req.getQuery() ?? '').get('mib') ?? 1);
  let sent = 0;
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const total = mib * block.length;
  // write() buffers all it is given and says when to wait; the body goes chunked, as a proxy would stream it.
  const pump = () => {
    while (!aborted && sent < total) {
      sent += block.length;
      const ok = res.write(block);
      if (sent >= total) return res.end();
      if (!ok) return res.onWritable(() => (res.cork(pump), true));
    }
  };
  res.cork(pump);
});
app.listen('127.0.0.1', 0, (s) => {
  if (!s) process.exit(1);
  process.stdout.write(`${uws.us_socket_local_port(s)}\n`);
});
