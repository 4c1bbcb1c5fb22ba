/** The machine the numbers come from, read from node:os and process at the start of a run. */
import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, totalmem, type } from 'node:os';
import type { LabEnvironment } from './report.js';

export function labEnvironment(): LabEnvironment {
  const list = cpus();
  return {
    node: process.version,
    openssl: process.versions.openssl,
    os: `${type()} ${release()} ${arch()}`,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    cpuMHz: list[0]?.speed || procCpuMHz(),
    totalMemBytes: totalmem(),
    loadAverage: loadavg(),
  };
}

/** Some VMs report speed 0 through os.cpus(); Linux still states "cpu MHz" in /proc/cpuinfo. 0 when neither says. */
function procCpuMHz(): number {
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1])) : 0;
  } catch {
    return 0;
  }
}
