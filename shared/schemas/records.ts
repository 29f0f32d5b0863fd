export const RECORD_STATUSES = ['pending', 'active', 'completed', 'cancelled'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

/** The CSV columns of an export, in order; an import reads the same header (ID and User are ignored there). */
export const RECORD_CSV_COLUMNS = [
  'ID',
  'User',
  'Email',
  'Category',
  'Status',
  'Amount',
  'Created At',
] as const;

/** Amounts are decimals with at most two places, up to 12 digits before the point (numeric(14,2)). */
export const AMOUNT_PATTERN = /^-?\d{1,12}(\.\d{1,2})?$/;
