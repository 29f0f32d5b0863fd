import { useQuery } from '@tanstack/react-query';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { QueryView } from '../ui/QueryView.tsx';
import { formatDecimal } from './format.ts';

const NAMES: Record<string, string> = {
  'postgres:responseTime': 'PostgreSQL',
  'redis:responseTime': 'Redis',
};

function nameOf(key: string): string {
  if (NAMES[key]) return NAMES[key];
  const [component = key, measure] = key.split(':');
  return measure ? `${component} ${measure.replace(/([A-Z])/g, ' $1').toLowerCase()}` : component;
}

/** Every readiness check (`/readyz`) with its value, refreshed every 15 s. */
export function HealthStrip() {
  const trpc = useTRPC();
  const health = useQuery(trpc.ops.monitoring.health.queryOptions(undefined, { refetchInterval: 15_000 }));
  return (
    <QueryView query={health} loading="Checking health…" errorTitle="Health could not be checked">
      {(data) => <Checks checks={data.checks} />}
    </QueryView>
  );
}

function Checks({ checks: byKey }: { checks: RouterOutputs['ops']['monitoring']['health']['checks'] }) {
  const checks = Object.entries(byKey).flatMap(([key, results]) =>
    results.map((r, i) => ({ key: results.length > 1 ? `${key}#${i}` : key, name: nameOf(key), ...r })),
  );
  return (
    <ul className="health-strip" aria-label="Health">
      {checks.map((c) => (
        <li key={c.key} className={`health health-${c.status}`} title={c.output ?? undefined}>
          <span className="health-dot" aria-hidden="true" />
          <span className="health-name">{c.name}</span>
          <span className="health-value">
            {c.status === 'pass' ? 'OK' : c.status === 'warn' ? 'Warning' : 'Failing'}
            {c.observedValue !== undefined
              ? ` · ${formatDecimal(c.observedValue)}${c.observedUnit ? ` ${c.observedUnit}` : ''}`
              : ''}
            {c.output ? ` · ${c.output}` : ''}
          </span>
        </li>
      ))}
    </ul>
  );
}
