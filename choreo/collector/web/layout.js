// A layered ("Sugiyama-style") layout of a directed graph, left to right: upstream assets on the
// left, what they feed on the right. Pure functions, no DOM: given node sizes and edges, it
// returns positions for nodes and the points each edge passes through.
//
// Steps:
//   1. break cycles (a lineage graph should have none, but one bad declaration must not hang
//      the page): edges closing a cycle are laid out as if reversed;
//   2. layering by longest path from the sources, then sources pulled right next to their
//      nearest consumer so inputs sit beside what reads them;
//   3. a dummy node on every layer a long edge crosses, so edges route around nodes;
//   4. ordering inside layers by barycentric sweeps, keeping the order with fewest crossings;
//   5. vertical placement: each node moves towards the mean of its neighbours, as far as the
//      order and spacing allow (an isotonic regression per layer, solved by pool-adjacent-
//      violators).

const LAYER_GAP = 96; // horizontal space between layer columns, where edges bend
const NODE_GAP = 22; // vertical space between nodes of a layer
const DUMMY_HEIGHT = 6; // a long edge's waypoint takes this much room in a layer
const MARGIN = 24;
const ORDER_SWEEPS = 12;
const PLACE_SWEEPS = 8;

/**
 * @param {string[]} ids                       node ids, in a stable order (ties keep it)
 * @param {{upstream: string, downstream: string}[]} edges  only edges between known ids are used
 * @param {(id: string) => {width: number, height: number}} size
 * @returns {{width: number, height: number,
 *            nodes: Map<string, {x: number, y: number, width: number, height: number, layer: number}>,
 *            edges: {edge: object, points: {x: number, y: number}[]}[]}}
 *   node x/y are the top-left corner; edge points run from upstream to downstream.
 */
export function layoutGraph(ids, edges, size) {
  const known = new Set(ids);
  const seen = new Set();
  const links = []; // {from, to, edge, reversed}
  for (const edge of edges) {
    const pair = `${edge.upstream}\u0000${edge.downstream}`;
    if (!known.has(edge.upstream) || !known.has(edge.downstream)) continue;
    if (edge.upstream === edge.downstream || seen.has(pair)) continue;
    seen.add(pair);
    links.push({ from: edge.upstream, to: edge.downstream, edge, reversed: false });
  }
  breakCycles(ids, links);
  const layer = assignLayers(ids, links);

  // Vertices: real nodes plus dummies, grouped by layer.
  const vertices = new Map();
  for (const id of ids) {
    const { width, height } = size(id);
    vertices.set(id, { id, layer: layer.get(id), width, height, dummy: false, up: [], down: [] });
  }
  const chains = []; // per link: the vertex ids from its upper to its lower layer end
  let dummyCount = 0;
  for (const link of links) {
    const [a, b] = link.reversed ? [link.to, link.from] : [link.from, link.to];
    const chain = [a];
    for (let l = layer.get(a) + 1; l < layer.get(b); l += 1) {
      const id = `\u0000dummy${dummyCount++}`;
      vertices.set(id, { id, layer: l, width: 0, height: DUMMY_HEIGHT, dummy: true, up: [], down: [] });
      chain.push(id);
    }
    chain.push(b);
    for (let i = 0; i + 1 < chain.length; i += 1) {
      vertices.get(chain[i]).down.push(chain[i + 1]);
      vertices.get(chain[i + 1]).up.push(chain[i]);
    }
    chains.push({ link, chain });
  }

  const depth = Math.max(-1, ...[...vertices.values()].map((v) => v.layer)) + 1;
  const layers = Array.from({ length: depth }, () => []);
  for (const v of vertices.values()) layers[v.layer].push(v.id);
  orderLayers(layers, vertices);

  // Columns: each layer as wide as its widest node.
  const columnX = [];
  const columnWidth = [];
  let x = MARGIN;
  for (const members of layers) {
    const w = Math.max(0, ...members.map((id) => vertices.get(id).width));
    columnX.push(x);
    columnWidth.push(w);
    x += w + LAYER_GAP;
  }
  const centreY = placeVertically(layers, vertices);

  let minY = Infinity;
  let maxY = -Infinity;
  for (const v of vertices.values()) {
    const y = centreY.get(v.id);
    minY = Math.min(minY, y - v.height / 2);
    maxY = Math.max(maxY, y + v.height / 2);
  }
  if (!Number.isFinite(minY)) {
    minY = 0;
    maxY = 0;
  }
  const shift = MARGIN - minY;

  const nodes = new Map();
  for (const id of ids) {
    const v = vertices.get(id);
    nodes.set(id, {
      x: columnX[v.layer],
      y: centreY.get(id) + shift - v.height / 2,
      width: v.width,
      height: v.height,
      layer: v.layer,
    });
  }

  const routed = chains.map(({ link, chain }) => {
    const points = [];
    chain.forEach((id, i) => {
      const v = vertices.get(id);
      const y = centreY.get(id) + shift;
      const left = columnX[v.layer];
      if (v.dummy) {
        // Run straight through the column, so the edge passes beside the nodes of the layer.
        points.push({ x: left, y }, { x: left + columnWidth[v.layer], y });
      } else if (i === 0) {
        points.push({ x: left + v.width, y });
      } else {
        points.push({ x: left, y });
      }
    });
    if (link.reversed) points.reverse();
    return { edge: link.edge, points };
  });

  return {
    width: Math.max(x - LAYER_GAP + MARGIN, 2 * MARGIN),
    height: maxY - minY + 2 * MARGIN,
    nodes,
    edges: routed,
  };
}

