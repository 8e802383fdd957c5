/**
 * Idle buffers of one size, kept for reuse up to a cap: a fresh buffer per chunk is external memory to V8, which
 * then collects far more often (see util/chunk-pool), and on a VM whose host takes freed memory back it is faulted in
 * again page by page. Each buffer owns its whole ArrayBuffer.
 */
export class IdleBuffers {
  private readonly idle: Buffer[] = [];
  private takenSinceCheck = false;
  private trimmer: NodeJS.Timeout | undefined;

  constructor(
    readonly size: number,
    private readonly max: number,
    /**
     * Past `floor` idle buffers, the rest are let go once none was taken during a whole check, every `idleMs` (so
     * `idleMs` to twice that after the last take): a burst's buffers are kept for the next burst, not for good.
     */
    private readonly shrink?: { floor: number; idleMs: number },
  ) {}

  take(): Buffer {
    this.takenSinceCheck = true;
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Keeps `b` (a whole buffer of `size` bytes that nothing else refers to) if there is room. */
  give(b: Buffer): void {
    if (this.idle.length >= this.max) return;
    this.idle.push(b);
    if (this.shrink && this.idle.length > this.shrink.floor && !this.trimmer) {
      this.takenSinceCheck = false;
      this.trimmer = setInterval(() => this.trim(), this.shrink.idleMs);
      this.trimmer.unref();
    }
  }

  private trim(): void {
    if (this.takenSinceCheck) {
      this.takenSinceCheck = false;
      return;
    }
    this.idle.length = Math.min(this.idle.length, this.shrink!.floor);
    clearInterval(this.trimmer);
    this.trimmer = undefined;
  }

  get count(): number {
    return this.idle.length;
  }
}
