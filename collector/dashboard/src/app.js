// The dashboard: sign-in, controls, and the panels of one tool. Everything it shows comes from
// this collector's read API (/v1/tools, /v1/query, /v1/cohorts); the state is in the fragment.
import { ApiError, getJson, get, queryString, session } from './api.js';
import { saveBlob } from './csv.js';
import { kPresets, parseFragment, toFragment, resolveRange, intervalFor, buckets, addDays, toggleFilter } from './state.js';
import { renderPanels } from './panels.js';
import { h } from './charts.js';

const $ = (selector) => document.querySelector(selector);
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
// The zone of a view that names none: UTC, as /v1/query's default. The daily rollups count UTC
// days, so a UTC view is answered from them; a local zone is answered from the hourly rollups,
// 1.4-2.7 s per question at 10 M events instead of 33-140 ms (docs/dashboard.md). The browser's
// zone is one choice away (first in the list).
const kDefaultZone = 'UTC';

let state = null;
let tools = null;  // the token's tools, once /v1/tools has answered
let generation = 0;

function showError(message) {
  const box = $('#error');
  box.textContent = message;
  box.hidden = !message;
}

function showSignIn(message) {
  $('#signin').hidden = false;
  $('#dashboard').hidden = true;
  $('#picker').hidden = true;
  $('#signout').hidden = true;
  showError(message || '');
  $('#token').focus();
}

/** Whether the browser knows the time zone (the collector is asked only with one it does). */
function knownZone(tz) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Writes `next` into the fragment; the hashchange listener renders it. */
function navigate(next) {
  const fragment = toFragment(next);
  if (location.hash !== fragment) location.hash = fragment;
  else render();
}

function readState() {
  const parsed = parseFragment(location.hash);
  if (parsed.token) {
    // Out of the URL at once: the token must not be shared with the view, nor stay in history.
    session.setToken(parsed.token);
    delete parsed.token;
    history.replaceState(null, '', location.pathname + toFragment({ ...parsed, tz: parsed.tz || kDefaultZone }));
  }
  if (!parsed.tz) parsed.tz = kDefaultZone;
  return parsed;
}

async function start() {
  state = readState();
  if (!session.token()) return showSignIn();
  $('#signout').hidden = false;
  const toolsRequest = getJson('/v1/tools');
  // Most visits name their tool: its panels start at once instead of after /v1/tools (which
  // only decides between them, the picker, and a message).
  const optimistic = Boolean(state.tool);
  if (optimistic) {
    $('#signin').hidden = true;
    showDashboard();
  }
  try {
    tools = (await toolsRequest).tools;
  } catch (error) {
    ++generation;  // whatever the panels were doing is dropped
    if (error instanceof ApiError && error.status === 401) session.signOut();
    return showSignIn(error.message);
  }
  $('#signin').hidden = true;
  fillToolPicker();
  if (!state.tool && tools.length === 1) return navigate({ ...state, tool: tools[0] });
  if (!optimistic || !tools.includes(state.tool)) render();
}

function fillToolPicker() {
  const select = $('#tool');
  select.replaceChildren(...tools.map((tool) => h('option', { value: tool }, tool)));
  $('#tool-field').hidden = tools.length < 2;
  $('#picker-list').replaceChildren(...tools.map((tool) =>
    h('li', {}, h('button', { type: 'button', class: 'pick', onclick: () => navigate({ ...state, tool }) }, tool))));
}

function render() {
  state = readState();
  if (!session.token()) return showSignIn();
  if (!state.tool) {
    $('#dashboard').hidden = true;
    $('#picker').hidden = false;
    showError('');
    return;
  }
  $('#picker').hidden = true;
  if (tools && !tools.includes(state.tool)) {
    ++generation;
    $('#dashboard').hidden = true;
    return showError(`This read token cannot read the tool “${state.tool}”. It reads: ${tools.join(', ')}.`);
  }
  showDashboard();
}

