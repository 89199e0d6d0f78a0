// The collector's web page: draws the product graph from the collector's JSON API, keeps it
// current, and shows one asset in a side panel (panel.js).
//
// API used (paths relative to the page, so the collector may sit under a path prefix):
//   GET api/graph                                        GraphView; polled every 2 s, with
//                                                        If-None-Match when an ETag was sent
//   GET api/assets/{key}?history_limit=&history_offset=  AssetDetail
//   GET api/assets/{key}/impact                          list of ImpactEntry
//   GET api/assets/{key}/upstream?depth=                 Neighbourhood
//   GET api/assets/{key}/downstream?depth=               Neighbourhood
//   GET api/events/{event_id}/provenance?depth=          ProvenanceNode
// A 401 asks for a token, kept in sessionStorage and sent as "Authorization: Bearer <token>".
//
// Modules: api.js (fetch, token), layout.js (layered layout), draw.js (SVG), panel.js (side
// panel), format.js (words and times), dom.js (element builders).

import { allowTokenPrompt, api, ApiError } from './api.js';
import { byId, h } from './dom.js';
import { drawGraph } from './draw.js';
import { statusLabel, STATUSES } from './format.js';
import { closePanel, initPanel, openPanel, refreshPanel } from './panel.js';

const POLL_MS = 2000;
const AGES_REFRESH_MS = 30000; // nodes say "5m ago": redraw now and then without events too
const MAX_NODES = 300; // more are not drawn without a search, a status filter or a focus
const LIST_LIMIT = 60; // assets offered as buttons when the graph is too big to draw
const MAX_DEPTH = 20;
const ZOOM_MIN = 0.2;
const ZOOM_MAX = 2.5;
const enc = encodeURIComponent;
const collator = new Intl.Collator('en', { numeric: true }); // big.l2 before big.l10

const state = {
  graph: null, // GraphView
  graphText: null, // the last answer's body, to skip redrawing when nothing changed
  etag: null,
  byKey: new Map(), // asset key -> AssetSummary
  search: '',
  onlyMatches: false,
  statusFilter: new Set(),
  focus: null, // {root, depth, nodes: Map(key -> distance, negative upstream), edges}
  selected: null,
  zoom: 1,
  drawnIds: '', // the drawn node set, to fit the zoom again when it changes
  size: { width: 0, height: 0 }, // of the drawn graph at zoom 1
  online: null,
  restored: false, // the selection and focus saved in the URL have been applied
};

// ---------------------------------------------------------------------------------------------
// Polling the graph.

let pollTimer = null;
let polling = false;

async function poll() {
  clearTimeout(pollTimer);
  if (polling) return; // the running poll schedules the next one
  polling = true;
  if (!document.hidden) {
    try {
      const result = await api('api/graph', { etag: state.etag });
      if (!result.notModified) {
        state.etag = result.etag;
        if (result.text !== state.graphText) {
          state.graphText = result.text;
          state.graph = result.data;
          state.byKey = new Map(result.data.nodes.map((n) => [n.asset, n]));
          await onGraphChanged();
        }
      }
      setLive(true);
    } catch (error) {
      setLive(false, error);
    }
  }
  polling = false;
  pollTimer = setTimeout(poll, POLL_MS);
}

async function onGraphChanged() {
  if (!state.restored) {
    state.restored = true;
    render();
    await restoreHash();
    return;
  }
  if (state.focus) await refreshFocus();
  render();
  if (state.selected) refreshPanel();
}

function setLive(ok, error) {
  const live = byId('live');
  const now = new Date().toLocaleTimeString();
  live.classList.toggle('offline', !ok);
  if (ok) {
    const n = state.graph.nodes.length;
    live.textContent = `live · ${n} asset${n === 1 ? '' : 's'} · checked ${now}`;
    hideNotice('offline');
    hideNotice('token');
  } else if (error instanceof ApiError && error.status === 401) {
    live.textContent = 'waiting for a token';
    showNotice('token', 'The collector needs an API token to answer.', h('button', {
      type: 'button',
      onclick: () => {
        allowTokenPrompt();
        hideNotice('token');
        poll();
      },
    }, 'Enter token'));
  } else {
    live.textContent = `collector unreachable · retrying (${now})`;
    showNotice('offline', `Cannot reach the collector: ${error.message}. Retrying every ${POLL_MS / 1000} s.`);
  }
  state.online = ok;
}

// ---------------------------------------------------------------------------------------------
// What to draw: the whole graph or a focus, narrowed by the search and the status filter.

function matchesFilter(key) {
  const status = state.byKey.get(key)?.status ?? 'never_built';
  if (state.statusFilter.size && !state.statusFilter.has(status)) return false;
  return !state.search || key.toLowerCase().includes(state.search.toLowerCase());
}

function baseKeys() {
  return state.focus ? [...state.focus.nodes.keys()] : state.graph.nodes.map((n) => n.asset);
}

