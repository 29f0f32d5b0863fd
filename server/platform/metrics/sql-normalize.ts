/**
 * A statement's shape without its values, so slow queries group by what they are and never store data:
 * string and number literals, placeholders and IN-lists collapse to `?`.
 */
export function normalizeSql(sql: string): string {
  return sql
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\d+/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\(\s*\?(?:\s*,\s*\?)*\s*\)/g, '(?)')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 1000);
}

export function statementKind(sql: string): string {
  const word = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? 'other';
  return ['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback', 'set'].includes(word)
    ? word
    : 'other';
}
