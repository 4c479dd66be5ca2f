// The panels. Each asks /v1/query (or /v1/cohorts) what it needs, all at once, and renders when
// its answers are in; each keeps the rows it shows for its "Download CSV". No question is asked
// twice: a total that another answer already holds is summed from it (docs/dashboard.md#speed).
import { getJson, queryString } from './api.js';
import { saveCsv } from './csv.js';
import { formatChange, formatCount, formatDuration, formatPercent } from './format.js';
import { addDays, daysBetween } from './state.js';
import { sumByGroup } from './answers.js';
import { bar, bucketSeconds, h, kPalette, legend, sparkline, swatch, timeChart } from './charts.js';

const kCommand = '1';  // EventKind (proto/telemetry_kit/v1/event.proto), as /v1/query spells it
const kFeature = '2';

/** Starts every panel; returns when all have rendered (or shown their error). */
export function renderPanels(ctx) {
  // Named by key (a minifier renames functions), as the page's data-panel attributes. Started
  // slowest first: Chromium sends 6 requests at a time to one host and queues the rest in order,
  // so the longest questions (p95 and trends by command, cohorts) must not wait behind quick ones.
  const panels = { commands, installs, overview, versions, features, platforms, failures, ci };
  return Promise.all(Object.entries(panels).map(([name, panel]) => run(name, panel, ctx)));
}

async function run(name, panel, shared) {
  const section = document.querySelector(`[data-panel="${name}"]`);
  const body = section.querySelector('.body');
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  const started = performance.now();
  const ctx = { ...shared, requests: [] };  // the panel's own API paths, named in its mark
  try {
    const view = await panel(ctx);
    if (!ctx.isCurrent()) return;
    body.replaceChildren();
    view.render(body);
    section.querySelector('.csv').onclick = () => saveCsv(`${ctx.state.tool}-${name}-${ctx.range.from}.csv`, ...view.csv());
    section.dataset.state = 'ready';
  } catch (error) {
    if (!ctx.isCurrent()) return;
    body.replaceChildren(h('p', { class: 'panel-error', role: 'alert' }, error.message));
    section.dataset.state = 'error';
  } finally {
    if (ctx.isCurrent()) {
      section.setAttribute('aria-busy', 'false');
      section.dataset.ms = String(Math.round(performance.now() - started));
      section.dataset.renderedAt = String(Math.round(performance.now()));  // ms since navigation
      // For bench_dashboard: when this panel was drawn, and which requests it waited for.
      performance.mark(`tk-panel:${name}`, { detail: { requests: ctx.requests } });
    }
  }
}

/** GET `path` (JSON) for the panel of `ctx`, which remembers it. */
function load(ctx, path) {
  ctx.requests.push(path);
  return getJson(path);
}
/** /v1/query with exactly `params`. */
const query = (ctx, params) => load(ctx, '/v1/query?' + queryString(params));
/** /v1/query in the view: its tool, range, zone and filters, plus `params` (and their filters). */
const ask = (ctx, params) => query(ctx, { ...ctx.base, ...params, filter: [...ctx.base.filter, ...(params.filter || [])] });
const rows = (answer) => answer.rows;
const kCounts = ['events', 'installs', 'new_installs'];
const first = (answer) => (answer.rows.length ? answer.rows[0].value : kCounts.includes(answer.metric) ? 0 : null);
const label = (value) => (value === '' ? '(not said)' : value);

/** Values per bucket and group from an answer with interval and by: Map(group -> [values]). */
function byGroup(answer, bucketList) {
  const index = new Map(bucketList.map((b, i) => [b, i]));
  const groups = new Map();
  for (const row of answer.rows) {
    if (!groups.has(row.group)) groups.set(row.group, bucketList.map(() => 0));
    const i = index.get(row.bucket);
    if (i !== undefined) groups.get(row.group)[i] = row.value ?? 0;
  }
  return groups;
}

