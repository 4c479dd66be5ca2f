// The page's whole state lives in the URL fragment, so a view can be shared (the token never
// does: it is taken out of the fragment into sessionStorage at once). Pure functions.

export const kPresets = { '7d': 7, '30d': 30, '90d': 90, '365d': 365 };
export const kDefaultPreset = '30d';

/** The state in a fragment ("#tool=x&range=7d&filter=os:linux..."); `token` only if present. */
export function parseFragment(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state = {
    tool: params.get('tool') || '',
    range: params.get('range') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    tz: params.get('tz') || '',
    compare: params.get('compare') !== '0',
    filters: params.getAll('filter').filter((f) => f.includes(':')),
  };
  if (!state.range) state.range = state.from && state.to ? 'custom' : kDefaultPreset;
  if (state.range !== 'custom' && !(state.range in kPresets)) state.range = kDefaultPreset;
  const token = params.get('token');
  return token ? { ...state, token } : state;
}

/** The fragment for a state (without the token, whatever the state holds). */
export function toFragment(state) {
  const params = new URLSearchParams();
  if (state.tool) params.set('tool', state.tool);
  params.set('range', state.range);
  if (state.range === 'custom') {
    params.set('from', state.from);
    params.set('to', state.to);
  }
  if (state.tz) params.set('tz', state.tz);
  if (!state.compare) params.set('compare', '0');
  for (const filter of state.filters) params.append('filter', filter);
  return '#' + params.toString().replace(/%3A/g, ':').replace(/%2F/g, '/');
}

/** Today's date ("YYYY-MM-DD") in time zone `tz` at `now`. */
export function todayIn(tz, now = new Date()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** `date` ("YYYY-MM-DD") plus `days`. */
export function addDays(date, days) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** Days from `from` to `to` (dates, `to` excluded). */
export function daysBetween(from, to) {
  return Math.round((Date.parse(to + 'T00:00:00Z') - Date.parse(from + 'T00:00:00Z')) / 86400e3);
}

/** The range a state asks for: {from, to} as local dates in its tz, `to` excluded. */
export function resolveRange(state, now = new Date()) {
  if (state.range === 'custom') return { from: state.from, to: state.to };
  const tomorrow = addDays(todayIn(state.tz, now), 1);
  return { from: addDays(tomorrow, -kPresets[state.range]), to: tomorrow };
}

/** The chart interval for a range: days up to 92 days, else weeks. */
export function intervalFor(range) {
  return daysBetween(range.from, range.to) > 92 ? 'week' : 'day';
}

/** The bucket starts ("YYYY-MM-DDT00:00:00") of [from, to) for a day or week interval. */
export function buckets(range, interval) {
  const out = [];
  let day = range.from;
  if (interval === 'week') {
    // ISO weeks start on Monday (PostgreSQL's date_trunc('week')).
    const weekday = (new Date(day + 'T00:00:00Z').getUTCDay() + 6) % 7;
    day = addDays(day, -weekday);
  }
  const step = interval === 'week' ? 7 : 1;
  for (; day < range.to; day = addDays(day, step)) out.push(day + 'T00:00:00');
  return out;
}

/** Adds a filter, or removes it when present (a second click undoes the first). */
export function toggleFilter(filters, filter) {
  return filters.includes(filter) ? filters.filter((f) => f !== filter) : [...filters, filter];
}
