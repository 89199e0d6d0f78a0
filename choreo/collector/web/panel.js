// The side panel: one asset's status and reasons, declaration, state, partitions, downstream
// impact, a page of its history and, for a chosen event, its provenance tree.

import { api } from './api.js';
import { byId, h } from './dom.js';
import { ago, duration, statusLabel, time, versionText } from './format.js';

const HISTORY_PAGE = 15;
const PARTITIONS_SHOWN = 12; // partitions listed before "show all"
const REASONS_SHOWN = 2; // reasons listed before "and N more"
const PROVENANCE_DEPTH = 3; // levels fetched at once; deeper levels load on demand
const enc = encodeURIComponent;

const panel = {
  key: null, // the asset shown
  offset: 0, // of the history page shown
  event: null, // the event whose provenance is shown
  text: null, // the last answers, to skip re-rendering when nothing changed
  partitionsOpen: false, // the partitions list stays open or closed across refreshes
  seq: 0, // answers to older requests are dropped
  onAsset: () => {}, // called when an asset link in the panel is followed
};

/** `onAsset(key)` is called when the user follows an asset link in the panel. */
export function initPanel({ onAsset }) {
  panel.onAsset = onAsset;
}

/** Show `key` (from its newest events when it is another asset than before). */
export function openPanel(key) {
  if (key !== panel.key) {
    Object.assign(panel, { key, offset: 0, event: null, text: null });
    byId('panel-body').replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    byId('panel-title').textContent = key;
    byId('panel-status').replaceChildren();
  }
  byId('panel').hidden = false;
  refreshPanel();
}

export function closePanel() {
  panel.key = null;
  panel.seq += 1;
  byId('panel').hidden = true;
}

/** Fetch the shown asset again; re-render only what changed. */
export async function refreshPanel() {
  const { key, offset } = panel;
  if (!key) return;
  const seq = ++panel.seq;
  try {
    const [detail, impact] = await Promise.all([
      api(`api/assets/${enc(key)}?history_limit=${HISTORY_PAGE}&history_offset=${offset}`),
      api(`api/assets/${enc(key)}/impact`).catch(() => null), // an optional section
    ]);
    if (seq !== panel.seq) return;
    const text = detail.text + (impact ? impact.text : '');
    if (text === panel.text) return;
    panel.text = text;
    render(detail.data, impact ? impact.data : null);
  } catch (error) {
    if (seq !== panel.seq) return;
    panel.text = null;
    const message = error.status === 404
      ? 'The collector does not know this asset (any more).'
      : `Could not load this asset: ${error.message}`;
    byId('panel-body').replaceChildren(h('p', { class: 'error' }, message));
  }
}

function render(detail, impact) {
  const { summary, declaration, partitions, history } = detail;
  const body = byId('panel-body');
  const scroll = body.scrollTop;
  // The event section (with its provenance tree, maybe expanded by hand) survives refreshes.
  const eventSection = body.querySelector('#event-section');

  byId('panel-title').textContent = summary.asset;
  byId('panel-status').replaceChildren(statusBadge(summary.status),
    summary.last_event_at ? h('span', { class: 'muted' }, ` last event ${ago(summary.last_event_at)}`) : null);
  body.replaceChildren(...[
    reasonsList(summary),
    declarationSection(declaration, summary),
    stateSection(summary),
    partitionsSection(partitions, summary),
    impactSection(impact),
    historySection(history),
    eventSection ?? h('section', { id: 'event-section' }),
  ].filter(Boolean));
  body.scrollTop = scroll;
}

// ---------------------------------------------------------------------------------------------
// Sections.

/** Why the asset is not fresh: the first few reasons, the rest behind a button. */
function reasonsList(summary) {
  const reasons = summary.reasons ?? [];
  if (!reasons.length) return null;
  const items = reasons.map((r) => h('li', {}, r));
  const list = h('ul', { class: `reasons status-${summary.status}` }, items.slice(0, REASONS_SHOWN));
  if (items.length > REASONS_SHOWN) {
    const rest = items.length - REASONS_SHOWN;
    list.append(h('li', { class: 'more' }, h('button', {
      type: 'button',
      class: 'link',
      onclick: () => list.replaceChildren(...items),
    }, `and ${rest} more reason${rest === 1 ? '' : 's'}`)));
  }
  return list;
}

function declarationSection(declaration, summary) {
  if (!declaration) {
    return section('Declaration', h('p', { class: 'muted' },
      'Not declared: this asset is only known from events (as an output or an input).'));
  }
  const freshness = declaration.freshness_seconds;
  return section('Declaration', definitions([
    ['Service', declaration.service],
    ['Owner', declaration.owner],
    ['Description', declaration.description],
    ['Inputs', declaration.inputs.length
      ? h('span', { class: 'inputs' }, declaration.inputs.map((key) => assetLink(key)))
      : h('span', { class: 'muted' }, 'none (a source)')],
    ['Trigger', h('code', {}, declaration.trigger)],
    ['Partitioned', declaration.partitioned ? 'yes' : 'no'],
    ['Freshness', freshness != null ? duration(freshness) : 'not declared'],
    ['Code version', declaration.code_version ? h('code', {}, declaration.code_version) : null],
    ['Declared', time(declaration.declared_at)],
  ]), summary.service && summary.service !== declaration.service
    ? h('p', { class: 'muted' }, `Latest events come from ${summary.service}.`) : null);
}