function visibleGraph() {
  const base = baseKeys();
  const filtering = Boolean(state.search) || state.statusFilter.size > 0;
  const matches = filtering ? base.filter(matchesFilter) : base;
  const tooMany = base.length > MAX_NODES;
  let ids = filtering && (state.onlyMatches || tooMany) ? matches : base;
  let notice = null;
  if (tooMany && !filtering) {
    ids = [];
    notice = `This graph has ${base.length} assets; the page draws at most ${MAX_NODES} at once. `
      + 'Search by key, pick statuses in the legend, or focus on an asset to draw part of it.';
  } else if (ids.length > MAX_NODES) {
    notice = `${ids.length} assets match; drawing the first ${MAX_NODES}. Narrow the search to see the rest.`;
    ids = sortForDisplay(ids).slice(0, MAX_NODES);
  }
  const drawn = new Set(ids);
  // Edges among drawn nodes: the graph's, plus a focus's own (they agree; a focus may be newer).
  const edges = new Map();
  const addEdge = (e) => {
    if (drawn.has(e.upstream) && drawn.has(e.downstream)) edges.set(`${e.upstream}\u0000${e.downstream}`, e);
  };
  state.focus?.edges.forEach(addEdge);
  state.graph.edges.forEach(addEdge);
  return {
    ids: sortForDisplay(ids),
    edges: [...edges.values()],
    matches,
    filtering,
    notice,
    tooMany,
    // Highlight matches among all nodes, unless only the matches are drawn anyway.
    highlight: filtering && !(state.onlyMatches || tooMany),
  };
}

/** Problems first, then by key: what a capped list should show first. */
function sortForDisplay(ids) {
  const rank = { failed: 0, late: 1, stale: 2, never_built: 3, fresh: 4 };
  const r = (k) => rank[state.byKey.get(k)?.status] ?? 3;
  return [...ids].sort((a, b) => r(a) - r(b) || collator.compare(a, b));
}

function summaryOf(key) {
  return state.byKey.get(key) ?? { asset: key, status: 'never_built', reasons: [], partitions_total: 0 };
}

// ---------------------------------------------------------------------------------------------
// Rendering.

function render() {
  if (!state.graph) return;
  renderLegend();
  const view = visibleGraph();
  state.size = drawGraph(byId('graph'), view, {
    summaryOf,
    selected: state.selected,
    focus: state.focus,
    highlight: view.highlight,
    matches: new Set(view.matches),
    onSelect: select,
  });
  // Fit the zoom again only when other nodes are drawn, not on every status change.
  const ids = view.ids.join('\n');
  if (ids !== state.drawnIds) {
    state.drawnIds = ids;
    state.zoom = Math.min(1, Math.max(0.45, fitZoom()));
  }
  applyZoom();

  const empty = byId('empty');
  empty.replaceChildren();
  if (!state.graph.nodes.length) {
    empty.append('No assets yet. They appear as soon as a service declares them or an event arrives.');
  } else if (!view.ids.length && view.tooMany && !view.filtering) {
    empty.append(h('strong', {}, 'Too many assets to draw.'), ' Choose one to focus on, or search:',
      assetButtons(sortForDisplay(view.matches)));
  } else if (!view.ids.length) {
    empty.append('No asset matches the search and status filter.');
  }
  empty.hidden = empty.childNodes.length === 0;
  if (view.notice) showNotice('size', view.notice);
  else hideNotice('size');

  byId('focus').disabled = !state.selected;
  byId('clear-focus').hidden = !state.focus;
  byId('canvas').classList.toggle('focused', Boolean(state.focus));
  const label = byId('focus-label');
  label.hidden = !state.focus;
  if (state.focus) {
    const distances = [...state.focus.nodes.values()];
    const up = distances.filter((d) => d < 0).length;
    const down = distances.filter((d) => d > 0).length;
    label.replaceChildren('Focus on ', h('b', {}, state.focus.root),
      ` · depth ${state.focus.depth} · ${up} upstream, ${down} downstream`);
  }
}

function assetButtons(keys) {
  const list = h('ul', { class: 'asset-list' });
  for (const key of keys.slice(0, LIST_LIMIT)) {
    const status = summaryOf(key).status;
    list.append(h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => select(key) },
      h('span', { class: `dot status-${status}`, 'aria-hidden': 'true' }), key)));
  }
  if (keys.length > LIST_LIMIT) list.append(h('li', { class: 'muted' }, `… and ${keys.length - LIST_LIMIT} more`));
  return list;
}

/** One toggle per status, with its count: pressed ones filter the graph. */
function renderLegend() {
  const counts = {};
  for (const n of state.graph.nodes) counts[n.status] = (counts[n.status] ?? 0) + 1;
  byId('status-legend').replaceChildren(...Object.entries(STATUSES).map(([status, meta]) => h('button', {
    type: 'button',
    class: `legend-status status-${status}`,
    'aria-pressed': state.statusFilter.has(status) ? 'true' : 'false',
    title: `${meta.label}: ${meta.help}. Press to pick out ${meta.label} assets.`,
    onclick: () => {
      if (state.statusFilter.has(status)) state.statusFilter.delete(status);
      else state.statusFilter.add(status);
      render();
    },
  }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), statusLabel(status),
  h('span', { class: 'count' }, String(counts[status] ?? 0)))));
}

