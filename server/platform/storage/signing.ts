import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignedOperation = 'get' | 'put';

export interface SignedParams {
  op: SignedOperation;
  key: string;
  /** Unix seconds. */
  expires: number;
  /** Download file name (get) or the most bytes accepted (put); part of the signature so neither can be edited. */
  name?: string;
  max?: number;
}

export type Verification = { ok: true } | { ok: false; reason: 'expired' | 'invalid' };

/**
 * HMAC-SHA256 over every parameter of a Keel-served file URL. The operation is signed too, so a download link
 * cannot be turned into an upload link for the same key.
 */
export class UrlSigner {
  constructor(private readonly secret: string) {
    if (secret.length < 32) throw new Error('The URL signing secret must be at least 32 characters');
  }

  sign(p: SignedParams): string {
    const canonical = [
      p.op,
      p.key,
      String(p.expires),
      p.name ?? '',
      p.max === undefined ? '' : String(p.max),
    ].join('\n');
    return createHmac('sha256', this.secret).update(canonical).digest('base64url');
  }

  verify(p: SignedParams, signature: string, nowMs = Date.now()): Verification {
    const expected = Buffer.from(this.sign(p));
    const given = Buffer.from(signature);
    // The signature is checked before the expiry, so an edited expiry reads as tampering, not as "expired".
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: 'invalid' };
    if (!Number.isSafeInteger(p.expires) || p.expires * 1000 <= nowMs)
      return { ok: false, reason: 'expired' };
    return { ok: true };
  }
}

/** Keys travel in URLs as base64url, so no path normalisation (by a proxy, Fastify or a browser) can change them. */
export const encodeKey = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
export const decodeKey = (token: string): string | null =>
  /^[A-Za-z0-9_-]{1,700}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : null;