function stateSection(summary) {
  const updated = summary.last_updated_at;
  return section('State', definitions([
    ['Latest version', summary.latest_version ? versionText(summary.latest_version) : null],
    ['Last updated', updated ? `${time(updated)} (${ago(updated)})` : 'never'],
    ['Last event', summary.last_event_at ? time(summary.last_event_at) : null],
  ]));
}

function partitionsSection(partitions, summary) {
  const unpartitioned = !summary.partitioned && partitions.length === 1 && partitions[0].partition == null;
  if (!partitions.length || unpartitioned) return null;
  const counts = Object.entries(summary.partitions_by_status ?? {}).filter(([, n]) => n > 0);
  const rows = partitions.map((p) => h('tr', {},
    h('td', {}, p.partition ?? '—'),
    h('td', {}, statusBadge(p.status)),
    h('td', {}, p.kind),
    h('td', {}, versionText(p.version)),
    h('td', { title: time(p.occurred_at) }, ago(p.occurred_at))));
  const table = h('table', { class: 'table' },
    tableHead(['Partition', 'Status', 'Kind', 'Version', 'When']),
    h('tbody', {}, rows.slice(0, PARTITIONS_SHOWN)));
  const more = rows.length > PARTITIONS_SHOWN ? h('button', {
    type: 'button',
    class: 'link',
    onclick: (event) => {
      table.tBodies[0].replaceChildren(...rows);
      event.currentTarget.remove();
    },
  }, `Show all ${rows.length} partitions`) : null;
  // Collapsed by default: an asset may have hundreds of partitions; the chips say how they stand.
  const details = h('details', { class: 'partitions', open: panel.partitionsOpen },
    h('summary', {}, h('h3', {}, `Partitions (${summary.partitions_total || partitions.length})`),
      h('span', { class: 'chips' }, counts.map(([status, n]) => h('span', { class: `chip status-${status}` },
        `${n} ${statusLabel(status)}`)))),
    table, more);
  details.addEventListener('toggle', () => {
    panel.partitionsOpen = details.open;
  });
  return h('section', {}, details);
}

function impactSection(impact) {
  if (!impact) return null;
  const entries = Array.isArray(impact) ? impact : impact.items ?? [];
  if (!entries.length) {
    return section('Downstream impact', h('p', { class: 'muted' }, 'Nothing is built from this asset.'));
  }
  return section(`Downstream impact (${entries.length})`, h('ul', { class: 'impact' },
    entries.map((e) => h('li', {},
      h('span', { class: 'distance', title: 'edges away' }, String(e.distance)),
      h('span', { class: `dot status-${e.status}`, title: statusLabel(e.status) }),
      assetLink(e.asset),
      e.owner || e.service
        ? h('span', { class: 'muted' }, [e.owner, e.service].filter(Boolean).join(' · ')) : null))));
}

function historySection(history) {
  const { items, total, limit, offset } = history;
  if (!total) return section('History', h('p', { class: 'muted' }, 'No events yet.'));
  const rows = items.map((event) => {
    const choose = () => showEvent(event);
    const chosen = panel.event?.event_id === event.event_id;
    return h('tr', { class: chosen ? 'chosen' : null, 'data-event': event.event_id, onclick: choose },
      h('td', {}, h('button', {
        type: 'button',
        class: 'link',
        'aria-label': `Show the ${event.kind} event of ${time(event.occurred_at)} and its provenance`,
        onclick: (e) => {
          e.stopPropagation();
          choose();
        },
      }, time(event.occurred_at))),
      h('td', {}, kindBadge(event.kind)),
      h('td', {}, event.partition ?? '—'),
      h('td', {}, versionText(event.version)));
  });
  const last = Math.min(offset + items.length, total);
  const page = (to) => {
    panel.offset = to;
    refreshPanel();
  };
  const pager = h('div', { class: 'pager' },
    h('button', {
      type: 'button',
      'aria-label': 'Newer events',
      disabled: offset === 0,
      onclick: () => page(Math.max(0, offset - limit)),
    }, '‹ Newer'),
    h('span', { class: 'muted' }, `${offset + 1}–${last} of ${total}`),
    h('button', {
      type: 'button',
      'aria-label': 'Older events',
      disabled: last >= total,
      onclick: () => page(offset + limit),
    }, 'Older ›'));
  return section('History', h('table', { class: 'table history' },
    tableHead(['When', 'Kind', 'Partition', 'Version']), h('tbody', {}, rows)), pager);
}

// ---------------------------------------------------------------------------------------------
// One event and its provenance.