/** Mark the edges that close a cycle (found by depth-first search) as reversed. */
function breakCycles(ids, links) {
  const out = new Map(ids.map((id) => [id, []]));
  for (const link of links) out.get(link.from).push(link);
  const state = new Map(); // undefined: new, 1: on the stack, 2: done
  for (const start of ids) {
    if (state.has(start)) continue;
    // Iterative DFS: a deep chain of assets must not overflow the call stack.
    const stack = [{ id: start, next: 0 }];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const outgoing = out.get(top.id);
      if (top.next < outgoing.length) {
        const link = outgoing[top.next++];
        const s = state.get(link.to);
        if (s === 1) link.reversed = true;
        else if (s === undefined) {
          state.set(link.to, 1);
          stack.push({ id: link.to, next: 0 });
        }
      } else {
        state.set(top.id, 2);
        stack.pop();
      }
    }
  }
}

/** Longest path from the sources; then each source moves right, next to its nearest consumer. */
function assignLayers(ids, links) {
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  for (const link of links) {
    const [a, b] = link.reversed ? [link.to, link.from] : [link.from, link.to];
    succs.get(a).push(b);
    preds.get(b).push(a);
  }
  // Kahn's algorithm gives a topological order of the (now acyclic) graph.
  const indegree = new Map(ids.map((id) => [id, preds.get(id).length]));
  const queue = ids.filter((id) => indegree.get(id) === 0);
  const order = [];
  while (queue.length) {
    const id = queue.shift();
    order.push(id);
    for (const s of succs.get(id)) {
      indegree.set(s, indegree.get(s) - 1);
      if (indegree.get(s) === 0) queue.push(s);
    }
  }
  const layer = new Map();
  for (const id of order) {
    layer.set(id, Math.max(-1, ...preds.get(id).map((p) => layer.get(p))) + 1);
  }
  for (const id of order) {
    if (preds.get(id).length === 0 && succs.get(id).length > 0) {
      layer.set(id, Math.min(...succs.get(id).map((s) => layer.get(s))) - 1);
    }
  }
  return layer;
}

