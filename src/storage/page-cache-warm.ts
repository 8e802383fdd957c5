import { open } from 'node:fs/promises';

/** Files waiting to be read back, oldest first; one is read at a time so the warming never competes with itself. */
const queue: string[] = [];
let running = false;

/**
 * Read a file written around the page cache (O_DIRECT) back into it, in the background, so that the pulls that
 * usually follow a push are served from memory, as they are after an ordinary write. Reading back runs at the
 * disk's read speed and costs little CPU; a file removed meanwhile is skipped.
 */
export function warmPageCache(path: string): void {
  queue.push(path);
  if (!running) void drain();
}

async function drain(): Promise<void> {
  running = true;
  const buf = Buffer.allocUnsafeSlow(1024 * 1024);
  try {
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
      const fh = await open(path, 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        for (let pos = 0; ; ) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
        }
      } catch {
        // Best effort: a read error here is the reader's problem to report, not the warmer's.
      } finally {
        await fh.close().catch(() => {});
      }
    }
  } finally {
    running = false;
  }
}
