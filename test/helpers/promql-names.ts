/**
 * The metric names a PromQL expression selects. Written here because no PromQL parser is among
 * the project's packages (the official lezer grammar would be a new dependency) and Prometheus
 * 2.42's API has no parse endpoint. It needs only to find names, not to check syntax: the
 * expressions also go through promtool, which does. It drops what cannot be a metric name —
 * strings, label matchers, ranges, grouping label lists, function and aggregation names,
 * keywords and numbers — and keeps the identifiers left.
 */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  const token = /(\d[\w.]*)|([A-Za-z_:][\w:]*)(\s*\()?|./gs;
  for (const m of text.matchAll(token)) {
    const [, , identifier, call] = m;
    if (!identifier || call || KEYWORDS.has(identifier.toLowerCase())) continue;
    names.add(identifier);
  }
  return [...names];
}

/**
 * The sample names an exposition offers: each family's name from its TYPE line, and for
 * histograms and summaries the _bucket, _sum and _count series they are queried by.
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
