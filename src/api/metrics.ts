/**
 * A minimal Prometheus registry: counters, gauges and one histogram type, rendered in the text
 * exposition format. Label sets are few (repo × status class), so a Map per metric is enough.
 */
type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

class Counter {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' = 'counter',
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  set(labels: Labels, v: number): void {
    this.values.set(key(labels), v);
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const [k, v] of this.values) out += `${this.name}${k ? `{${k}}` : ''} ${v}\n`;
    return out;
  }
}

class Histogram {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: number[],
  ) {}
  observe(labels: Labels, v: number): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) s.buckets[i]!++;
    s.sum += v;
    s.count++;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const [k, s] of this.series) {
      const pre = k ? `${k},` : '';
      this.bounds.forEach((b, i) => (out += `${this.name}_bucket{${pre}le="${b}"} ${s.buckets[i]}\n`));
      out += `${this.name}_bucket{${pre}le="+Inf"} ${s.count}\n${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}\n${this.name}_count${k ? `{${k}}` : ''} ${s.count}\n`;
    }
    return out;
  }
}

/** How often the event-loop probe's timer is due; its lateness is the time the loop could not run anything. */
const PROBE_MS = 20;

export class Metrics {
  readonly requests = new Counter('artifactapi_http_requests_total', 'HTTP requests by repository, method and status');
  readonly bytesIn = new Counter('artifactapi_http_bytes_received_total', 'Request body bytes received by repository');
  readonly bytesOut = new Counter('artifactapi_http_bytes_sent_total', 'Response body bytes sent by repository');
  readonly cache = new Counter('artifactapi_cache_requests_total', 'Remote repository lookups by result (hit, miss, stale, revalidated, negative)');
  readonly upstreamLatency = new Histogram('artifactapi_upstream_response_seconds', 'Time to upstream response headers', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  readonly upstreamRequests = new Counter('artifactapi_upstream_requests_total', 'Upstream requests by repository, method and status');
  readonly uploadsInFlight = new Counter('artifactapi_uploads_in_flight', 'Uploads currently streaming into storage', 'gauge');
  readonly downloadsInFlight = new Counter('artifactapi_remote_downloads_in_flight', 'Upstream downloads currently streaming', 'gauge');
  readonly eventLoopDelay = new Histogram('nodejs_eventloop_delay_seconds', `How late a ${PROBE_MS} ms timer fired: time the event loop was blocked (every request of this process waited meanwhile)`, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

  private hashTasks: (() => number) | undefined;

  /** Reports the hasher's open tasks (streams, held upload states) with every scrape: one that only grows leaks. */
  watchHasher(openTasks: () => number): void {
    this.hashTasks = openTasks;
  }

  /**
   * Samples the event loop's delay until the returned function is called. A synchronous wait on the loop (the
   * embedded database's fsync, a long computation) stalls every transfer of the process; this says how often and
   * how long.
   */
  watchEventLoop(): () => Promise<void> {
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      this.eventLoopDelay.observe({}, Math.max(0, now - last - PROBE_MS) / 1000);
      last = now;
    }, PROBE_MS);
    timer.unref();
    return async () => clearInterval(timer);
  }

  render(): string {
    const mem = process.memoryUsage();
    return [
      this.requests.render(),
      this.bytesIn.render(),
      this.bytesOut.render(),
      this.cache.render(),
      this.upstreamLatency.render(),
      this.upstreamRequests.render(),
      this.uploadsInFlight.render(),
      this.downloadsInFlight.render(),
      this.eventLoopDelay.render(),
      this.hashTasks ? `# HELP artifactapi_hash_tasks Hash tasks open in the worker pool (streams, held upload states)\n# TYPE artifactapi_hash_tasks gauge\nartifactapi_hash_tasks ${this.hashTasks()}\n` : '',
      `# HELP process_resident_memory_bytes Resident memory size in bytes\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ${mem.rss}\n`,
    ].join('');
  }
}
