/** A FIFO async mutex: callers run one at a time, in arrival order. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Holder plus waiters. */
  private pending = 0;

  get idle(): boolean {
    return this.pending === 0;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    try {
      await previous;
      return await fn();
    } finally {
      this.pending--;
      release();
    }
  }

  /** Run only if nobody holds or waits for the mutex; null otherwise. */
  tryRun<T>(fn: () => Promise<T>): Promise<T> | null {
    return this.pending === 0 ? this.run(fn) : null;
  }
}

/** Mutexes by name, created on first use and dropped when idle so the map does not grow. */
export class NamedMutex {
  private readonly byName = new Map<string, Mutex>();

  async run<T>(name: string, fn: () => Promise<T>, wait = true): Promise<T | null> {
    let m = this.byName.get(name);
    if (!m) {
      m = new Mutex();
      this.byName.set(name, m);
    }
    const mutex = m;
    const running = wait ? mutex.run(fn) : mutex.tryRun(fn);
    if (!running) return null;
    try {
      return await running;
    } finally {
      if (mutex.idle && this.byName.get(name) === mutex) this.byName.delete(name);
    }
  }
}
