// What e2e/ops-seed.ts puts in the end-to-end server for the operations console, shared with its spec.

/** A job that fails on its first run and succeeds when retried (a transient upstream outage, in miniature). */
export const FLAKY_JOB = 'e2e.sync-invoice';
/** Invoices whose sync jobs fail at start-up: one retried alone, two retried together. */
export const FLAKY_INVOICES = [1001, 1002, 1003] as const;
/** Synthetic old failures, so the failed list is long enough to show that paging holds up. */
export const ARCHIVED_FAILURES = 10_000;
export const ARCHIVED_JOB = 'e2e.archive-export';
export const BATCH_NAME = 'Monthly statements';
export const STRIPE_EVENTS = 30;
export const ACME_PRICE = 'price_e2e_professional';
