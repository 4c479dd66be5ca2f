// The dashboard's pure parts, with node's test runner: numbers for people and the URL state.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatChange, formatCount, formatDuration, formatPercent, parseCount } from '../../collector/dashboard/src/format.js';
import { buckets, parseFragment, resolveRange, toFragment, toggleFilter } from '../../collector/dashboard/src/state.js';
import { toCsv } from '../../collector/dashboard/src/csv.js';
import { sumByGroup } from '../../collector/dashboard/src/answers.js';

test('counts, percentages, durations and changes read like a person writes them', () => {
  assert.deepEqual([0, 950, 1234, 34567, 999999, 1.2e6, 3e9].map(formatCount), ['0', '950', '1.2k', '35k', '1M', '1.2M', '3B']);
  assert.equal(parseCount('1.2k'), 1200);
  assert.deepEqual([0.34, 0.045, 1, 0, null].map(formatPercent), ['34%', '4.5%', '100%', '0%', '–']);
  assert.deepEqual([850, 340e3, 1.8e6, 150e6, 5400e6].map(formatDuration), ['850 µs', '340 ms', '1.8 s', '2.5 min', '1.5 h']);
  assert.deepEqual(formatChange(112, 100), { text: '+12%', direction: 'up' });
  assert.deepEqual(formatChange(50, 100), { text: '−50%', direction: 'down' });
  assert.equal(formatChange(5, 0).text, 'new');
});

test('the state round-trips through the fragment, and the token never goes back into it', () => {
  const state = parseFragment('#token=tkr_abc&tool=my-cli&range=7d&tz=Europe/Berlin&compare=0&filter=os:linux&filter=name:build');
  assert.equal(state.token, 'tkr_abc');
  assert.deepEqual(state.filters, ['os:linux', 'name:build']);
  const fragment = toFragment(state);
  assert.ok(!fragment.includes('token'));
  const { token, ...withoutToken } = state;
  assert.equal(token, 'tkr_abc');
  assert.deepEqual(parseFragment(fragment), withoutToken);
  assert.deepEqual(toggleFilter(['os:linux'], 'os:linux'), []);
  assert.equal(parseFragment('#range=nonsense').range, '30d');
  assert.equal(parseFragment('#from=2026-01-01&to=2026-02-01').range, 'custom');
});

test('ranges resolve in the view\'s time zone, and buckets cover them', () => {
  const now = new Date('2026-12-02T23:30:00Z');
  assert.deepEqual(resolveRange({ range: '7d', tz: 'UTC' }, now), { from: '2026-11-26', to: '2026-12-03' });
  assert.deepEqual(resolveRange({ range: '7d', tz: 'Asia/Tokyo' }, now), { from: '2026-11-27', to: '2026-12-04' });
  assert.equal(buckets({ from: '2026-11-26', to: '2026-12-03' }, 'day').length, 7);
  assert.equal(buckets({ from: '2026-11-26', to: '2026-12-03' }, 'week')[0], '2026-11-23T00:00:00');  // a Monday
});

test('CSV quotes what needs quoting', () => {
  assert.equal(toCsv(['a', 'b'], [['x,y', 'say "hi"'], [1, null]]), 'a,b\r\n"x,y","say ""hi"""\r\n1,\r\n');
});

test('a trend by group sums to the counts by group, with no row lost or invented', () => {
  const trend = { rows: [
    { bucket: '2026-11-02T00:00:00', group: 'build', value: 3 }, { bucket: '2026-11-02T00:00:00', group: 'test', value: 1 },
    { bucket: '2026-11-03T00:00:00', group: 'build', value: 4 }, { bucket: '2026-11-04T00:00:00', group: '', value: 2 },
    { bucket: '2026-11-04T00:00:00', group: 'test', value: null }] };
  assert.deepEqual(sumByGroup(trend), [{ group: 'build', value: 7 }, { group: 'test', value: 1 }, { group: '', value: 2 }]);
  assert.deepEqual(sumByGroup({ rows: [] }), []);
});
