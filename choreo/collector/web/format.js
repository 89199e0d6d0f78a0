// Words and times as the page shows them.

import { h } from './dom.js';

/** The statuses of views.Status, in legend order, with what each means. */
export const STATUSES = {
  fresh: { label: 'fresh', help: 'built from the newest versions of its inputs, within its freshness' },
  stale: { label: 'stale', help: 'an input has a newer version than the one it was built from' },
  late: { label: 'late', help: 'older than its declared freshness' },
  failed: { label: 'failed', help: 'its latest event is a failure' },
  never_built: { label: 'never built', help: 'declared or seen as an input, but no event yet' },
};

export function statusLabel(status) {
  return STATUSES[status]?.label ?? status;
}

/** A timestamp as "2026-11-20 14:17:44", in the browser's time zone. */
export function time(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** How long ago a timestamp was: "just now", "12m 3s ago", "1d 5h ago". */
export function ago(iso) {
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 0) return 'in the future';
  if (seconds < 60) return 'just now';
  return `${duration(seconds)} ago`;
}

/** Seconds as their two largest units: "26h" reads "1d 2h". */
export function duration(seconds) {
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    } else if (parts.length) break;
  }
  return parts.join(' ') || '0s';
}

/** A data version, shortened, with the whole of it as a tooltip. */
export function versionText(version) {
  const short = version.length > 14 ? `${version.slice(0, 12)}…` : version;
  return h('code', { class: 'version', title: version }, short);
}