function perBucket(answer, bucketList) {
  const values = new Map(answer.rows.map((row) => [row.bucket, row.value ?? 0]));
  return bucketList.map((b) => values.get(b) ?? 0);
}

// ---- Overview: headline numbers, each against the previous period --------------------------

async function overview(ctx) {
  const compare = ctx.state.compare ? 'previous' : undefined;
  const days = daysBetween(ctx.range.from, ctx.range.to);
  const filtered = ctx.state.filters.length > 0;
  const installs = ask(ctx, { metric: 'installs', compare });
  // Installs active in the last n days of the range (UTC days, unfiltered). When that is the
  // whole range and the view is unfiltered UTC, it is the "Active installs" answer itself.
  const installsIn = (n) => (n === days && !filtered && ctx.state.tz === 'UTC' ? installs
    : query(ctx, { ...ctx.base, metric: 'installs', from: addDays(ctx.range.to, -n), filter: [], tz: 'UTC' }));
  const [events, installsAnswer, fresh, success, p50, p95, day, week, month] = await Promise.all([
    ask(ctx, { metric: 'events', compare }),
    installs,
    filtered ? null : query(ctx, { ...ctx.base, filter: [], metric: 'new_installs', compare }),
    ask(ctx, { metric: 'success_rate', compare }),
    ask(ctx, { metric: 'duration_p50', compare }),
    ask(ctx, { metric: 'duration_p95', compare }),
    installsIn(1), installsIn(Math.min(7, days)), installsIn(Math.min(30, days)),
  ]);
  const cards = [
    ['events', 'Events', events, formatCount],
    ['installs', 'Active installs', installsAnswer, formatCount],
    ['new_installs', 'New installs', fresh, formatCount],
    ['success_rate', 'Success rate', success, formatPercent],
    ['duration_p50', 'Duration p50', p50, formatDuration],
    ['duration_p95', 'Duration p95', p95, formatDuration],
  ];
  const csvRows = cards.map(([metric, , answer]) =>
    [metric, answer ? first(answer) : '', answer && answer.previous ? first(answer.previous) : '']);
  const active = [['last day', day], [`last ${Math.min(7, days)} days`, week], [`last ${Math.min(30, days)} days`, month]];
  return {
    render(body) {
      body.append(h('div', { class: 'cards' }, cards.map(([metric, title, answer, format]) => card(metric, title, answer, format))));
      body.append(h('p', { class: 'active' }, 'Active installs: ',
        active.map(([name, answer], i) => h('span', { dataset: { active: name, value: String(first(answer) ?? 0) } },
          i ? ' · ' : '', h('strong', {}, formatCount(first(answer) ?? 0)), ` ${name}`)),
        ' (not filtered; days in UTC)'));
    },
    csv: () => [['metric', 'value', 'previous_period'], csvRows],
  };
}

function card(metric, title, answer, format) {
  if (!answer) {
    return h('div', { class: 'card', dataset: { metric } }, h('div', { class: 'label' }, title),
      h('div', { class: 'value' }, '–'), h('div', { class: 'change flat' }, 'not filterable'));
  }
  const value = first(answer);
  const change = answer.previous ? formatChange(value, first(answer.previous)) : null;
  // For a duration, up is worse; for the rest, up is better.
  const good = change && (metric.startsWith('duration') ? change.direction === 'down' : change.direction === 'up');
  return h('div', { class: 'card', dataset: { metric, value: value === null ? '' : String(value) } },
    h('div', { class: 'label' }, title),
    h('div', { class: 'value', title: value === null ? 'no data' : String(value) }, format(value)),
    change && h('div', { class: `change ${change.direction} ${change.direction === 'flat' ? '' : good ? 'good' : 'bad'}` },
      change.text, h('span', { class: 'muted' }, ' vs previous period')));
}

// ---- Commands: count, share, success rate, p95 and a trend -----------------------------------

