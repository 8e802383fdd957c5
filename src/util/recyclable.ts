/**
 * A body source whose chunks may be handed back once nothing refers to their bytes any more, so that it can read
 * into the same memory again (see storage/file-body.ts). The HTTP engines recycle after the bytes left.
 */
export interface Recyclable {
  recycle(chunk: Buffer): void;
}

export function isRecyclable(s: unknown): s is Recyclable {
  return typeof (s as Partial<Recyclable>).recycle === 'function';
}
