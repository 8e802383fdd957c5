import { Transform } from 'node:stream';
import { tooLarge } from '../errors.js';

/** Pass-through that fails with 413 as soon as more than `max` bytes went through. */
export function byteLimit(max: number, what = 'upload'): Transform {
  let seen = 0;
  return new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(tooLarge(`${what} exceeds the limit of ${max} bytes`, 'SIZE_LIMIT_EXCEEDED'));
      else cb(null, chunk);
    },
  });
}