async function commands(ctx) {
  const kind = { filter: [`kind:${kCommand}`] };
  // The slowest first (see renderPanels). The counts per command are the trend's sums.
  const [p95s, trend, rates] = await Promise.all([
    // Not filtered on kind: the duration rollup has only names (a kind filter would scan raw
    // events: 2.3 s at a million events), and a name is a command or a feature, rarely both.
    ask(ctx, { metric: 'duration_p95', by: 'name' }),
    ask(ctx, { metric: 'events', by: 'name', interval: ctx.interval, ...kind }),
    ask(ctx, { metric: 'success_rate', by: 'name', ...kind }),
  ]);
  const counts = { rows: sumByGroup(trend) };
  const total = counts.rows.reduce((sum, row) => sum + row.value, 0);
  const rate = new Map(rates.rows.map((r) => [r.group, r.value]));
  const p95 = new Map(p95s.rows.map((r) => [r.group, r.value]));
  const trends = byGroup(trend, ctx.buckets);
  const table = counts.rows.slice().sort((a, b) => b.value - a.value || a.group.localeCompare(b.group)).map((row) => ({
    name: row.group, events: row.value, share: total ? row.value / total : 0,
    success: rate.get(row.group) ?? null, p95: p95.get(row.group) ?? null,
  }));
  return {
    render(body) {
      if (!table.length) return body.append(empty());
      body.append(h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, [['Command'], ['Events', 'num'], ['Share'], ['Success', 'num'], ['p95', 'num'], ['Trend']]
          .map(([t, c]) => h('th', { scope: 'col', class: c }, t)))),
        h('tbody', {}, table.slice(0, 15).map((r) => h('tr', { dataset: { command: r.name } },
          h('th', { scope: 'row' }, filterButton(ctx, 'name', r.name)),
          h('td', { class: 'num', dataset: { value: String(r.events) }, title: String(r.events) }, formatCount(r.events)),
          h('td', {}, h('div', { class: 'share' }, bar(r.share), h('span', { class: 'num' }, formatPercent(r.share)))),
          h('td', { class: 'num', dataset: { value: String(r.success ?? '') } }, formatPercent(r.success)),
          h('td', { class: 'num', dataset: { value: String(r.p95 ?? '') } }, formatDuration(r.p95)),
          h('td', {}, sparkline(trends.get(r.name) || [])))))));
      if (table.length > 15) body.append(h('p', { class: 'muted' }, `and ${table.length - 15} more (in the CSV)`));
    },
    csv: () => [['command', 'events', 'share', 'success_rate', 'duration_p95_us'],
      table.map((r) => [r.name, r.events, r.share.toFixed(4), r.success ?? '', r.p95 ?? ''])],
  };
}

function filterButton(ctx, dimension, value, text = label(value)) {
  const filter = `${dimension}:${value}`;
  const on = ctx.state.filters.includes(filter);
  return h('button', { type: 'button', class: on ? 'link on' : 'link', 'aria-pressed': on ? 'true' : 'false',
                       title: on ? `Remove the filter ${dimension} = ${label(value)}` : `Show only ${dimension} = ${label(value)}`,
                       dataset: { filter }, onclick: () => ctx.filter(filter) }, text);
}

function empty() {
  return h('p', { class: 'muted empty' }, 'No events in this range.');
}

// ---- Version adoption and feature adoption over time ----------------------------------------

/** A chart of the top `limit` groups over time, the rest summed as "other". */
function overTime(ctx, answer, dimension, { stacked, limit }) {
  const groups = byGroup(answer, ctx.buckets);
  const totals = [...groups.entries()].map(([group, values]) => [group, values.reduce((a, b) => a + b, 0)])
    .sort((a, b) => b[1] - a[1] || (dimension === 'tool_version' ? b[0].localeCompare(a[0], undefined, { numeric: true }) : a[0].localeCompare(b[0])));
  const top = totals.slice(0, limit).map(([group], i) => ({ label: label(group), group, values: groups.get(group), color: kPalette[i] }));
  const rest = totals.slice(limit);
  if (rest.length) {
    top.push({ label: `other (${rest.length})`, group: null, color: kPalette[7],
      values: ctx.buckets.map((_, i) => rest.reduce((sum, [g]) => sum + groups.get(g)[i], 0)) });
  }
  return {
    render(body) {
      if (!top.length) return body.append(empty());
      const plot = h('div', { class: 'chart' });
      body.append(plot);
      timeChart(plot, { x: ctx.buckets.map(bucketSeconds), series: top, stacked, format: formatCount });
      body.append(legend(top.map((s) => ({ ...s, title: s.group === null ? 'All other values' : undefined })),
        (s) => s.group !== null && ctx.filter(`${dimension}:${s.group}`)));
    },
    csv: () => [['bucket', dimension, 'events'], answer.rows.map((r) => [r.bucket, r.group, r.value])],
  };
}

