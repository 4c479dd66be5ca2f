// Numbers for people: 1.2k, 34%, 1.8 s. Pure functions (tests/browser/format.test.mjs).

/** A count: 950, 1.2k, 34k, 1.2M. */
export function formatCount(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const abs = Math.abs(value);
  const units = [[1e9, 'B'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, unit] of units) {
    if (abs >= size * 0.9995) {
      const scaled = value / size;
      return (Math.abs(scaled) < 10 ? trim(scaled.toFixed(1)) : Math.round(scaled).toString()) + unit;
    }
  }
  return Math.round(value).toString();
}

/** A fraction 0..1 as a percentage: 34%, 4.5%, 0.3%, 100%. */
export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return '–';
  const percent = fraction * 100;
  if (percent !== 0 && Math.abs(percent) < 10 && Math.round(percent) !== percent) return trim(percent.toFixed(1)) + '%';
  return Math.round(percent) + '%';
}

/** A duration in microseconds: 850 µs, 340 ms, 1.8 s, 2.5 min, 1.5 h. */
export function formatDuration(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return '–';
  if (us < 1000) return Math.round(us) + ' µs';
  if (us < 1e6) return threeDigits(us / 1000) + ' ms';
  if (us < 60e6) return threeDigits(us / 1e6) + ' s';
  if (us < 3600e6) return trim((us / 60e6).toFixed(1)) + ' min';
  return trim((us / 3600e6).toFixed(1)) + ' h';
}

/** The change from `previous` to `current`: {text: '+12%', direction: 'up'|'down'|'flat'}. */
export function formatChange(current, previous) {
  if (current === null || current === undefined || previous === null || previous === undefined) {
    return { text: 'no earlier data', direction: 'flat' };
  }
  if (previous === 0) return current === 0 ? { text: '±0%', direction: 'flat' } : { text: 'new', direction: 'up' };
  const change = (current - previous) / Math.abs(previous);
  if (Math.abs(change) < 0.0005) return { text: '±0%', direction: 'flat' };
  return { text: (change > 0 ? '+' : '−') + formatPercent(Math.abs(change)), direction: change > 0 ? 'up' : 'down' };
}

/** The value a shown text stands for ("1.2k" -> 1200), for checks. */
export function parseCount(text) {
  const match = /^(-?[\d.]+)([kMB]?)$/.exec(text.trim());
  if (!match) return NaN;
  return parseFloat(match[1]) * ({ '': 1, k: 1e3, M: 1e6, B: 1e9 })[match[2]];
}

function threeDigits(value) {
  return value < 10 ? trim(value.toFixed(2)) : value < 100 ? trim(value.toFixed(1)) : Math.round(value).toString();
}

function trim(text) {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
