import { isIP, type Socket } from 'node:net';
import type { ProxyRoute } from './proxy.js';

/** A proxy's answer to CONNECT is a status line and a few headers; more than this is not one. */
const MAX_ANSWER = 16 * 1024;

/** Why a proxy would not open the tunnel, for the repository's error and the log. */
export class ProxyRefusedError extends Error {
  override name = 'ProxyRefusedError';
}

/**
 * Asks the proxy on `socket` for a tunnel to host:port (HTTP CONNECT) and resolves once it is open: from then on the
 * socket carries the bytes to and from the upstream (the TLS handshake comes next).
 */
export function openTunnel(socket: Socket, host: string, port: number, proxy: ProxyRoute): Promise<void> {
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  let head = `CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n`;
  if (proxy.authorization) head += `proxy-authorization: ${proxy.authorization}\r\n`;
  socket.write(`${head}\r\n`, 'latin1');
  return new Promise<void>((resolve, reject) => {
    let got = Buffer.alloc(0);
    const finish = (err?: Error) => {
      socket.off('data', onData);
      socket.off('error', finish);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onClose = () => finish(new ProxyRefusedError(`the proxy ${proxy.key} closed the connection before it answered CONNECT ${authority}`));
    const onData = (data: Buffer) => {
      got = Buffer.concat([got, data]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) {
        if (got.length > MAX_ANSWER) finish(new ProxyRefusedError(`the proxy ${proxy.key} sent more than ${MAX_ANSWER} bytes without ending its answer to CONNECT`));
        return;
      }
      // The socket is handed over as it is: nothing may be read past the answer (the upstream speaks only after TLS).
      socket.pause();
      const status = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?\r\n/.exec(got.subarray(0, end + 2).toString('latin1'));
      if (!status) return finish(new ProxyRefusedError(`the proxy ${proxy.key} answered CONNECT ${authority} with something that is not HTTP`));
      const code = Number(status[1]);
      if (code < 200 || code > 299) {
        // 407 is the proxy's own status for this; some (tinyproxy) answer 401.
        const why = code === 407 || code === 401 ? (proxy.authorization ? ' (the user and password in the proxy URL were refused)' : ' (the proxy URL has no user and password)') : '';
        return finish(new ProxyRefusedError(`the proxy ${proxy.key} refused CONNECT ${authority}: ${code} ${status[2] ?? ''}`.trim() + why));
      }
      if (got.length > end + 4) return finish(new ProxyRefusedError(`the proxy ${proxy.key} sent bytes after its answer to CONNECT ${authority} before the upstream could speak`));
      finish();
    };
    socket.on('data', onData);
    socket.once('error', finish);
    socket.once('close', onClose);
  });
}
