// Loaded before everything else (`tsx --import ./server/instrument.ts server/main.ts …`): patching-based tracing of
// http, pg and ioredis has to be in place before those modules are first imported (startTracing also registers the
// import hook that ESM imports of them need).
import { ConfigError, loadConfig } from './config/env.ts';

try {
  const config = loadConfig();
  if (config.tracing.enabled) {
    const { startTracing } = await import('./platform/tracing/sdk.ts');
    startTracing({
      serviceName: config.tracing.serviceName,
      otlpEndpoint: config.tracing.otlpEndpoint,
      sampleRatio: config.tracing.sampleRatio,
    });
  }
} catch (err) {
  // main.ts reports configuration errors with the variable's name; do not fail twice.
  if (!(err instanceof ConfigError)) throw err;
}