function fitZoom() {
  const canvas = byId('canvas');
  const { width, height } = state.size;
  if (!width || !height) return 1;
  return Math.min((canvas.clientWidth - 8) / width, (canvas.clientHeight - 8) / height);
}

function applyZoom() {
  const svg = byId('graph');
  svg.setAttribute('width', Math.round(state.size.width * state.zoom));
  svg.setAttribute('height', Math.round(state.size.height * state.zoom));
}

function setZoom(zoom) {
  state.zoom = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, zoom));
  applyZoom();
}

function scrollToNode(key) {
  const node = document.querySelector(`#graph .node[data-asset="${CSS.escape(key)}"]`);
  if (node) {
    node.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    node.focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Selection, and focus on an asset: its upstream and downstream to a depth.

function select(key) {
  state.selected = key;
  render();
  scrollToNode(key);
  saveHash();
  openPanel(key);
}

function deselect() {
  const key = state.selected;
  state.selected = null;
  closePanel();
  render();
  saveHash();
  if (key) scrollToNode(key);
}

async function focusOn(root, depth) {
  state.focus = { root, depth, nodes: new Map([[root, 0]]), edges: [] };
  await refreshFocus();
  render();
  saveHash();
}

async function refreshFocus() {
  const { root, depth } = state.focus;
  try {
    const [up, down] = await Promise.all(['upstream', 'downstream'].map(
      (direction) => api(`api/assets/${enc(root)}/${direction}?depth=${depth}`),
    ));
    if (state.focus?.root !== root) return; // the user moved on meanwhile
    const nodes = new Map([[root, 0]]);
    for (const [key, d] of Object.entries(up.data.nodes)) if (key !== root) nodes.set(key, -d);
    for (const [key, d] of Object.entries(down.data.nodes)) if (key !== root) nodes.set(key, d);
    state.focus = { root, depth, nodes, edges: [...up.data.edges, ...down.data.edges] };
    hideNotice('focus');
  } catch (error) {
    showNotice('focus', `Could not load the neighbourhood of ${root}: ${error.message}`);
  }
}

function clearFocus() {
  state.focus = null;
  hideNotice('focus');
  render();
  saveHash();
}

function currentDepth() {
  const value = Math.round(Number(byId('depth').value));
  return Number.isFinite(value) && value >= 1 ? Math.min(value, MAX_DEPTH) : 1;
}

// ---------------------------------------------------------------------------------------------
// Notices and the URL (#asset=…&focus=…&depth=…, so a view can be shared).

const notices = new Map();

function showNotice(id, ...parts) {
  notices.set(id, parts);
  drawNotices();
}

function hideNotice(id) {
  if (notices.delete(id)) drawNotices();
}

function drawNotices() {
  const el = byId('notice');
  el.replaceChildren(...[...notices.values()].map((parts) => h('p', {}, ...parts)));
  el.hidden = notices.size === 0;
}

function saveHash() {
  const params = new URLSearchParams();
  if (state.selected) params.set('asset', state.selected);
  if (state.focus) {
    params.set('focus', state.focus.root);
    params.set('depth', String(state.focus.depth));
  }
  const hash = params.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
}

async function restoreHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (Number(params.get('depth')) >= 1) byId('depth').value = params.get('depth');
  if (params.get('focus')) await focusOn(params.get('focus'), currentDepth());
  if (params.get('asset')) select(params.get('asset'));
}

// ---------------------------------------------------------------------------------------------
// Wiring.

function wire() {
  const search = byId('search');
  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = search.value.trim();
      render();
    }, 120);
  });
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && state.graph) {
      state.search = search.value.trim();
      const first = sortForDisplay(baseKeys().filter(matchesFilter))[0];
      if (first) select(first);
      else render();
    } else if (event.key === 'Escape') {
      search.value = '';
      state.search = '';
      render();
    }
  });
  byId('only-matches').addEventListener('change', (event) => {
    state.onlyMatches = event.target.checked;
    render();
  });
  byId('focus').addEventListener('click', () => {
    if (state.selected) focusOn(state.selected, currentDepth());
  });
  byId('depth').addEventListener('change', () => {
    if (state.focus) focusOn(state.focus.root, currentDepth());
  });
  byId('clear-focus').addEventListener('click', clearFocus);
  byId('zoom-in').addEventListener('click', () => setZoom(state.zoom * 1.25));
  byId('zoom-out').addEventListener('click', () => setZoom(state.zoom / 1.25));
  byId('zoom-fit').addEventListener('click', () => setZoom(fitZoom()));
  byId('canvas').addEventListener('wheel', (event) => {
    if (!event.ctrlKey && !event.metaKey) return; // a plain wheel scrolls
    event.preventDefault();
    setZoom(state.zoom * (event.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  byId('panel-close').addEventListener('click', deselect);
  document.addEventListener('keydown', (event) => {
    const inDialog = byId('token-dialog').open;
    if (event.key === 'Escape' && state.selected && !inDialog && document.activeElement !== search) {
      deselect();
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) poll();
  });
  initPanel({ onAsset: select });
}

wire();
poll();
setInterval(() => {
  if (!document.hidden) render();
}, AGES_REFRESH_MS);
