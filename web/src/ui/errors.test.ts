import { describe, expect, it } from 'vitest';
import { formErrorOf } from './Field.tsx';
import { appCodeOf, isRetryable, isSignedOut, messageOf } from './errors.ts';

/** What a TRPCClientError carries after the server's errorFormatter. */
function serverError(message: string, data: Record<string, unknown>) {
  return Object.assign(new Error(message), { data });
}

describe('reading server errors', () => {
  const wrongPassword = serverError('Email or password is incorrect', {
    appCode: 'INVALID_CREDENTIALS',
    httpStatus: 401,
  });
  const badEmail = serverError('Invalid input', {
    appCode: 'VALIDATION_FAILED',
    httpStatus: 400,
    fieldErrors: { email: ['must be a valid email address'], extra: ['is not an accepted field'] },
  });
  const offline = new TypeError('Failed to fetch');

  it('uses the server message, or a plain sentence when the server was never reached', () => {
    expect(messageOf(wrongPassword)).toBe('Email or password is incorrect');
    expect(messageOf(offline)).toMatch(/Cannot reach the server/);
    expect(messageOf(serverError('boom at db.ts:12', { appCode: 'INTERNAL', httpStatus: 500 }))).toMatch(
      /went wrong on our side/,
    );
  });

  it('knows which errors mean "sign in again" and which are worth retrying', () => {
    expect(isSignedOut(serverError('x', { appCode: 'SESSION_EXPIRED', httpStatus: 401 }))).toBe(true);
    expect(isSignedOut(wrongPassword)).toBe(false);
    expect(isRetryable(wrongPassword)).toBe(false);
    expect(isRetryable(serverError('x', { appCode: 'SERVICE_UNAVAILABLE', httpStatus: 503 }))).toBe(true);
    expect(isRetryable(offline)).toBe(true);
    expect(appCodeOf(offline)).toBeNull();
  });

  it('puts field errors beside inputs and only the rest at the top of the form', () => {
    expect(formErrorOf(null, ['email'])).toBeNull();
    expect(formErrorOf(wrongPassword, ['email', 'password'])).toBe('Email or password is incorrect');
    expect(formErrorOf(badEmail, ['email', 'password'])).toBe('extra: is not an accepted field');
    expect(formErrorOf(badEmail, ['email', 'extra'])).toBeNull();
  });
});
