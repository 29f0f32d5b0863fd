import { describe, expect, it } from 'vitest';
import { safeNext } from './next.ts';

const origin = 'https://app.keel.test';

describe('safeNext', () => {
  it('keeps a path on this site, with its query and fragment', () => {
    expect(safeNext('/ops?q=acme&page=2#list', origin)).toBe('/ops?q=acme&page=2#list');
    expect(safeNext('/app', origin)).toBe('/app');
  });

  it('refuses nothing, relative paths and absolute URLs', () => {
    expect(safeNext(null, origin)).toBeNull();
    expect(safeNext('', origin)).toBeNull();
    expect(safeNext('app', origin)).toBeNull();
    expect(safeNext('https://evil.test/app', origin)).toBeNull();
    expect(safeNext('javascript:alert(1)', origin)).toBeNull();
  });

  it('refuses the spellings browsers read as another host', () => {
    expect(safeNext('//evil.test/app', origin)).toBeNull();
    expect(safeNext('/\\evil.test/app', origin)).toBeNull();
    expect(safeNext('/\t/evil.test', origin)).toBeNull();
    expect(safeNext('/\n/evil.test', origin)).toBeNull();
  });

  it('normalises dot segments instead of letting them escape', () => {
    expect(safeNext('/app/../ops', origin)).toBe('/ops');
    expect(safeNext('/../../etc/passwd', origin)).toBe('/etc/passwd');
  });
});
