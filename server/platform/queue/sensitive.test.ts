import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../logger/logger.ts';
import { defineJob } from './definition.ts';
import { redactError, redactingLogger, redactPayload, sensitiveValues } from './sensitive.ts';

const def = { sensitive: ['email', 'card.number'] } as const;

describe('sensitive payload fields', () => {
  it('redacts top-level fields and dotted paths in a copy, leaving the payload and other fields as they were', () => {
    const payload = { email: 'a@b.test', card: { number: '4242', exp: '12/30' }, id: 7 };
    expect(redactPayload(def, payload)).toEqual({
      email: '[redacted]',
      card: { number: '[redacted]', exp: '12/30' },
      id: 7,
    });
    expect(payload.email).toBe('a@b.test');
    expect(redactPayload(def, { id: 1, email: null })).toEqual({ id: 1, email: null });
    expect(redactPayload(undefined, payload)).toBe(payload);
    expect(redactPayload(def, 'text')).toBe('text');
  });

  it('finds the values to replace in text, longest first, ignoring values too short to be told from words', () => {
    expect(sensitiveValues(def, { email: 'a@b.test', card: { number: '4242424242' } })).toEqual([
      '4242424242',
      'a@b.test',
    ]);
    expect(sensitiveValues(def, { email: 'ab' })).toEqual([]);
    const err = redactError(new Error('no mailbox for a@b.test'), ['a@b.test']);
    expect(err.message).toBe('no mailbox for [redacted]');
    expect(err.stack).not.toContain('a@b.test');
  });

  it('a redacting logger replaces the values in messages, fields and errors, and keeps other redaction', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = redactingLogger(createLogger({ level: 'info', pretty: false, stream }).child({ job: 'x' }), [
      'a@b.test',
    ]);
    log.info({ payload: { email: 'a@b.test' }, password: 'hunter2' }, 'mailing a@b.test');
    log.error({ err: new Error('bounced: a@b.test') }, 'failed');
    const text = lines.join('');
    expect(text).not.toContain('a@b.test');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('mailing [redacted]');
    expect(text).toContain('bounced: [redacted]');
  });

  it('defineJob refuses a sensitive entry that is not a field name or path', () => {
    const base = { name: 'x.y', payload: z.object({}), handle: () => undefined };
    expect(() => defineJob({ ...base, sensitive: ['a.b', 'email'] })).not.toThrow();
    expect(() => defineJob({ ...base, sensitive: ['a b'] })).toThrow(/sensitive/);
    expect(() => defineJob({ ...base, sensitive: ['a..b'] })).toThrow(/sensitive/);
  });
});
