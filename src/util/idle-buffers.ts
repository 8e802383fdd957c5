/**
 * Idle buffers of one size, kept for reuse up to a cap: a fresh buffer per chunk is external memory to V8, which
 * then collects far more often (see util/chunk-pool). Each buffer owns its whole ArrayBuffer.
 */
export class IdleBuffers {
  private readonly idle: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly max: number,
  ) {}

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Keeps `b` (a whole buffer of `size` bytes that nothing else refers to) if there is room. */
  give(b: Buffer): void {
    if (this.idle.length < this.max) this.idle.push(b);
  }

  get count(): number {
    return this.idle.length;
  }
}
