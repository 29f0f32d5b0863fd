import { describe, expect, it } from 'vitest';
import { scrub, scrubString } from './scrub.ts';

describe('scrub', () => {
  it('filters values under sensitive keys at any depth', () => {
    const out = scrub({
      request: {
        headers: { Authorization: 'Bearer abc.def.ghi', cookie: 'keel_session=xyz', accept: 'json' },
      },
      extra: { user: { password: 'hunter2', name: 'Ann' }, stripeSecret: 'sk_live_x', apiKey: 42 },
    });
    expect(out.request.headers).toEqual({
      Authorization: '[Filtered]',
      cookie: '[Filtered]',
      accept: 'json',
    });
    expect(out.extra.user).toEqual({ password: '[Filtered]', name: 'Ann' });
    expect(out.extra.stripeSecret).toBe('[Filtered]');
    expect(out.extra.apiKey).toBe('[Filtered]');
  });

  it('removes credentials and card numbers inside messages', () => {
    const msg = scrubString(
      'failed for keel_AbCdEfGhIjKlMnOpQrStUvWxYz012345 with sk_test_51Hxyzabcdef card 4242 4242 4242 4242 ' +
        'url postgres://keel:s3cret@db:5432/keel order 1234567890123',
    );
    expect(msg).not.toMatch(/keel_AbCd|sk_test_51|4242 4242|s3cret/);
    expect(msg).toContain('postgres://keel:[Filtered]@db');
    expect(msg).toContain('order 1234567890123'); // not a valid card number: kept
  });

  it('removes the credentials of links: reset and invitation tokens, signed URLs, session cookies', () => {
    const msg = scrubString(
      'sent http://localhost:3000/reset-password?token=Zm9vYmFyYmF6cXV4 and ' +
        '/files/ZXhwb3J0cw?expires=1767225600&name=a.csv&signature=c2lnbmF0dXJl then ' +
        'https://b.s3.test/k?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=0f1e2d3c&X-Amz-Security-Token=dG9r ' +
        'with cookie keel_session=c2Vzc2lvbg.c2ln; path=/',
    );
    for (const leaked of ['Zm9vYmFy', 'c2lnbmF0dXJl', 'AKIAEXAMPLE', '0f1e2d3c', 'dG9r', 'c2Vzc2lvbg'])
      expect(msg).not.toContain(leaked);
    expect(msg).toContain('expires=1767225600&name=a.csv'); // not credentials: kept
  });
});
