// Charts over time with uPlot (canvas: fast with many points, ~20 KiB gzip), and the small
// HTML/SVG pieces (bars, sparklines) that need no library.
import uPlot from 'uplot';

export const kPalette = ['#2f6fdb', '#e8793a', '#2a9d6f', '#c2417f', '#8a63d2', '#c9a227', '#3aa6b9', '#8c8c8c'];

/** Builds an element: h('div', {class: 'x', onclick: f}, child, 'text'...). */
export function h(tag, props = {}, ...children) {
  const svg = ['svg', 'polyline', 'line'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Unix seconds of a bucket ("YYYY-MM-DDTHH:MM:SS", wall time in the view's zone): shown as is. */
export function bucketSeconds(bucket) {
  return Date.parse(bucket + 'Z') / 1000;
}

/**
 * A time chart in `container`: `x` bucket starts, `series` [{label, values, color}]. Stacked
 * series are drawn as cumulative areas (the largest first), so each band is one series' share.
 */
export function timeChart(container, { x, series, stacked = false, format = String, height = 220 }) {
  const drawn = stacked ? cumulative(series) : series;
  const grid = { stroke: cssVar('--grid'), width: 1 };
  const axisStroke = cssVar('--muted');
  const options = {
    width: Math.max(280, container.clientWidth || 600),
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
    axes: [
      { stroke: axisStroke, grid, ticks: grid },
      { stroke: axisStroke, grid, ticks: grid, size: 56, values: (u, values) => values.map(format) },
    ],
    series: [{}, ...drawn.map((s) => ({
      label: s.label,
      stroke: s.color,
      width: 1.5,
      fill: stacked ? s.color + 'cc' : s.color + '1a',
      points: { show: false },
    }))],
  };
  const chart = new uPlot(options, [x, ...drawn.map((s) => s.values)], container);
  const observer = new ResizeObserver(() => chart.setSize({ width: Math.max(280, container.clientWidth), height }));
  observer.observe(container);
  return chart;
}

/** Series whose values are running totals, largest first (drawn first, so the rest lie on top). */
function cumulative(series) {
  const out = [];
  let running = series[0] ? series[0].values.map(() => 0) : [];
  for (const s of series) {
    running = running.map((total, i) => total + (s.values[i] || 0));
    out.push({ ...s, values: running });
  }
  return out.reverse();
}

/** A legend of series: each entry a button (e.g. to filter on its value). */
export function legend(series, onPick) {
  return h('div', { class: 'legend' }, series.map((s) =>
    h('button', { type: 'button', class: 'chip', title: s.title || `Filter on ${s.label}`, onclick: () => onPick(s) },
      swatch(s.color), s.label)));
}

export function swatch(color) {
  const el = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  el.style.background = color;  // CSSOM, allowed under the page's CSP
  return el;
}

/** A horizontal bar of `fraction` (0..1). */
export function bar(fraction, className = 'bar') {
  const fill = h('span', { class: 'bar-fill' });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return h('span', { class: className, 'aria-hidden': 'true' }, fill);
}

/** A sparkline of `values` as inline SVG. */
export function sparkline(values) {
  const width = 96;
  const height = 22;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`);
  return h('svg', { class: 'spark', viewBox: `0 0 ${width} ${height}`, width, height, 'aria-hidden': 'true' },
    h('polyline', { points: points.join(' '), fill: 'none', 'stroke-width': '1.5' }));
}