async function versions(ctx) {
  const answer = await ask(ctx, { metric: 'events', by: 'tool_version', interval: ctx.interval });
  return overTime(ctx, answer, 'tool_version', { stacked: true, limit: 6 });
}

async function features(ctx) {
  const answer = await ask(ctx, { metric: 'events', by: 'name', interval: ctx.interval, filter: [`kind:${kFeature}`] });
  return overTime(ctx, answer, 'name', { stacked: false, limit: 6 });
}

// ---- Splits: OS, architecture, failures, CI ---------------------------------------------------

function barList(ctx, dimension, answer, { format = formatCount, limit = 8, total } = {}) {
  const sorted = answer.rows.slice().sort((a, b) => b.value - a.value);
  const sum = total ?? sorted.reduce((s, r) => s + r.value, 0);
  return h('ul', { class: 'bars', dataset: { dimension } }, sorted.slice(0, limit).map((r) =>
    h('li', { dataset: { group: r.group, value: String(r.value) } },
      filterButton(ctx, dimension, r.group), bar(sum ? r.value / sum : 0),
      h('span', { class: 'num' }, format(r.value), h('span', { class: 'muted' }, ` ${formatPercent(sum ? r.value / sum : 0)}`)))));
}

async function platforms(ctx) {
  const [os, arch] = await Promise.all([ask(ctx, { metric: 'events', by: 'os' }), ask(ctx, { metric: 'events', by: 'arch' })]);
  return {
    render(body) {
      if (!os.rows.length) return body.append(empty());
      body.append(h('div', { class: 'split' },
        h('div', {}, h('h3', {}, 'Operating system'), barList(ctx, 'os', os)),
        h('div', {}, h('h3', {}, 'Architecture'), barList(ctx, 'arch', arch))));
    },
    csv: () => [['dimension', 'value', 'events'], [...os.rows.map((r) => ['os', r.group, r.value]), ...arch.rows.map((r) => ['arch', r.group, r.value])]],
  };
}

async function failures(ctx) {
  const failed = { filter: ['success:false'] };
  const [byName, byCode] = await Promise.all([
    ask(ctx, { metric: 'events', by: 'name', ...failed }),
    ask(ctx, { metric: 'events', by: 'exit_code', ...failed }),
  ]);
  const total = byName.rows.reduce((sum, row) => sum + row.value, 0);  // every event has a name
  return {
    render(body) {
      if (!total) return body.append(h('p', { class: 'muted empty' }, 'No failures in this range.'));
      body.append(h('p', { class: 'lead', dataset: { value: String(total) } }, h('strong', {}, formatCount(total)), ' failed events'),
        h('div', { class: 'split' },
          h('div', {}, h('h3', {}, 'Top failing commands'), barList(ctx, 'name', byName, { total })),
          h('div', {}, h('h3', {}, 'Exit codes'), barList(ctx, 'exit_code', byCode, { total }),
            byCode.note ? h('p', { class: 'muted' }, byCode.note) : null)));
    },
    csv: () => [['dimension', 'value', 'failed_events'], [...byName.rows.map((r) => ['name', r.group, r.value]), ...byCode.rows.map((r) => ['exit_code', r.group, r.value])]],
  };
}

