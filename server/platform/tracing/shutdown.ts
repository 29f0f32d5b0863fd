import { ProxyTracerProvider, trace } from '@opentelemetry/api';

/**
 * Exports the spans still waiting in the batch and stops the tracer provider; the last step of a process's shutdown.
 * Without it a deploy loses the last few seconds of every process's traces (the batch is sent every 5 s). Works on
 * whichever provider `server/instrument.ts` registered, and does nothing when tracing is off.
 */
export async function shutdownTracing(): Promise<void> {
  const registered = trace.getTracerProvider();
  const provider: object = registered instanceof ProxyTracerProvider ? registered.getDelegate() : registered;
  if ('shutdown' in provider && typeof provider.shutdown === 'function') {
    await (provider.shutdown as () => Promise<void>).call(provider);
  }
}
