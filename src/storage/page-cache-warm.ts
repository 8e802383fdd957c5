import { open } from 'node:fs/promises';
import { transfersInProgress, whenIdle } from './transfers.js';

/** Files waiting to be read back, oldest first; one is read at a time so the warming never competes with itself. */
const queue: string[] = [];
let running = false;

/**
 * Read a file written around the page cache (O_DIRECT) back into it, in the background, so that the pulls that
 * usually follow a push are served from memory, as they are after an ordinary write. It reads only while no
 * upload or download is in progress (see transfers.ts): it costs the CPU that filling the page cache costs, and
 * a pull of a blob not yet read back reads it into the cache itself. A file removed meanwhile is skipped.
 */
export function warmPageCache(path: string): void {
  queue.push(path);
  if (!running) void drain();
}

async function drain(): Promise<void> {
  running = true;
  const buf = Buffer.allocUnsafeSlow(1024 * 1024);
  try {
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) await readThrough(path, buf);
  } finally {
    running = false;
  }
}

/** Reads the file from start to end; while a transfer runs the handle is closed (a blob deleted meanwhile frees its space). */
async function readThrough(path: string, buf: Buffer): Promise<void> {
  for (let pos = 0; ; ) {
    await whenIdle();
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      while (transfersInProgress() === 0) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
      }
    } catch {
      // Best effort: a read error here is the reader's problem to report, not the warmer's.
      return;
    } finally {
      await fh.close().catch(() => {});
    }
  }
}
