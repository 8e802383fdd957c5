import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** O_DIRECT wants buffer addresses, file offsets and lengths aligned; 4 KiB covers every common device. */
export const BLOCK = 4096;
/** One direct write. */
export const SLAB = 2 * 1024 * 1024;
/** Slabs are carved out of WebAssembly memories of this size (few large reservations rather than many). */
const ARENA_SLABS = 16;
/** Idle slabs kept for the next upload (32 MiB at most). */
const POOL_MAX = 16;

const pool: Buffer[] = [];

/** The part of the WebAssembly global used here (the project's type libraries do not declare it). */
declare const WebAssembly: { Memory: new (d: { initial: number; maximum?: number }) => { buffer: ArrayBuffer } };

/**
 * A SLAB-sized buffer whose address is block-aligned. Node makes no promise about a Buffer's address; a
 * WebAssembly memory starts on a page boundary. The memories are never grown (that would detach the views).
 */
export function takeSlab(): Buffer {
  const slab = pool.pop();
  if (slab) return slab;
  const memory = new WebAssembly.Memory({ initial: (SLAB * ARENA_SLABS) / 65536, maximum: (SLAB * ARENA_SLABS) / 65536 });
  for (let i = 1; i < ARENA_SLABS; i++) pool.push(Buffer.from(memory.buffer, i * SLAB, SLAB));
  return Buffer.from(memory.buffer, 0, SLAB);
}

export function returnSlab(slab: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(slab);
}

/**
 * Opens `path` (which must exist) for direct writes; null where that is not possible (a filesystem without O_DIRECT
 * answers EINVAL): the caller then writes the ordinary way, which works wherever the file could be created.
 */
export async function openDirect(path: string): Promise<FileHandle | null> {
  if (constants.O_DIRECT === undefined) return null;
  return open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
}

/**
 * Direct writes in flight at once. With one (a slab written while the next fills), the disk sat idle from the end
 * of each write until the event loop, busy with the transfer, came round to issue the next: a remote download
 * spooled at 410–450 MiB/s on a disk that takes 0.9–1.3 GB/s of direct appends. Bounded, so memory per file is
 * (DEPTH + 1) slabs.
 */
const DEPTH = 3;

/** One slab's write, in file order. */
interface SlabWrite {
  slab: Buffer;
  done: Promise<void>;
}

/**
 * Appends through O_DIRECT from block-aligned slabs: one fills while up to DEPTH earlier ones are being written.
 * Filling the page cache is what costs: on a VM whose balloon takes freed guest memory back (free page reporting,
 * as here), every page the cache grows into is faulted in from the host again, ≈ 1.8 ms of kernel CPU per MiB,
 * so buffered writes of new data run at ≈ 550 MiB/s (5 GiB/s into memory the guest still holds); direct writes
 * of the same data ran at 1.2–2.3 GiB/s. Reading such a file back with O_DIRECT too (as MinIO does) was measured
 * and not kept: ≈ 1 GiB/s from a disk busy with other writeback, every time, where the page cache, once warm,
 * serves 1.5–2 GiB/s.
 * The last, partial slab is written padded to a block: the caller truncates the file to its real end.
 * A filesystem that takes O_DIRECT at open but refuses the writes gets them through `buffered` instead.
 */
export class DirectAppender {
  private slab: Buffer | undefined = takeSlab();
  private fill = 0;
  /** File offset of the current slab's first byte. */
  private slabAt: number;
  /** Writes not yet waited for, oldest first. */
  private readonly writing: SlabWrite[] = [];
  /** Settles once every write so far is in the file and reported, in file order (writes may finish out of it). */
  private reported: Promise<void> = Promise.resolve();
  private fallback = false;

  constructor(
    private readonly direct: FileHandle,
    private readonly buffered: FileHandle,
    /** Where the first byte goes: a block boundary. */
    start: number,
    /** Called as bytes up to a file offset are in the file. */
    private readonly onInFile: (end: number) => void,
  ) {
    if (start % BLOCK !== 0) throw new Error(`direct appends start on a block boundary, not at ${start}`);
    this.slabAt = start;
  }

  async append(buffers: Buffer[]): Promise<void> {
    for (const b of buffers) {
      let off = 0;
      while (off < b.length) {
        const slab = (this.slab ??= takeSlab());
        const n = Math.min(SLAB - this.fill, b.length - off);
        b.copy(slab, this.fill, off, off + n);
        this.fill += n;
        off += n;
        if (this.fill === SLAB) await this.writeSlab(SLAB);
      }
    }
  }

  /** Writes what is left (padded to a block) and waits for every write; the file may then be longer than the data. */
  async finish(): Promise<void> {
    if (this.fill > 0) {
      const padded = Math.ceil(this.fill / BLOCK) * BLOCK;
      // Zeros, not whatever an earlier upload left in the slab, even though the caller truncates them away.
      this.slab!.fill(0, this.fill, padded);
      await this.writeSlab(padded, this.fill);
    }
    while (this.writing.length > 0) await this.retireOldest();
    await this.reported;
  }

  /** Waits for the writes in progress, gives the slabs back and closes the direct handle; unusable afterwards. */
  async close(): Promise<void> {
    while (this.writing.length > 0) await this.retireOldest().catch(() => {});
    if (this.slab) returnSlab(this.slab);
    this.slab = undefined;
    await this.direct.close();
  }

  private async writeSlab(length: number, dataLength = length): Promise<void> {
    // Room for one more write once the oldest is done (a failed write fails this append).
    while (this.writing.length >= DEPTH) await this.retireOldest();
    const slab = this.slab!;
    const at = this.slabAt;
    this.slab = undefined;
    this.slabAt += SLAB;
    this.fill = 0;
    const done = this.writeFully(slab, length, at);
    done.catch(() => {}); // awaited by retireOldest
    this.writing.push({ slab, done });
    const before = this.reported;
    this.reported = Promise.all([before, done]).then(() => this.onInFile(at + dataLength));
    this.reported.catch(() => {}); // a failure surfaces through retireOldest
  }

  /** Waits for the oldest write and gives its slab back (it may not be reused while the kernel reads from it). */
  private async retireOldest(): Promise<void> {
    const w = this.writing.shift()!;
    try {
      await w.done;
    } finally {
      returnSlab(w.slab);
    }
  }

  private async writeFully(buf: Buffer, length: number, at: number): Promise<void> {
    let done = 0;
    while (done < length) {
      if (!this.fallback) {
        try {
          const { bytesWritten } = await this.direct.write(buf, done, length - done, at + done);
          done += bytesWritten;
          continue;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
          this.fallback = true;
        }
      }
      const { bytesWritten } = await this.buffered.write(buf, done, length - done, at + done);
      done += bytesWritten;
    }
  }
}
