import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** fsync of a file or (opened read-only) a directory: what a crash of the machine must not lose. */
export async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of every file and directory under `dir`, `dir` last (a tree written without syncing, made durable). */
export async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(path);
    else if (entry.isFile()) await fsyncPath(path);
  }
  await fsyncPath(dir);
}
