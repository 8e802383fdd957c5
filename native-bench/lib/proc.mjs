// Process figures read from /proc: resident memory and CPU seconds of a server while a workload runs.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const TICKS = 100; // USER_HZ on Linux

export function rssMiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return 0;
  }
}

/**
 * The fields of a /proc `stat` file after the command name (which may hold spaces), numbered from 0 (state); null
 * when the process or thread is gone. 7: minor faults, 11 and 12: user and system CPU ticks.
 */
function statFields(path) {
  try {
    return readFileSync(path, 'utf8').split(') ')[1].split(' ').map(Number);
  } catch {
    return null;
  }
}

const cpuOf = (f) => (f ? (f[11] + f[12]) / TICKS : 0);

export function cpuSeconds(pid) {
  return cpuOf(statFields(`/proc/${pid}/stat`));
}

/** CPU seconds of each of the process's threads, by thread id (the event loop's id is the process's). */
export function threadCpuSeconds(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {}
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (f) out.set(Number(tid), cpuOf(f)); // else the thread ended meanwhile
  }
  return out;
}

/** Minor page faults of the process so far: memory it touched for the first time (or again, after the host took it). */
export function minorFaults(pid) {
  return statFields(`/proc/${pid}/stat`)?.[7] ?? 0;
}

/** Ticks of all CPUs together (/proc/stat): busy (anything but idle and I/O wait) and in all. */
function machineTicks() {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, all: busy + idle + iowait };
}

/** Microseconds in which some task waited for I/O (the kernel's pressure stall information); undefined without PSI. */
function ioWaitedUs() {
  try {
    return Number(/^some .*total=(\d+)$/m.exec(readFileSync('/proc/pressure/io', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * Run `fn` while sampling the peak RSS of `pid`; returns fn's result with peak RSS, RSS growth, CPU seconds, and how
 * busy the whole machine was meanwhile (% of all cores, every process): a figure taken at 100 % is bound by the CPU
 * it shares with the client and any upstream; one well under it by waits (disk, wake-ups between stages). `ioWaitMs`:
 * for how long some task of the machine waited for I/O meanwhile (a disk that stalls shows there).
 */
export async function watched(pid, fn) {
  const base = rssMiB(pid);
  let peak = base;
  const cpu0 = cpuSeconds(pid);
  const m0 = machineTicks();
  const io0 = ioWaitedUs();
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 25);
  try {
    const value = await fn();
    peak = Math.max(peak, rssMiB(pid));
    const m1 = machineTicks();
    const machineBusy = m1.all > m0.all ? (100 * (m1.busy - m0.busy)) / (m1.all - m0.all) : NaN;
    const io1 = ioWaitedUs();
    const ioWaitMs = io0 === undefined || io1 === undefined ? undefined : (io1 - io0) / 1000;
    return { value, peakRss: peak, rssGrowth: peak - base, cpu: cpuSeconds(pid) - cpu0, machineBusy, ioWaitMs };
  } finally {
    clearInterval(timer);
  }
}

export const freePort = () =>
  new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });

export const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** Dirty and under-writeback page cache, MiB. */
function dirtyMiB() {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? 0);
  return (kb('Dirty') + kb('Writeback')) / 1024;
}

/**
 * Waits (at most `maxMs`) until the page cache has been written back and every process in `pids` is idle: one
 * server's leftovers (gigabytes left dirty by a push, an artifactapi read-back) must not land in the next one's
 * figures. Returns how long it waited.
 */
export async function settle(pids, maxMs = 30_000) {
  const t0 = performance.now();
  const { spawnSync } = await import('node:child_process');
  spawnSync('sync');
  for (;;) {
    const before = pids.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, 250));
    const busy = pids.some((p, i) => cpuSeconds(p) - before[i] > 0.02);
    const dirty = dirtyMiB();
    if ((!busy && dirty < 64) || performance.now() - t0 > maxMs) return performance.now() - t0;
    // Written since the sync above (a proxy storing in the background, a file nobody flushed): the kernel would keep
    // it dirty for up to 30 s (dirty_expire_centisecs) before writing it back, and this would wait all that time.
    if (dirty >= 64) spawnSync('sync');
  }
}