/** Barycentric sweeps, down then up, keeping the ordering with the fewest crossings. */
function orderLayers(layers, vertices) {
  const position = new Map();
  const index = () => layers.forEach((ids) => ids.forEach((id, i) => position.set(id, i)));
  index();
  let best = layers.map((ids) => ids.slice());
  let bestCrossings = countCrossings(layers, vertices, position);

  const sortBy = (ids, neighbours) => {
    const bary = new Map();
    ids.forEach((id, i) => {
      const ns = neighbours(vertices.get(id));
      // A node with no neighbours on that side keeps its place.
      bary.set(id, ns.length ? ns.reduce((sum, n) => sum + position.get(n), 0) / ns.length : i);
    });
    ids.sort((a, b) => bary.get(a) - bary.get(b) || position.get(a) - position.get(b));
    ids.forEach((id, i) => position.set(id, i));
  };

  for (let sweep = 0; sweep < ORDER_SWEEPS && bestCrossings > 0; sweep += 1) {
    if (sweep % 2 === 0) {
      for (let l = 1; l < layers.length; l += 1) sortBy(layers[l], (v) => v.up);
    } else {
      for (let l = layers.length - 2; l >= 0; l -= 1) sortBy(layers[l], (v) => v.down);
    }
    const crossings = countCrossings(layers, vertices, position);
    if (crossings < bestCrossings) {
      bestCrossings = crossings;
      best = layers.map((ids) => ids.slice());
    }
  }
  best.forEach((ids, l) => {
    layers[l] = ids;
  });
}

/** Crossings between each pair of adjacent layers (pairwise; fine for the sizes drawn). */
function countCrossings(layers, vertices, position) {
  let total = 0;
  for (let l = 0; l + 1 < layers.length; l += 1) {
    const segments = [];
    for (const id of layers[l]) {
      for (const d of vertices.get(id).down) segments.push([position.get(id), position.get(d)]);
    }
    for (let i = 0; i < segments.length; i += 1) {
      for (let j = i + 1; j < segments.length; j += 1) {
        const [a1, b1] = segments[i];
        const [a2, b2] = segments[j];
        if ((a1 - a2) * (b1 - b2) < 0) total += 1;
      }
    }
  }
  return total;
}

/** Centre y of every vertex: stacked per layer, then pulled towards neighbours. */
function placeVertically(layers, vertices) {
  const y = new Map();
  // Minimum distance between the centres of consecutive vertices of a layer.
  const offsets = layers.map((ids) => {
    const out = [0];
    for (let i = 1; i < ids.length; i += 1) {
      const a = vertices.get(ids[i - 1]);
      const b = vertices.get(ids[i]);
      out.push(out[i - 1] + (a.height + b.height) / 2 + NODE_GAP);
    }
    return out;
  });
  const tallest = Math.max(0, ...offsets.map((o) => o[o.length - 1] ?? 0));
  layers.forEach((ids, l) => {
    const start = (tallest - (offsets[l][offsets[l].length - 1] ?? 0)) / 2;
    ids.forEach((id, i) => y.set(id, start + offsets[l][i]));
  });

  const settle = (l, neighbours) => {
    const ids = layers[l];
    const desired = ids.map((id) => {
      const ns = neighbours(vertices.get(id));
      return ns.length ? ns.reduce((s, n) => s + y.get(n), 0) / ns.length : y.get(id);
    });
    // y_i = z_i + offset_i with z non-decreasing keeps order and spacing; the best such z in the
    // least-squares sense is the isotonic regression of (desired_i - offset_i).
    const z = isotonic(desired.map((d, i) => d - offsets[l][i]));
    ids.forEach((id, i) => y.set(id, z[i] + offsets[l][i]));
  };
  for (let sweep = 0; sweep < PLACE_SWEEPS; sweep += 1) {
    if (sweep % 2 === 0) {
      for (let l = 1; l < layers.length; l += 1) settle(l, (v) => v.up);
    } else {
      for (let l = layers.length - 2; l >= 0; l -= 1) settle(l, (v) => v.down);
    }
  }
  return y;
}

/** Pool-adjacent-violators: the non-decreasing sequence closest to `values` (least squares). */
function isotonic(values) {
  const blocks = []; // {sum, count}
  for (const v of values) {
    blocks.push({ sum: v, count: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1];
      const a = blocks[blocks.length - 2];
      if (a.sum / a.count <= b.sum / b.count) break;
      blocks.splice(-2, 2, { sum: a.sum + b.sum, count: a.count + b.count });
    }
  }
  return blocks.flatMap((b) => Array(b.count).fill(b.sum / b.count));
}