async function ci(ctx) {
  const answer = await ask(ctx, { metric: 'events', by: 'ci' });
  const total = answer.rows.reduce((s, r) => s + r.value, 0);
  const inCi = answer.rows.find((r) => r.group === 'true')?.value ?? 0;
  return {
    render(body) {
      if (!total) return body.append(empty());
      body.append(h('p', { class: 'lead', dataset: { value: String(inCi / total) } },
        h('strong', {}, formatPercent(inCi / total)), ` of events ran in CI (${formatCount(inCi)} of ${formatCount(total)})`),
        bar(inCi / total, 'bar wide'),
        h('p', {}, filterButton(ctx, 'ci', 'true', 'Only CI'), ' · ', filterButton(ctx, 'ci', 'false', 'Only outside CI')));
    },
    csv: () => [['ci', 'events'], answer.rows.map((r) => [r.group, r.value])],
  };
}

// ---- Installs: new vs returning, and retention cohorts --------------------------------------

async function installs(ctx) {
  const base = { ...ctx.base, filter: [], tz: 'UTC' };  // install rollups count UTC days, unfiltered
  const [cohorts, active, fresh] = await Promise.all([  // the slowest first (see renderPanels)
    load(ctx, '/v1/cohorts?' + queryString({ tool: ctx.state.tool, from: ctx.range.from, to: ctx.range.to,
                                            interval: ctx.interval === 'day' && daysBetween(ctx.range.from, ctx.range.to) <= 14 ? 'day' : 'week' })),
    query(ctx, { ...base, metric: 'installs', interval: ctx.interval }),
    query(ctx, { ...base, metric: 'new_installs', interval: ctx.interval }),
  ]);
  const activeValues = perBucket(active, ctx.buckets);
  const newValues = perBucket(fresh, ctx.buckets);
  const returning = activeValues.map((v, i) => Math.max(0, v - newValues[i]));
  return {
    render(body) {
      const plot = h('div', { class: 'chart' });
      body.append(h('h3', {}, 'New and returning installs', ctx.state.filters.length ? h('span', { class: 'muted' }, ' (not filtered)') : null), plot);
      timeChart(plot, { x: ctx.buckets.map(bucketSeconds), stacked: true, format: formatCount, height: 180,
        series: [{ label: 'new', values: newValues, color: kPalette[2] }, { label: 'returning', values: returning, color: kPalette[0] }] });
      body.append(h('div', { class: 'legend' }, h('span', { class: 'chip' }, swatch(kPalette[2]), 'new'),
        h('span', { class: 'chip' }, swatch(kPalette[0]), 'returning')));
      body.append(h('h3', {}, `Retention by ${cohorts.interval} of first use`), cohortGrid(cohorts));
    },
    csv: () => [['bucket', 'active_installs', 'new_installs', 'returning_installs'],
      ctx.buckets.map((b, i) => [b, activeValues[i], newValues[i], returning[i]])],
  };
}

function cohortGrid(answer) {
  if (!answer.cohorts.length) return h('p', { class: 'muted empty' }, 'No new installs in this range.');
  const periods = Math.max(...answer.cohorts.map((c) => c.active.length));
  const unit = answer.interval;
  return h('div', { class: 'scroll' }, h('table', { class: 'cohorts' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'First seen'), h('th', { scope: 'col' }, 'Installs'),
      Array.from({ length: periods }, (_, i) => h('th', { scope: 'col' }, `${unit} ${i}`)))),
    h('tbody', {}, answer.cohorts.map((c) => h('tr', {}, h('th', { scope: 'row' }, c.cohort),
      h('td', { class: 'num' }, formatCount(c.installs)),
      Array.from({ length: periods }, (_, i) => {
        if (i >= c.active.length) return h('td', {});
        const share = c.installs ? c.active[i] / c.installs : 0;
        const cell = h('td', { class: share > 0.55 ? 'num heat strong' : 'num heat', title: `${c.active[i]} of ${c.installs}` }, formatPercent(share));
        cell.style.setProperty('--heat', String(share));
        return cell;
      }))))));
}
