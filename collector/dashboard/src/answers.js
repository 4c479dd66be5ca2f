// Pure helpers over /v1/query answers (docs/query.md), shared by the panels and unit-tested.

/**
 * An answer with `interval` and `by`, summed over its buckets: [{group, value}] in the order the
 * groups first appear. The same numbers as the question without `interval` (both sum the same
 * rows of the range), so a panel that shows both asks only once.
 */
export function sumByGroup(answer) {
  const sums = new Map();
  for (const row of answer.rows) sums.set(row.group, (sums.get(row.group) ?? 0) + (row.value ?? 0));
  return [...sums].map(([group, value]) => ({ group, value }));
}