async function showEvent(event) {
  panel.event = event;
  document.querySelectorAll('#panel tr[data-event]').forEach((row) => {
    row.classList.toggle('chosen', row.dataset.event === event.event_id);
  });
  const container = byId('event-section');
  const tree = h('div', { class: 'provenance' }, h('p', { class: 'muted' }, 'Loading provenance…'));
  container.replaceChildren(h('h3', {}, 'Event'), eventFacts(event), h('h3', {}, 'Provenance'), tree);
  container.scrollIntoView({ block: 'start' });
  try {
    const { data } = await api(`api/events/${enc(event.event_id)}/provenance?depth=${PROVENANCE_DEPTH}`);
    if (panel.event !== event) return;
    tree.replaceChildren(h('ul', { class: 'tree', role: 'tree', 'aria-label': `Provenance of ${event.asset}` },
      provenanceItem(data, 0)));
  } catch (error) {
    tree.replaceChildren(h('p', { class: 'error' }, `Could not load provenance: ${error.message}`));
  }
}

function eventFacts(event) {
  const metadata = Object.entries(event.metadata ?? {});
  const error = event.error;
  return h('div', {},
    h('p', { class: 'event-title' },
      kindBadge(event.kind), ' ', h('b', {}, event.asset),
      event.partition ? h('span', { class: 'partition' }, `[${event.partition}]`) : null,
      ' ', h('span', { class: 'muted' }, time(event.occurred_at))),
    definitions([
      ['Version', h('code', {}, event.version)],
      ['Producer', `${event.producer_service} (${event.producer_instance})`],
      ['Code version', event.code_version],
      ['Location', event.location ? h('code', {}, event.location) : null],
      ['Run', event.run_id ? h('code', {}, event.run_id) : null],
      ['Event id', h('code', {}, event.event_id)],
      ['Correlation', event.correlation_id ? h('code', {}, event.correlation_id) : null],
      ['Metadata', metadata.length ? h('span', { class: 'meta' }, metadata.map(([k, v]) => h('span', {},
        h('b', {}, k), ' ', typeof v === 'object' ? JSON.stringify(v) : String(v)))) : null],
    ]),
    error ? h('div', { class: 'error-box' },
      h('strong', {}, error.type ?? 'error'),
      error.attempt != null ? ` (attempt ${error.attempt})` : '',
      h('pre', {}, error.message ?? JSON.stringify(error))) : null);
}

/** One node of the provenance tree; children are expandable, cut-off levels load on demand. */
function provenanceItem(node, level, open = level < 2) {
  const meta = h('span', { class: 'prov-meta' },
    versionText(node.version),
    node.occurred_at ? ` · ${time(node.occurred_at)}` : null,
    node.event_id ? null : ' · never seen as an event',
    node.event_id && node.kind && !node.inputs?.length && !node.truncated ? ' · no inputs' : null);
  const label = h('span', { class: 'prov-label' },
    h('span', { class: 'prov-main' },
      node.kind ? kindBadge(node.kind) : null,
      assetLink(node.asset),
      node.partition ? h('span', { class: 'partition' }, `[${node.partition}]`) : null),
    meta);
  const item = h('li', { role: 'treeitem' });
  if (node.inputs?.length) {
    const details = h('details', { open },
      h('summary', {}, label),
      h('ul', { role: 'group' }, node.inputs.map((child) => provenanceItem(child, level + 1))));
    const expanded = () => item.setAttribute('aria-expanded', String(details.open));
    details.addEventListener('toggle', expanded);
    expanded();
    item.append(details);
    return item;
  }
  if (node.truncated && node.event_id) {
    meta.append(' · ', h('button', {
      type: 'button',
      class: 'link',
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        button.textContent = 'loading…';
        try {
          const { data } = await api(`api/events/${enc(node.event_id)}/provenance?depth=${PROVENANCE_DEPTH}`);
          const loaded = provenanceItem(data, level, true);
          item.replaceWith(loaded);
          loaded.querySelector('summary')?.focus();
        } catch (error) {
          button.textContent = `failed: ${error.message}`;
        }
      },
    }, 'show inputs'));
  }
  item.append(h('div', { class: 'leaf' }, label));
  return item;
}

// ---------------------------------------------------------------------------------------------
// Small parts.

function section(title, ...content) {
  return h('section', {}, h('h3', {}, title), ...content);
}

function definitions(rows) {
  const dl = h('dl', { class: 'facts' });
  for (const [term, value] of rows) {
    if (value !== null && value !== undefined && value !== '') dl.append(h('dt', {}, term), h('dd', {}, value));
  }
  return dl;
}

function tableHead(titles) {
  return h('thead', {}, h('tr', {}, titles.map((t) => h('th', { scope: 'col' }, t))));
}

function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, statusLabel(status));
}

function kindBadge(kind) {
  return h('span', { class: `kind kind-${kind.toLowerCase()}` }, kind);
}

function assetLink(key) {
  return h('button', {
    type: 'button',
    class: 'link asset-link',
    title: `Show ${key}`,
    onclick: (event) => {
      event.stopPropagation();
      event.preventDefault(); // inside a <summary>: follow the link, do not toggle
      panel.onAsset(key);
    },
  }, key);
}
