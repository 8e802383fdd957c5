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
  private abortHooks: Array<() => void> = [];

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

  /** The response will not complete (client gone, or closed by us): every stream in progress fails, once. */
  protected fireAbort(): void {
    const hooks = this.abortHooks;
    this.abortHooks = [];
    for (const h of hooks) h();
  }

  /** HEAD answers with the length only; a finished response refuses the body; otherwise the engine streams it. */
  stream(source: Readable, length?: number): Promise<void> {
    if (this.aborted) {
      source.destroy();
      return Promise.reject(new AbortedError('client went away'));
    }
    if (this.finished) {
      source.destroy();
      return Promise.reject(new Error('response already finished'));
    }
    if (this.head) {
      source.destroy();
      this.endWithoutBody(length);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.abortHooks.push(() => {
        source.destroy(new AbortedError('client went away'));
        reject(new AbortedError('client went away'));
      });
      this.streamBody(source, length, resolve, reject);
    });
  }

  /**
   * Write the body with backpressure; settle when it was handed to the socket, or failed. A source that errors,
   * or yields more or fewer bytes than `length`, closes the connection and rejects.
   */
  protected abstract streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void;
}

export const lengthMismatch = (sent: number, length: number, more: boolean) =>
  new Error(more ? `response source yields more than the declared ${length} bytes` : `response source ended after ${sent} of ${length} bytes`);
