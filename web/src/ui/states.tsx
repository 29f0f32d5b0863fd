import type { ReactNode } from 'react';
import { Button } from './Button.tsx';
import { messageOf, requestIdOf } from './errors.ts';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <p className="state-title">{title}</p>
      {children}
    </div>
  );
}

export function ErrorState({
  error,
  title = 'This could not be loaded',
  onRetry,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
}) {
  const requestId = requestIdOf(error);
  return (
    <div className="state state-error" role="alert">
      <p className="state-title">{title}</p>
      <p>{messageOf(error)}</p>
      {requestId ? <p className="muted small">Reference: {requestId}</p> : null}
      {onRetry ? <Button onClick={onRetry}>Try again</Button> : null}
    </div>
  );
}
