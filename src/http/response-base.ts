import type { Readable } from 'node:stream';
import { AbortedError } from '../errors.js';
import type { HttpResponse } from './types.js';

/** What both engines' responses share: status bookkeeping, abort hooks, and the rules around streaming a body. */
export abstract class ResponseBase implements HttpResponse {
  abstract readonly headersSent: boolean;
  abstract readonly finished: boolean;
  aborted = false;
  bytesWritten = 0;
  protected code = 200;
  private readonly abortHooks: Array<() => void> = [];

  constructor(protected readonly head: boolean) {}

  status(code: number): this {
    this.code = code;
    return this;
  }

  getStatus(): number {
    return this.code;
  }

  abstract setHeader(name: string, value: string | number): this;
  abstract end(body?: Buffer | string): void;
  abstract endWithoutBody(contentLength?: number): void;
  abstract destroy(): void;

  /** The client went away: every stream in progress fails and its source is destroyed. */
  protected fireAbort(): void {
    for (const h of this.abortHooks) h();
  }

  /** HEAD answers with the length only; an aborted response refuses the body; otherwise the engine streams it. */
  stream(source: Readable, length?: number): Promise<void> {
    if (this.head) {
      source.destroy();
      this.endWithoutBody(length);
      return Promise.resolve();
    }
    if (this.aborted) {
      source.destroy();
      return Promise.reject(new AbortedError());
    }
    return new Promise<void>((resolve, reject) => {
      this.abortHooks.push(() => {
        source.destroy(new AbortedError('client went away'));
        reject(new AbortedError('client went away'));
      });
      this.streamBody(source, length, resolve, reject);
    });
  }

  /** Write the body with backpressure; settle when it was handed to the socket, or failed. */
  protected abstract streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void;
}
