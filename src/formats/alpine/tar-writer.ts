/**
 * A minimal deterministic ustar writer for the files this format generates (APKINDEX, DESCRIPTION, the
 * signature entry): fixed owner, mode and a caller-chosen mtime, so replicas produce identical bytes.
 */
export interface TarFile {
  name: string;
  body: Buffer;
  /** Seconds since the epoch. */
  mtime: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(f: TarFile): Buffer {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(f.name) > 100) throw new Error(`tar name too long: ${f.name}`);
  h.write(f.name, 0, 'utf8');
  h.write(octal(0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(f.body.length, 12), 124, 'latin1');
  h.write(octal(Math.max(0, Math.floor(f.mtime)), 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write('0', 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

/** The entries of a tar archive; `terminate: false` leaves out the end-of-archive blocks (abuild-tar --cut). */
export function writeTar(files: TarFile[], terminate: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f), f.body);
    const pad = (512 - (f.body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  if (terminate) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
