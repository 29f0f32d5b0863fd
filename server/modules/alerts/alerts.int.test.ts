import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import type { AlertRule } from './alert-rules.ts';
import { createAlertEvaluator } from './alerts.setup.ts';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** Stands in for Slack's incoming webhook and PagerDuty's Events API: records what it is sent. */
async function receiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(req.url === '/pagerduty' ? 202 : 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

let env: TestEnv;
let hook: Awaited<ReturnType<typeof receiver>>;

beforeAll(async () => {
  hook = await receiver();
  env = await createTestEnv({
    ALERT_SLACK_WEBHOOK_URL: `${hook.url}/slack`,
    ALERT_PAGERDUTY_ROUTING_KEY: 'routing-key-123',
    ALERT_PAGERDUTY_URL: `${hook.url}/pagerduty`,
  });
});
afterAll(async () => {
  await env.close();
  hook.server.close();
});

const rule: AlertRule = {
  id: `error-rate-${Date.now()}`,
  summary: 'HTTP 5xx rate (%)',
  metric: 'test.error_rate',
  windowSeconds: 300,
  warn: 2,
  critical: 5,
  forSeconds: 120,
  keepFiringForSeconds: 300,
  channels: ['slack', 'pagerduty', 'log'],
};

describe('alert lifecycle against Slack and PagerDuty receivers', () => {
  it('goes pending, fires once, ignores flapping within keep-firing, resolves once, and keeps history', async () => {
    let value = 0;
    const evaluator = createAlertEvaluator(env.deps, {
      rules: [rule],
      sources: { 'test.error_rate': async () => value },
    });
    const t0 = Date.now();
    const at = (minute: number) => t0 + minute * 60_000;
    const run = async (minute: number, v: number) => {
      value = v;
      expect(await evaluator.evaluate(at(minute))).not.toBeNull();
    };

    await run(0, 0.5);
    await run(1, 3); // breach seen: pending
    expect((await evaluator.statuses())[0]?.state).toBe('pending');
    expect(hook.received).toHaveLength(0);
    await run(2, 3);
    await run(3, 3.5); // held for 2 minutes: fires
    expect((await evaluator.statuses())[0]).toMatchObject({ state: 'firing', severity: 'warning' });
    expect(hook.received.map((r) => r.path).sort()).toEqual(['/pagerduty', '/slack']);
    await run(4, 3); // still firing: nothing new
    await run(5, 1); // clears...
    await run(6, 3); // ...and comes back within keep-firing: flapping, nothing new
    await run(7, 1);
    await run(9, 0.5);
    expect(hook.received).toHaveLength(2);
    await run(12, 0.2); // clear held 5 minutes since minute 7: resolves
    expect((await evaluator.statuses())[0]?.state).toBe('inactive');
    await run(13, 0.2);
    await run(14, 0.2);

    expect(hook.received).toHaveLength(4);
    const slack = hook.received.filter((r) => r.path === '/slack').map((r) => String(r.body.text));
    expect(slack[0]).toMatch(/^FIRING \[warning\] HTTP 5xx rate/);
    expect(slack[1]).toMatch(/^RESOLVED HTTP 5xx rate/);
    const pd = hook.received.filter((r) => r.path === '/pagerduty').map((r) => r.body);
    expect(pd.map((b) => b.event_action)).toEqual(['trigger', 'resolve']);
    expect(pd[0]?.dedup_key).toBe(pd[1]?.dedup_key);
    expect(pd[0]?.routing_key).toBe('routing-key-123');

    const history = await evaluator.history(10, 0, rule.id);
    expect(history.items.map((e) => e.kind).reverse()).toEqual(['pending', 'fire', 'resolve']);
    expect(history.items.find((e) => e.kind === 'fire')?.delivered.sort()).toEqual([
      'log',
      'pagerduty',
      'slack',
    ]);
  });

  it('a failing channel is recorded and does not stop the others', async () => {
    const failing: AlertRule = { ...rule, id: `${rule.id}-b`, forSeconds: 0 };
    const evaluator = createAlertEvaluator(env.deps, {
      rules: [failing],
      sources: { 'test.error_rate': async () => 9 },
    });
    hook.server.close();
    await new Promise((r) => setTimeout(r, 20));
    await evaluator.evaluate();
    const [event] = (await evaluator.history(1, 0, failing.id)).items;
    expect(event?.kind).toBe('fire');
    expect(event?.severity).toBe('critical');
    expect(event?.delivered).toEqual(['log']);
    expect(event?.failed.sort()).toEqual(['pagerduty', 'slack']);
  });

  it('two evaluations at once: one runs, the other stands aside', async () => {
    const evaluator = createAlertEvaluator(env.deps, {
      rules: [{ ...rule, id: `${rule.id}-c` }],
      sources: { 'test.error_rate': () => new Promise((r) => setTimeout(() => r(0), 100)) },
    });
    const results = await Promise.all([evaluator.evaluate(), evaluator.evaluate()]);
    expect(results.filter((r) => r === null)).toHaveLength(1);
  });
});
