import { z } from 'zod';

// Text limits shared by every schema: generous for people, small enough that nobody can store megabytes in a
// name field. Control characters are refused; HTML and SQL are stored as the literal text they are.
const noControlChars = (s: string) =>
  ![...s].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
  });

/**
 * A lone UTF-16 surrogate is not text: PostgreSQL refuses it in text and jsonb columns (a 500 after the input was
 * accepted), and no encoder can write it out. Every string of every input is checked by the `wellFormedInput`
 * middleware (server/trpc); schemas use `isWellFormed` for their own refinements.
 */
export const isWellFormed = (s: string) => s.isWellFormed();
export const NOT_WELL_FORMED = 'must be well-formed text (no lone UTF-16 surrogates)';

export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(max, `must be at most ${max} characters`)
    .refine(noControlChars, 'must not contain control characters')
    .refine(isWellFormed, NOT_WELL_FORMED);

/**
 * Dates a person or a filter can mean. JavaScript dates reach ±275,760 years, which PostgreSQL and ISO-8601 text
 * with four-digit years cannot carry: such a date would be accepted here and fail in the database (or in a job,
 * on every retry).
 */
const MIN_DATE = new Date('1900-01-01T00:00:00.000Z');
const MAX_DATE = new Date('9999-12-31T23:59:59.999Z');
export const dateInRange = () =>
  z.coerce
    .date('must be a date')
    .min(MIN_DATE, 'must be in the year 1900 or later')
    .max(MAX_DATE, 'must be in the year 9999 or earlier');

export const uuid = z.uuid();
export const email = z
  .email('must be a valid email address')
  .max(254)
  .transform((e) => e.toLowerCase());
/** The secret of an emailed link (32 random bytes, base64url): invitations, password resets, registrations. */
export const linkToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'is not a valid link token');
export const password = z
  .string()
  .min(10, 'must be at least 10 characters')
  .max(256, 'must be at most 256 characters');

export const pagination = z
  .object({
    limit: z.number().int().min(1).max(100).default(25),
    cursor: z.string().max(200).nullish(),
  })
  .strict();

/**
 * The paging fields of every list an infinite query reads. `useInfiniteQuery` through @trpc/tanstack-react-query
 * adds `cursor` (the page param) and `direction` to the input it sends, so a `.strict()` list input without them
 * refuses every request the SPA makes. Lists page forward only: a backward request is refused with a field
 * error instead of being answered with the wrong page.
 */
export const infinitePage = {
  cursor: z.string().max(200).nullish(),
  direction: z.enum(['forward'], 'only forward paging is supported').optional(),
};
