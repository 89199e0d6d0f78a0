// Drawing the product graph as SVG: nodes coloured by status (the colours live in style.css),
// edges solid when declared and dashed when only observed in events.

import { s } from './dom.js';
import { ago, statusLabel, STATUSES } from './format.js';
import { layoutGraph } from './layout.js';

const NODE_HEIGHT = 48;
const NODE_MIN_WIDTH = 150;
const NODE_MAX_WIDTH = 300;
const NODE_PAD = 30; // the status stripe and the padding left and right of the text

/**
 * Replace the contents of `svg` with the graph `view` ({ids, edges}) and return its natural
 * size. `how` says what to mark: {summaryOf(key), selected, focus, highlight, matches (a Set),
 * onSelect(key)}.
 */
export function drawGraph(svg, view, how) {
  // Redrawing replaces the nodes: remember which had keyboard focus to give it back.
  const focused = document.activeElement?.closest?.('#graph .node')?.dataset.asset;
  const fonts = getComputedStyle(svg).fontFamily;
  const labelFont = `600 13px ${fonts}`;
  const subFont = `12px ${fonts}`;

  const boxes = new Map();
  for (const key of view.ids) {
    const sub = nodeSubtitle(how.summaryOf(key));
    const natural = Math.max(textWidth(key, labelFont), textWidth(sub, subFont)) + NODE_PAD;
    const width = Math.ceil(Math.min(NODE_MAX_WIDTH, Math.max(NODE_MIN_WIDTH, natural)));
    boxes.set(key, {
      width,
      height: NODE_HEIGHT,
      label: fitText(key, labelFont, width - NODE_PAD),
      sub: fitText(sub, subFont, width - NODE_PAD),
    });
  }
  const layout = layoutGraph(view.ids, view.edges, (id) => boxes.get(id));

  const edgeLayer = s('g', { class: 'edges' });
  for (const { edge, points } of layout.edges) {
    edgeLayer.append(edgeElement(edge, points, how));
  }
  // Nodes in reading order (by column, then top to bottom) so Tab moves through them sensibly.
  const order = [...layout.nodes.entries()].sort(([, a], [, b]) => a.layer - b.layer || a.y - b.y);
  const nodeLayer = s('g', { class: 'nodes' });
  for (const [key, position] of order) {
    nodeLayer.append(nodeElement(key, position, boxes.get(key), how));
  }

  svg.replaceChildren(
    s('defs', {}, arrowMarker('arrow', 'arrow-head'), arrowMarker('arrow-hl', 'arrow-head hl')),
    edgeLayer,
    nodeLayer,
  );
  svg.setAttribute('viewBox', `0 0 ${layout.width} ${layout.height}`);
  if (focused) {
    svg.querySelector(`.node[data-asset="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }
  return { width: layout.width, height: layout.height };
}

function nodeElement(key, position, box, how) {
  const summary = how.summaryOf(key);
  const label = statusLabel(summary.status);
  const classes = ['node', `status-${summary.status}`];
  if (key === how.selected) classes.push('selected');
  if (how.focus && key === how.focus.root) classes.push('root');
  if (how.highlight) classes.push(how.matches.has(key) ? 'match' : 'dim');
  const reasons = (summary.reasons ?? []).join('; ');
  const distance = how.focus?.nodes.get(key);
  const where = distance ? ` · ${Math.abs(distance)} ${distance < 0 ? 'upstream' : 'downstream'}` : '';
  return s('g', {
    class: classes.join(' '),
    transform: `translate(${position.x},${position.y})`,
    tabindex: 0,
    role: 'button',
    'data-asset': key,
    'data-status': summary.status,
    'aria-label': `${key}, ${label}${reasons ? `: ${reasons}` : ''}${where}`,
    'aria-pressed': key === how.selected ? 'true' : 'false',
    onclick: () => how.onSelect(key),
    onkeydown: (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        how.onSelect(key);
      }
    },
  },
  s('title', {}, `${key}\n${label}${reasons ? ` — ${reasons}` : ''}${where}`),
  s('rect', { class: 'node-box', width: box.width, height: box.height, rx: 9 }),
  s('rect', { class: 'node-stripe', x: 0.5, y: 0.5, width: 6, height: box.height - 1, rx: 3 }),
  s('text', { class: 'node-label', x: 16, y: 20 }, box.label),
  s('text', { class: 'node-sub', x: 16, y: 37 }, box.sub));
}

function edgeElement(edge, points, how) {
  const touches = how.selected && (edge.upstream === how.selected || edge.downstream === how.selected);
  const dim = how.highlight && !(how.matches.has(edge.upstream) && how.matches.has(edge.downstream));
  const classes = ['edge', edge.kind === 'observed' ? 'observed' : 'declared'];
  if (edge.kind === 'both') classes.push('both');
  if (touches) classes.push('hl');
  if (dim) classes.push('dim');
  const kind = { declared: 'declared', observed: 'observed only', both: 'declared and observed' };
  return s('path', {
    class: classes.join(' '),
    d: edgePath(points),
    'marker-end': touches ? 'url(#arrow-hl)' : 'url(#arrow)',
    'data-edge': `${edge.upstream} -> ${edge.downstream}`,
    'data-kind': edge.kind,
  }, s('title', {}, `${edge.upstream} → ${edge.downstream} (${kind[edge.kind] ?? edge.kind})`));
}

/** The second line of a node: status, partitions (and how many are not fresh), last event. */
function nodeSubtitle(summary) {
  const parts = [statusLabel(summary.status)];
  if (summary.partitioned || summary.partitions_total > 1) {
    const total = summary.partitions_total;
    const problems = Object.entries(summary.partitions_by_status ?? {})
      .filter(([status, n]) => status !== 'fresh' && n > 0 && status in STATUSES)
      .map(([status, n]) => `${n} ${statusLabel(status)}`);
    const detail = problems.length ? ` (${problems.join(', ')})` : '';
    parts.push(`${total} partition${total === 1 ? '' : 's'}${detail}`);
  }
  if (summary.last_event_at) parts.push(ago(summary.last_event_at));
  return parts.join(' · ');
}

function arrowMarker(id, cls) {
  return s('marker', {
    id,
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
    markerUnits: 'strokeWidth',
  }, s('path', { d: 'M0,1 L9,5 L0,9 z', class: cls }));
}

/** A smooth path through the layout's points: curves between columns, straight within them. */
function edgePath(points) {
  const end = points.length - 1;
  // Stop just short of the node so the arrow's tip does not sit under its border.
  const pts = points.map((p, i) => (i === end ? { x: p.x - 2, y: p.y } : p));
  let d = `M${pts[0].x},${pts[0].y}`;
  for (let i = 1; i < pts.length; i += 1) {
    const a = pts[i - 1];
    const b = pts[i];
    if (Math.abs(a.y - b.y) < 0.5) {
      d += ` L${b.x},${b.y}`;
    } else {
      const mx = (a.x + b.x) / 2;
      d += ` C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
    }
  }
  return d;
}

let measureContext = null;
function textWidth(text, font) {
  if (!measureContext) measureContext = document.createElement('canvas').getContext('2d');
  measureContext.font = font;
  return measureContext.measureText(text).width;
}

/** `text`, cut with an ellipsis to fit `width` pixels. */
function fitText(text, font, width) {
  if (textWidth(text, font) <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(`${text.slice(0, mid)}…`, font) <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
