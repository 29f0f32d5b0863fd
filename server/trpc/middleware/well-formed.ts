import { AppError } from '../../../shared/errors.ts';
import { isWellFormed, NOT_WELL_FORMED } from '../../../shared/schemas/common.ts';
import { middleware } from '../init.ts';

/**
 * Keys no input has a use for, which superjson refuses to write back (a stored `{"constructor": …}` would make
 * every response that carries it a 500) and which are the usual prototype-pollution vectors.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** A hostile input can hold thousands of bad strings: the first few say enough. */
const MAX_PROBLEMS = 20;

const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

/**
 * What is wrong with an input before any schema reads it: strings (values and keys) that are not well-formed
 * UTF-16, and reserved keys. Walked with an explicit stack: a deeply nested body must not overflow the call stack.
 */
export function inputProblems(input: unknown): Record<string, string[]> | null {
  const problems = new Map<string, string[]>();
  let count = 0;
  const add = (path: string, message: string) => {
    count += 1;
    const at = path || '_';
    const list = problems.get(at);
    if (list) list.push(message);
    else problems.set(at, [message]);
  };
  const stack: [unknown, string][] = [[input, '']];
  while (stack.length && count < MAX_PROBLEMS) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (!isWellFormed(value)) add(path, NOT_WELL_FORMED);
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push([value[i], join(path, i)]);
    } else if (value instanceof Set) {
      let i = 0;
      for (const v of value) stack.push([v, join(path, i++)]);
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        if (typeof k === 'string' && !isWellFormed(k)) add(path, `has a key that is not well-formed text`);
        else stack.push([v, join(path, String(k))]);
      }
    } else if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      for (const [k, v] of Object.entries(value)) {
        if (!isWellFormed(k)) add(path, 'has a key that is not well-formed text');
        else if (RESERVED_KEYS.has(k)) add(path, `"${k}" is not an accepted field`);
        else stack.push([v, join(path, k)]);
      }
    }
  }
  return problems.size ? Object.fromEntries(problems) : null;
}

/** Refuses, for every procedure, input that no schema should have to think about (see `inputProblems`). */
export const wellFormedInput = middleware(async ({ getRawInput, next }) => {
  const fieldErrors = inputProblems(await getRawInput());
  if (fieldErrors) throw new AppError('VALIDATION_FAILED', 'Invalid input', { fieldErrors });
  return next();
});
