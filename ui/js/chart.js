// Stacked bars per day as inline SVG (no chart library): one bar per day, one colour per group.

import { h, s } from './dom.js';
import { niceTicks } from './format.js';

const PALETTE_SIZE = 9;

/**
 * @param {{days: string[], groups: string[], series: number[][], dayTotals: number[], max: number}} data
 *   output of `stackDaily`
 * @param {{format: (v: number) => string, label: string}} opts
 */
export function stackedBars(data, opts) {
  const W = 720;
  const H = 220;
  const ticks = niceTicks(data.max);
  // room for the widest y label (11px text is about 6.5px per character)
  const labelW = Math.max(...ticks.map((t) => opts.format(t).length)) * 6.5;
  const pad = { top: 10, right: 8, bottom: 26, left: Math.ceil(labelW) + 12 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const top = ticks[ticks.length - 1] || 1;
  const n = Math.max(1, data.days.length);
  const slot = plotW / n;
  const barW = Math.max(1, Math.min(28, slot * 0.72));
  const y = (v) => pad.top + plotH - (v / top) * plotH;

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': `${opts.label} per day, stacked by group`,
  });
  for (const t of ticks) {
    svg.appendChild(s('line', { x1: pad.left, x2: W - pad.right, y1: y(t), y2: y(t), class: 'grid' }));
    svg.appendChild(s('text', { x: pad.left - 6, y: y(t) + 4, class: 'axis', 'text-anchor': 'end' }, opts.format(t)));
  }
  const labelEvery = Math.ceil(n / 8);
  data.days.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const g = s('g', { class: 'bar' });
    data.groups.forEach((group, gi) => {
      const v = data.series[gi][i];
      if (!(v > 0)) return;
      const y0 = y(base);
      const y1 = y(base + v);
      base += v;
      g.appendChild(s('rect', {
        x, y: y1, width: barW, height: Math.max(0.5, y0 - y1), class: `s${gi % PALETTE_SIZE}`,
      }, s('title', null, `${day} · ${group}: ${opts.format(v)}`)));
    });
    if (data.dayTotals[i] > 0) {
      g.appendChild(s('title', null, `${day}: ${opts.format(data.dayTotals[i])}`));
    }
    svg.appendChild(g);
    if (i % labelEvery === 0 || n <= 8) {
      svg.appendChild(s('text', { x: x + barW / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, shortDay(day)));
    }
  });
  svg.appendChild(s('line', { x1: pad.left, x2: W - pad.right, y1: y(0), y2: y(0), class: 'baseline' }));

  const legend = h('ul', { class: 'legend' }, data.groups.map((g, gi) => h('li', null,
    h('span', { class: `swatch s${gi % PALETTE_SIZE}` }), g)));
  return h('figure', { class: 'chart-wrap' }, svg, legend);
}

/** "2026-11-21" → "Nov 21". @param {string} day */
function shortDay(day) {
  const d = new Date(day + 'T00:00:00Z');
  if (Number.isNaN(d.getTime())) return day;
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}
