import type { Logger } from '../log.js';

export type Handler = (message: string) => void;

/**
 * Local fan-out of one channel's messages to its subscribers. Both drivers keep one upstream subscription per
 * channel (one Redis SUBSCRIBE, however many listeners) and dispatch here; a throwing handler is logged and
 * never stops delivery to the others or reaches the connection's event loop.
 */
export class Fanout {
  private readonly channels = new Map<string, Set<Handler>>();

  constructor(private readonly log: Logger) {}

  /** Returns true when this is the channel's first handler (the caller must subscribe upstream). */
  add(channel: string, fn: Handler): boolean {
    const set = this.channels.get(channel);
    if (set) {
      set.add(fn);
      return false;
    }
    this.channels.set(channel, new Set([fn]));
    return true;
  }

  /** Returns true when the channel has no handler left (the caller may unsubscribe upstream). */
  remove(channel: string, fn: Handler): boolean {
    const set = this.channels.get(channel);
    if (!set || !set.delete(fn)) return false;
    if (set.size > 0) return false;
    this.channels.delete(channel);
    return true;
  }

  has(channel: string, fn: Handler): boolean {
    return this.channels.get(channel)?.has(fn) ?? false;
  }

  /** Current handlers, copied so handlers may (un)subscribe while being called. */
  handlers(channel: string): Handler[] {
    const set = this.channels.get(channel);
    return set ? [...set] : [];
  }

  call(channel: string, fn: Handler, message: string): void {
    try {
      fn(message);
    } catch (err) {
      this.log.error({ err, channel }, 'cache subscriber threw');
    }
  }

  deliver(channel: string, message: string): void {
    for (const fn of this.handlers(channel)) this.call(channel, fn, message);
  }

  clear(): void {
    this.channels.clear();
  }
}
