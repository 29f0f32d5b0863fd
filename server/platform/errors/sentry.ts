import * as Sentry from '@sentry/node';
import { scrub } from './scrub.ts';

export interface ErrorReporter {
  capture(err: unknown, context?: Record<string, unknown>): void;
  flush(timeoutMs?: number): Promise<void>;
}

/**
 * Sentry when a DSN is configured. It does not set up its own OpenTelemetry provider (Keel's tracing owns the only
 * one) and sends nothing it has not scrubbed.
 */
export function createErrorReporter(
  dsn: string | undefined,
  environment: string,
  release: string,
): ErrorReporter | null {
  if (!dsn) return null;
  const client = Sentry.init({
    dsn,
    environment,
    release,
    enableOpenTelemetrySetup: false,
    defaultIntegrations: false,
    beforeSend: (event) => scrub(event),
    beforeBreadcrumb: (crumb) => scrub(crumb),
  });
  return {
    capture(err, context) {
      Sentry.captureException(err, context ? { extra: scrub(context) } : undefined);
    },
    async flush(timeoutMs = 2000) {
      await client?.flush(timeoutMs);
    },
  };
}
