import { connect, createServer } from 'node:net';

/**
 * A port for a server a test starts as another process (nginx, distribution, Verdaccio): free now, and below the
 * kernel's ephemeral range (32768 and up on Linux), so an outgoing connection cannot take it before the server
 * binds it (a port from listen(0) is in that range, and that race once failed the e2e run).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a server that speaks no plain HTTP included). */
export const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
