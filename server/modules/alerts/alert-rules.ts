// Alert rules are data: what to watch, over which window, the warn/critical thresholds, how long a breach must hold
// before it fires (`forSeconds`), how long it keeps firing after it clears (`keepFiringForSeconds`, so a flapping
// metric does not notify on every dip), and where to send it.

export type Severity = 'warning' | 'critical';
export type ChannelName = 'slack' | 'pagerduty' | 'email' | 'log';

export interface AlertRule {
  id: string;
  summary: string;
  /** A metric source name (see alert-sources.ts); `:<label>` suffixes select one series, e.g. `queue.wait:mail`. */
  metric: string;
  windowSeconds: number;
  warn: number;
  critical: number;
  forSeconds: number;
  keepFiringForSeconds: number;
  channels: ChannelName[];
  runbook?: string;
}

export const DEFAULT_RULES: AlertRule[] = [
  {
    id: 'http-error-rate',
    summary: 'HTTP 5xx rate (%)',
    metric: 'http.error_rate',
    windowSeconds: 300,
    warn: 2,
    critical: 5,
    forSeconds: 120,
    keepFiringForSeconds: 300,
    channels: ['slack', 'pagerduty', 'log'],
    runbook: 'docs/operations.md#error-rate',
  },
  {
    id: 'http-p95',
    summary: 'HTTP p95 latency (ms)',
    metric: 'http.p95',
    windowSeconds: 300,
    warn: 1000,
    critical: 2000,
    forSeconds: 300,
    keepFiringForSeconds: 300,
    channels: ['slack', 'log'],
  },
  {
    id: 'queue-depth',
    summary: 'Jobs waiting, all queues',
    metric: 'queue.depth',
    windowSeconds: 60,
    warn: 5000,
    critical: 10000,
    forSeconds: 300,
    keepFiringForSeconds: 300,
    channels: ['slack', 'pagerduty', 'log'],
  },
  {
    id: 'queue-wait',
    summary: 'Longest job wait (s), any queue',
    metric: 'queue.wait_max',
    windowSeconds: 300,
    warn: 60,
    critical: 300,
    forSeconds: 120,
    keepFiringForSeconds: 300,
    channels: ['slack', 'log'],
  },
  {
    id: 'jobs-failed-spike',
    summary: 'Failed jobs per minute',
    metric: 'jobs.failed_per_minute',
    windowSeconds: 300,
    warn: 10,
    critical: 50,
    forSeconds: 60,
    keepFiringForSeconds: 300,
    channels: ['slack', 'log'],
  },
  {
    id: 'disk',
    summary: 'Disk use (%)',
    metric: 'system.disk_percent',
    windowSeconds: 60,
    warn: 80,
    critical: 90,
    forSeconds: 300,
    keepFiringForSeconds: 600,
    channels: ['slack', 'pagerduty', 'log'],
  },
  {
    id: 'memory',
    summary: 'Memory use (%)',
    metric: 'system.memory_percent',
    windowSeconds: 60,
    warn: 90,
    critical: 95,
    forSeconds: 300,
    keepFiringForSeconds: 600,
    channels: ['slack', 'log'],
  },
];
