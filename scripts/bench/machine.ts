/** What the benchmark ran on, so that numbers can be compared across machines. */
import * as os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  /** 1-minute load average when the run started: other work on a shared machine skews results. */
  loadAverage1m: number;
  /** Share of all cores busy over the second before the run started (0–100), which the load average shows only a minute late. */
  busyPercentAtStart?: number;
}

/** Share of all cores busy over the next `ms` milliseconds (0–100), from the kernel's per-core times. */
export async function busyPercent(ms: number): Promise<number> {
  const total = (): { busy: number; all: number } => {
    let busy = 0;
    let all = 0;
    for (const cpu of os.cpus()) {
      const t = cpu.times;
      const sum = t.user + t.nice + t.sys + t.irq + t.idle;
      all += sum;
      busy += sum - t.idle;
    }
    return { busy, all };
  };
  const before = total();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = total();
  const all = after.all - before.all;
  return all > 0 ? Math.round(((after.busy - before.busy) / all) * 100) : 0;
}

/**
 * Waits until the machine is quiet (under `threshold` percent of all cores busy over a second), up
 * to `maxWaitInMs`, and resolves with the last reading: a run that starts while another job still
 * runs (a test suite, a build) measures that job too. `log` says when it waits.
 */
export async function waitForQuiet(threshold: number, maxWaitInMs: number, log: (text: string) => void): Promise<number> {
  const until = Date.now() + maxWaitInMs;
  let busy = await busyPercent(1000);
  if (busy >= threshold) log(`the machine is ${busy}% busy; waiting up to ${Math.round(maxWaitInMs / 1000)} s for it to settle…`);
  while (busy >= threshold && Date.now() < until) busy = await busyPercent(1000);
  if (busy >= threshold) log(`still ${busy}% busy: starting anyway (the results say so)`);
  return busy;
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}

export function machineLine(m: MachineInfo): string {
  const busy = m.busyPercentAtStart === undefined ? '' : ` (${m.busyPercentAtStart}% busy)`;
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, load ${m.loadAverage1m} at start${busy}`;
}
