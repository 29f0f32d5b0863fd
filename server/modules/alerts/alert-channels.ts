import nodemailer from 'nodemailer';
import type { Logger } from '../../platform/logger/logger.ts';
import type { AlertRule, ChannelName, Severity } from './alert-rules.ts';

export interface AlertNotice {
  rule: AlertRule;
  kind: 'fire' | 'escalate' | 'resolve';
  severity: Severity | null;
  value: number | null;
  at: Date;
  environment: string;
}

export interface ChannelConfig {
  slackWebhookUrl?: string | undefined;
  pagerdutyRoutingKey?: string | undefined;
  pagerdutyUrl: string;
  emailTo?: string | undefined;
  smtpUrl?: string | undefined;
  mailFrom: string;
}

export type Channel = (notice: AlertNotice) => Promise<void>;

const text = (n: AlertNotice) => {
  const value = n.value === null ? 'no data' : Number(n.value.toFixed(2));
  const head =
    n.kind === 'resolve'
      ? `RESOLVED ${n.rule.summary}`
      : `${n.kind === 'escalate' ? 'ESCALATED' : 'FIRING'} [${n.severity}] ${n.rule.summary}`;
  return `${head}: ${value} (warn ${n.rule.warn}, critical ${n.rule.critical}) on ${n.environment}${
    n.rule.runbook ? ` — runbook: ${n.rule.runbook}` : ''
  }`;
};

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
}

/** The channels that are configured; an unconfigured channel named by a rule is skipped with a log line. */
export function createChannels(cfg: ChannelConfig, logger: Logger): Partial<Record<ChannelName, Channel>> {
  const channels: Partial<Record<ChannelName, Channel>> = {
    log: async (n) => {
      logger[n.kind === 'resolve' ? 'info' : 'warn'](
        { alert: n.rule.id, kind: n.kind, value: n.value },
        text(n),
      );
    },
  };
  if (cfg.slackWebhookUrl) {
    const url = cfg.slackWebhookUrl;
    channels.slack = (n) => post(url, { text: text(n) });
  }
  if (cfg.pagerdutyRoutingKey) {
    const key = cfg.pagerdutyRoutingKey;
    channels.pagerduty = (n) =>
      post(cfg.pagerdutyUrl, {
        routing_key: key,
        // One incident per rule and environment: PagerDuty folds triggers with the same key and resolves it.
        dedup_key: `keel:${n.environment}:${n.rule.id}`,
        event_action: n.kind === 'resolve' ? 'resolve' : 'trigger',
        payload: {
          summary: text(n),
          source: `keel:${n.environment}`,
          severity: n.severity === 'critical' ? 'critical' : 'warning',
          timestamp: n.at.toISOString(),
          custom_details: { rule: n.rule.id, value: n.value, warn: n.rule.warn, critical: n.rule.critical },
        },
      });
  }
  if (cfg.emailTo && cfg.smtpUrl) {
    const transport = nodemailer.createTransport(cfg.smtpUrl);
    const to = cfg.emailTo;
    channels.email = async (n) => {
      await transport.sendMail({ from: cfg.mailFrom, to, subject: text(n).slice(0, 200), text: text(n) });
    };
  }
  return channels;
}
