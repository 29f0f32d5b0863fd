// What never leaves Keel in an error report: values under sensitive keys, credentials and card numbers inside
// strings. Applied to every Sentry event before it is sent.

const SENSITIVE_KEY =
  /pass(word|wd)?|secret|token|authori[sz]ation|cookie|session|api[-_]?key|card|cvc|cvv|iban|signature|dsn/i;
const FILTERED = '[Filtered]';

const CREDENTIALS = [
  /keel_[A-Za-z0-9_-]{20,}/g,
  /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9]{8,}/g,
  /whsec_[A-Za-z0-9]{8,}/g,
  /Bearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
];
const URL_PASSWORD = /(\/\/[^:/\s]+:)[^@/\s]+@/g;
// `name=value` / `name: value` pairs whose name ends in a credential's: query strings of reset and invitation links
// (`token=`), signed file URLs (`signature=`, S3's `X-Amz-Signature=` and `X-Amz-Credential=`), cookies
// (`keel_session=`), connection options.
const KEY_VALUE =
  /\b([\w-]*?(?:pass(?:word|wd)?|secret|token|api[-_]?key|signature|credential|session(?:[-_]?id)?))(\s*[=:]\s*)[^\s&,;"']+/gi;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function scrubString(s: string): string {
  let out = s.replace(URL_PASSWORD, `$1${FILTERED}@`).replace(KEY_VALUE, `$1$2${FILTERED}`);
  for (const re of CREDENTIALS) out = out.replace(re, FILTERED);
  // 13-19 digit runs (spaces or dashes allowed) that pass the Luhn check are card numbers.
  out = out.replace(/\b(?:\d[ -]?){12,18}\d\b/g, (m) => (luhn(m.replace(/[ -]/g, '')) ? FILTERED : m));
  return out;
}

export function scrub<T>(value: T, depth = 0): T {
  if (depth > 12) return value;
  if (typeof value === 'string') return scrubString(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] =
        SENSITIVE_KEY.test(k) && (typeof v === 'string' || typeof v === 'number')
          ? FILTERED
          : scrub(v, depth + 1);
    }
    return out as T;
  }
  return value;
}
