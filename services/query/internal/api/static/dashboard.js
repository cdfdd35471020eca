// toptraffic dashboard: polls the history routes for the last full minute and hour and draws
// each ranking as bars. No framework and no build step; the service embeds this file as is.
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const TICK_MS = 1000;

  const panels = ['minute', 'hour'].map(function (size) {
    const el = document.getElementById(size);
    const field = function (name) { return el.querySelector('[data-field="' + name + '"]'); };
    return {
      size: size,
      url: '/api/stats/' + size,
      bars: field('bars'),
      bounds: field('bounds'),
      state: field('state'),
      partitions: field('partitions'),
      freshness: field('freshness'),
      empty: field('empty'),
      // age is the X-Snapshot-Age of the last answer, in seconds, and ageAt the
      // performance.now() it was read at, so the age keeps counting between refreshes.
      age: null,
      ageAt: 0,
    };
  });
  const statusEl = document.getElementById('status');

  // parseStats reads an answer keeping every count exact: counts can exceed 2^53, which a
  // plain JSON.parse would round. Browsers that pass the source text to the reviver give the
  // digits as they are; others fall back to the (possibly rounded) number.
  function parseStats(text) {
    return JSON.parse(text, function (key, value, context) {
      if (key === 'count') {
        return context && typeof context.source === 'string' ? context.source : String(value);
      }
      return value;
    });
  }

  // formatCount groups digits in threes: 1234567 -> 1,234,567.
  function formatCount(digits) {
    return /^\d+$/.test(digits) ? digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : digits;
  }

  // formatBounds writes a window as "2020-12-16 10:21 – 10:22 UTC" (seconds are always 0).
  function formatBounds(start, end) {
    const s = new Date(start).toISOString();
    const e = new Date(end).toISOString();
    return s.slice(0, 10) + ' ' + s.slice(11, 16) + ' – ' +
      (e.slice(0, 10) === s.slice(0, 10) ? '' : e.slice(0, 10) + ' ') + e.slice(11, 16) + ' UTC';
  }

  // formatAge writes seconds as "4 s", "3 min 20 s" or "2 h 5 min".
  function formatAge(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }

  function setChip(el, text, tone) {
    el.textContent = text;
    if (tone) el.dataset.tone = tone; else delete el.dataset.tone;
  }

  // drawBars replaces a panel's bars with the ranking, widths relative to the first entry.
  function drawBars(panel, top) {
    const max = top.length > 0 ? Number(top[0].count) : 0;
    const rows = top.map(function (entry, i) {
      const li = document.createElement('li');
      li.className = 'bar';
      li.dataset.domain = entry.domain;
      li.dataset.count = entry.count;
      li.title = entry.domain + ': ' + formatCount(entry.count) + ' requests';

      const rank = document.createElement('span');
      rank.className = 'rank';
      rank.textContent = String(i + 1);
      const domain = document.createElement('span');
      domain.className = 'domain';
      domain.textContent = entry.domain;
      const track = document.createElement('span');
      track.className = 'track';
      const fill = document.createElement('span');
      fill.className = 'fill';
      const share = max > 0 ? Number(entry.count) / max : 0;
      fill.style.width = Math.max(share * 100, 0.5).toFixed(2) + '%';
      track.appendChild(fill);
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = formatCount(entry.count);

      li.append(rank, domain, track, count);
      return li;
    });
    panel.bars.replaceChildren(...rows);
    panel.empty.hidden = top.length > 0;
  }

  function drawFreshness(panel) {
    if (panel.age === null) {
      setChip(panel.freshness, 'no snapshot yet', null);
      return;
    }
    const age = panel.age + (performance.now() - panel.ageAt) / 1000;
    setChip(panel.freshness, 'newest snapshot ' + formatAge(age) + ' old', null);
  }

  function draw(panel, body, response) {
    panel.bounds.textContent = formatBounds(body.start, body.end);
    if (body.partitions === 0) {
      setChip(panel.state, 'no traffic', null);
    } else if (body.final) {
      setChip(panel.state, 'final', 'final');
    } else {
      setChip(panel.state, 'open: may still change', 'open');
    }
    setChip(panel.partitions,
      body.partitions + (body.partitions === 1 ? ' partition' : ' partitions') + ' with data',
      null);
    const age = parseFloat(response.headers.get('X-Snapshot-Age'));
    panel.age = Number.isFinite(age) ? age : null;
    panel.ageAt = performance.now();
    drawFreshness(panel);
    drawBars(panel, body.top);
  }

  // load fetches one panel's window and reports 'live', 'warming' or 'error'.
  async function load(panel) {
    let response;
    try {
      response = await fetch(panel.url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (err) {
      return 'error';
    }
    if (response.status === 503) return 'warming';
    if (!response.ok) return 'error';
    try {
      draw(panel, parseStats(await response.text()), response);
    } catch (err) {
      return 'error';
    }
    return 'live';
  }

  function showStatus(states) {
    const now = new Date().toISOString().slice(11, 19);
    if (states.includes('error')) {
      statusEl.dataset.state = 'error';
      statusEl.textContent = 'Cannot reach the query service; retrying';
    } else if (states.includes('warming')) {
      statusEl.dataset.state = 'warming';
      statusEl.textContent = 'Query service is loading snapshots…';
    } else {
      statusEl.dataset.state = 'live';
      statusEl.textContent = 'Live · updated ' + now + ' UTC';
    }
  }

  // refresh loads both panels, then schedules the next refresh, so slow answers never pile up.
  async function refresh() {
    const states = await Promise.all(panels.map(load));
    showStatus(states);
    setTimeout(refresh, REFRESH_MS);
  }

  setInterval(function () { panels.forEach(drawFreshness); }, TICK_MS);
  refresh();
})();
