import { statfs } from 'node:fs/promises';
import os from 'node:os';
import type { HealthCheck } from './health.ts';

/** Disk use of the volume holding `path`: warn at 80 %, fail at 90 % (the alert thresholds). */
export function diskCheck(path: string, thresholds = { warn: 80, fail: 90 }): HealthCheck {
  return {
    key: 'disk:utilization',
    componentType: 'system',
    thresholds,
    async run() {
      const s = await statfs(path);
      return { value: Math.round((1 - s.bavail / s.blocks) * 1000) / 10, unit: 'percent' };
    },
  };
}

/** Memory use of the machine: warn at 90 %, fail at 98 %. */
export function memoryCheck(thresholds = { warn: 90, fail: 98 }): HealthCheck {
  return {
    key: 'memory:utilization',
    componentType: 'system',
    thresholds,
    async run() {
      return { value: Math.round((1 - os.freemem() / os.totalmem()) * 1000) / 10, unit: 'percent' };
    },
  };
}
