import type { AppDeps } from '../../app-deps.ts';
import { createChannels } from './alert-channels.ts';
import { DEFAULT_RULES, type AlertRule } from './alert-rules.ts';
import { defaultSources, type MetricSource } from './alert-sources.ts';
import { AlertEvaluator } from './alerts.service.ts';

export interface AlertSetupOptions {
  rules?: AlertRule[];
  /** Extra or replacement metric sources (tests, modules that add their own metrics). */
  sources?: Record<string, MetricSource>;
}

export function createAlertEvaluator(deps: AppDeps, opts: AlertSetupOptions = {}): AlertEvaluator {
  const { config } = deps;
  return new AlertEvaluator({
    redis: deps.redis.get('metrics'),
    keyspace: deps.redis.keyspace('metrics'),
    em: deps.em,
    logger: deps.logger,
    rules: opts.rules ?? DEFAULT_RULES,
    sources: { ...defaultSources(deps.observability.console, deps.healthChecks), ...opts.sources },
    channels: createChannels(
      {
        slackWebhookUrl: config.alerts.slackWebhookUrl,
        pagerdutyRoutingKey: config.alerts.pagerdutyRoutingKey,
        pagerdutyUrl: config.alerts.pagerdutyUrl,
        emailTo: config.alerts.emailTo,
        smtpUrl: config.smtpUrl,
        mailFrom: config.mailFrom,
      },
      deps.logger,
    ),
    environment: new URL(config.appUrl).host,
  });
}

const defaults = new WeakMap<AppDeps, AlertEvaluator>();

/** The process's evaluator with the default rules, built once (its channels hold HTTP and SMTP clients). */
export function alertEvaluatorOf(deps: AppDeps): AlertEvaluator {
  let evaluator = defaults.get(deps);
  if (!evaluator) defaults.set(deps, (evaluator = createAlertEvaluator(deps)));
  return evaluator;
}
