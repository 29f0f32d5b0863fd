import { z } from 'zod';

// Text limits shared by every schema: generous for people, small enough that nobody can store megabytes in a
// name field. Control characters are refused; HTML and SQL are stored as the literal text they are.
const noControlChars = (s: string) =>
  ![...s].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
  });

export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(max, `must be at most ${max} characters`)
    .refine(noControlChars, 'must not contain control characters');

export const uuid = z.uuid();
export const email = z
  .email('must be a valid email address')
  .max(254)
  .transform((e) => e.toLowerCase());
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

/** A strict list input with `limit` and the fields an infinite query sends, plus the list's own filters. */
export function infiniteListInput<T extends z.ZodRawShape>(filters: T, defaultLimit = 25) {
  return z
    .object({ ...filters, limit: z.number().int().min(1).max(100).default(defaultLimit), ...infinitePage })
    .strict();
}
