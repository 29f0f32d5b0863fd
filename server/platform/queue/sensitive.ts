import type { AnyJobDefinition } from './definition.ts';

// Payload fields a job definition declares `sensitive` (ADR 0026): the job needs them, nobody looking at the queue
// does. They are replaced in everything written about a job — index records, ops answers, log lines, error texts —
// while the queue's own record (and failed_jobs, for a retry) keep the value.

export const REDACTED = '[redacted]';

/** Values shorter than this are not searched for in free text: "1" or "no" would redact half of any message. */
const MIN_TEXT_VALUE = 4;

type Sensitive = Pick<AnyJobDefinition, 'sensitive'> | undefined;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a dotted path of a payload, or undefined. */
function at(payload: unknown, path: readonly string[]): unknown {
  let v = payload;
  for (const part of path) v = isRecord(v) ? v[part] : undefined;
  return v;
}

/** A copy of `obj` with the value at `path` replaced, copying only the objects on the way. */
function replaced(obj: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || obj[head] === undefined || obj[head] === null) return obj;
  const inner = obj[head];
  if (!rest.length) return { ...obj, [head]: REDACTED };
  return isRecord(inner) ? { ...obj, [head]: replaced(inner, rest) } : obj;
}

/** The payload with every declared sensitive field replaced (the payload itself is left as it was). */
export function redactPayload(def: Sensitive, payload: unknown): unknown {
  const fields = def?.sensitive;
  if (!fields?.length || !isRecord(payload)) return payload;
  let out = payload;
  for (const f of fields) out = replaced(out, f.split('.'));
  return out;
}

/** The sensitive values of one payload as text, longest first (so a value containing another goes whole). */
export function sensitiveValues(def: Sensitive, payload: unknown): string[] {
  const fields = def?.sensitive;
  if (!fields?.length) return [];
  const values: string[] = [];
  for (const f of fields) {
    const v = at(payload, f.split('.'));
    if (v === undefined || v === null) continue;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    if (text.length >= MIN_TEXT_VALUE) values.push(text);
  }
  return values.sort((a, b) => b.length - a.length);
}

export function redactText(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) out = out.replaceAll(v, REDACTED);
  return out;
}

/**
 * An error a handler threw often quotes its input ("no account for alice@example.com"): the sensitive values are
 * replaced in its message and stack in place, before the error is logged, indexed or stored.
 */
export function redactError(err: Error, values: readonly string[]): Error {
  if (!values.length) return err;
  err.message = redactText(err.message, values);
  if (err.stack) err.stack = redactText(err.stack, values);
  return err;
}

/** Strings anywhere in a log call's arguments with the sensitive values replaced; errors redacted in place. */
function redactDeep(value: unknown, values: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return redactText(value, values);
  if (value instanceof Error) return redactError(value, values);
  if (depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, values, depth + 1));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, values, depth + 1);
  return out;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/**
 * A handler's logger (`ctx.logger`) that replaces the job's sensitive values in every line it writes, message and
 * fields alike: a handler that logs its payload, or an address it failed to reach, does not put them in the logs.
 */
export function redactingLogger<L extends object>(logger: L, values: readonly string[]): L {
  if (!values.length) return logger;
  return new Proxy(logger, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !LEVELS.has(prop) || typeof v !== 'function') return v;
      return (...args: unknown[]) =>
        v.apply(
          target,
          args.map((a) => redactDeep(a, values)),
        );
    },
  });
}
