/**
 * A whole stream in one Buffer, for documents that are parsed or rewritten in memory. Past `max` bytes the stream
 * is destroyed and `tooLarge()` thrown: an upstream or a client cannot make the server buffer without bound.
 */
export async function readBounded(stream: AsyncIterable<unknown> & { destroy?: () => void }, max: number, tooLarge: () => Error, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    signal?.throwIfAborted();
    n += (c as Buffer).length;
    if (n > max) {
      stream.destroy?.();
      throw tooLarge();
    }
    parts.push(c as Buffer);
  }
  // Always a copy: the chunks may be pool memory that their producer gives back (see util/chunk-pool).
  return Buffer.concat(parts);
}
