import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../trpc.ts';
import { ErrorState, Loading } from '../ui/states.tsx';
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
  if (health.isPending) return <Loading label="Checking health…" />;
  if (health.isError)
    return (
      <ErrorState
        title="Health could not be checked"
        error={health.error}
        onRetry={() => void health.refetch()}
      />
    );
  const checks = Object.entries(health.data.checks).flatMap(([key, results]) =>
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