/** Shows the current state's panels (the tool is known to be readable, or assumed to be). */
function showDashboard() {
  showError('');
  $('#dashboard').hidden = false;
  if (!knownZone(state.tz)) {
    ++generation;
    $('#tz').value = state.tz;  // left visible, to be corrected
    return showError(`Unknown time zone “${state.tz}”: use an IANA name such as Europe/Berlin or UTC.`);
  }
  syncControls();
  const range = resolveRange(state);
  if (!(range.from < range.to)) return showError('The range must start before it ends.');
  const context = {
    state,
    range,
    interval: intervalFor(range),
    base: { tool: state.tool, from: range.from, to: range.to, tz: state.tz, filter: state.filters },
    filter: (filter) => navigate({ ...state, filters: toggleFilter(state.filters, filter) }),
    isCurrent: ((mine) => () => mine === generation)(++generation),
  };
  context.buckets = buckets(range, context.interval);
  renderPanels(context);
}

function syncControls() {
  $('#tool').value = state.tool;
  $('#range').value = state.range;
  const range = resolveRange(state);
  $('#from').value = range.from;
  $('#to').value = addDays(range.to, -1);  // shown inclusive
  $('#custom').hidden = state.range !== 'custom';
  $('#compare').checked = state.compare;
  $('#tz').value = state.tz;
  $('#filters').replaceChildren(...state.filters.map((filter) =>
    h('button', { type: 'button', class: 'chip filter', title: 'Remove this filter',
                  onclick: () => navigate({ ...state, filters: toggleFilter(state.filters, filter) }) },
      filter.replace(':', ' = '), h('span', { 'aria-hidden': 'true' }, ' ×'))));
  $('#filters-row').hidden = state.filters.length === 0;
  $('#subtitle').textContent = `${range.from} to ${addDays(range.to, -1)} (${state.tz})`;
}

function wireControls() {
  $('#signin').addEventListener('submit', (event) => {
    event.preventDefault();
    session.setToken($('#token').value);
    $('#token').value = '';
    const tool = $('#signin-tool').value.trim();
    if (tool) history.replaceState(null, '', location.pathname + toFragment({ ...parseFragment(location.hash), tool }));
    start();
  });
  $('#signout').addEventListener('click', () => {
    session.signOut();
    showSignIn('Signed out. The token was kept only in this tab.');
  });
  $('#tool').addEventListener('change', (e) => navigate({ ...state, tool: e.target.value, filters: [] }));
  $('#range').addEventListener('change', (e) => {
    const range = resolveRange(state);
    navigate({ ...state, range: e.target.value, from: range.from, to: range.to });
  });
  const custom = () => {
    const from = $('#from').value;
    const last = $('#to').value;
    if (from && last && from <= last) navigate({ ...state, range: 'custom', from, to: addDays(last, 1) });
  };
  $('#from').addEventListener('change', custom);
  $('#to').addEventListener('change', custom);
  $('#compare').addEventListener('change', (e) => navigate({ ...state, compare: e.target.checked }));
  $('#tz').addEventListener('change', (e) => {
    if (e.target.value.trim()) navigate({ ...state, tz: e.target.value.trim() });
  });
  $('#range').replaceChildren(...Object.keys(kPresets).map((key) =>
    h('option', { value: key }, `Last ${kPresets[key]} days`)), h('option', { value: 'custom' }, 'Custom range'));
  $('#export').addEventListener('click', exportAll);
  window.addEventListener('hashchange', render);
}

/** The zone list (~430 options): filled after start() has sent the panels' requests. */
function fillZoneList() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [];
  $('#tz-list').replaceChildren(...[...new Set([browserZone, 'UTC', ...zones])].map((zone) => h('option', { value: zone })));
}

/** The full export (GET /v1/export, docs/query.md), with the token: a plain link could not send it. */
async function exportAll() {
  const range = resolveRange(state);
  const button = $('#export');
  button.disabled = true;
  const status = $('#export-status');
  status.textContent = 'Exporting…';
  try {
    const response = await get('/v1/export?' + queryString({ tool: state.tool, from: range.from, to: range.to, format: 'csv' }));
    saveBlob(await response.blob(), `${state.tool}-${range.from}-${range.to}.csv`);
    status.textContent = '';
  } catch (error) {
    status.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

wireControls();
start();  // sends every panel's requests before its first await
fillZoneList();
