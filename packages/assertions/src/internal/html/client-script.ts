/**
 * The timeline page's script, inlined into the page. Plain ES2017 with no dependencies: it reads
 * the model from the `timeline-data` block, draws only the columns in view (so a trace of
 * thousands of events stays light), and shows an event's full text on hover and on click. All
 * text goes in through `textContent`, never through markup.
 */

/** The page script. */
export const TIMELINE_SCRIPT = String.raw`
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('timeline-data').textContent);
  var AXIS = 20, LANE = 24, GAP = 10, SPAN = 22, ROW = 22, HEAD = 18, PAD = 8, LIST_ROW = 18, TAIL = 4;
  var W = 24;
  var dimOthers = true;
  var sel = -1;
  var L = null;
  var byQ = {};
  var markOf = {};
  D.events.forEach(function (e, i) { byQ[e.q] = i; });
  D.marks.forEach(function (m) { if (!(m.q in markOf)) markOf[m.q] = m; });
  var labels = document.querySelector('.tl-labels');
  var scroll = document.querySelector('.tl-scroll');
  var canvas = document.querySelector('.tl-canvas');
  var listScroll = document.querySelector('.list-scroll');
  var listCanvas = document.querySelector('.list-canvas');
  var detail = document.getElementById('detail');
  var tip = document.getElementById('tip');

  function el(cls, x, y, w, h, text) {
    var d = document.createElement('div');
    d.className = cls;
    d.style.left = x + 'px';
    d.style.top = y + 'px';
    if (w !== null) d.style.width = w + 'px';
    if (h !== null) d.style.height = h + 'px';
    if (text !== null) d.textContent = text;
    return d;
  }
  function X(c) { return PAD + c * W; }

  function layout() {
    var y = AXIS;
    var laneY = D.lanes.map(function (_, i) { return y + i * LANE; });
    y += D.lanes.length * LANE + GAP;
    var invHeadY = y;
    y += HEAD + 4;
    var ends = [];
    var right = X(D.cols + TAIL);
    // Rows are packed by bar, plus some room for the label; a label is cut (with its full text
    // on hover) where the next bar of its row begins.
    var lastInRow = [];
    var labelRoom = D.spans.map(function () { return Infinity; });
    var spanRow = D.spans.map(function (s, i) {
      var x0 = X(s.c0);
      var x1 = Math.max(X(s.c1), x0 + Math.min(s.label.length * 6.7 + 12, 200));
      right = Math.max(right, x0 + s.label.length * 6.7 + 12);
      var r = 0;
      while (r < ends.length && ends[r] > x0) r++;
      ends[r] = x1 + 6;
      if (lastInRow[r] !== undefined) labelRoom[lastInRow[r]] = x0 - X(D.spans[lastInRow[r]].c0) - 10;
      lastInRow[r] = i;
      return r;
    });
    var spanY = y;
    y += Math.max(1, ends.length) * SPAN + GAP;
    var stateHeadY = y;
    y += HEAD + 4;
    var rowY = D.rows.map(function (_, i) { return y + i * ROW; });
    y += Math.max(D.rows.length, 1) * ROW + PAD;
    var flagEnd = -1e9;
    var fullFlag = D.marks.map(function (m) {
      var x = X(m.c) + W / 2 + 4;
      if (x < flagEnd) return false;
      flagEnd = x + (m.rule.length + 14) * 6.7;
      return true;
    });
    return { fullFlag: fullFlag, labelRoom: labelRoom, laneY: laneY, invHeadY: invHeadY, spanY: spanY, spanRow: spanRow, stateHeadY: stateHeadY, rowY: rowY,
      height: y, width: right + 40 };
  }

  function drawStatic() {
    L = layout();
    labels.textContent = '';
    canvas.textContent = '';
    canvas.style.width = L.width + 'px';
    canvas.style.height = L.height + 'px';
    labels.style.height = L.height + 'px';
    var h = el('group', 0, 0, null, AXIS, 'step');
    labels.appendChild(h);
    D.lanes.forEach(function (t, i) {
      var d = el('lane', 0, L.laneY[i], null, LANE, null);
      var n = document.createElement('span');
      n.textContent = t.name;
      var k = document.createElement('span');
      k.className = 'kind';
      k.textContent = t.kind;
      d.appendChild(n);
      d.appendChild(k);
      d.title = t.name + ' (' + t.kind + ')';
      labels.appendChild(d);
      canvas.appendChild(el('lane-bg' + (i % 2 ? ' odd' : ''), 0, L.laneY[i], null, LANE, null));
    });
    labels.appendChild(el('group', 0, L.invHeadY, null, HEAD, 'invalidations'));
    canvas.appendChild(el('section-h', 0, L.invHeadY, null, HEAD, null));
    var focus = D.focus ? 'va ' + D.focus.va + (D.focus.mm === null ? '' : ' \u00b7 mm ' + D.focus.mm) : 'no address';
    labels.appendChild(el('group focus', 0, L.stateHeadY, null, HEAD, focus));
    canvas.appendChild(el('section-h', 0, L.stateHeadY, null, HEAD, D.focus ? null : 'the violation names no address: no page state to show'));
    D.rows.forEach(function (r, i) {
      var d = el('row', 0, L.rowY[i], null, ROW, r.label);
      d.title = r.label;
      labels.appendChild(d);
    });
    var dyn = document.createElement('div');
    dyn.className = 'dyn';
    dyn.style.left = '0px';
    dyn.style.top = '0px';
    canvas.appendChild(dyn);
  }

  function render() {
    var dyn = canvas.querySelector('.dyn');
    var a = scroll.scrollLeft, b = a + scroll.clientWidth;
    var c0 = Math.max(0, Math.floor((a - PAD) / W) - 2);
    var c1 = Math.ceil((b - PAD) / W) + 2;
    var f = document.createDocumentFragment();
    var lastX = -1e9;
    D.steps.forEach(function (s) {
      var x = X(s[0]);
      if (s[0] < c0 - 40 || s[0] > c1) return;
      if (W >= 6) f.appendChild(el('stepline', x, AXIS, null, L.height - AXIS, null));
      if (x - lastX >= 40) {
        f.appendChild(el('tick', x, 0, null, null, String(s[1])));
        lastX = x;
      }
    });
    D.spans.forEach(function (s, i) {
      if (s.c1 < c0 || s.c0 > c1) return;
      var x0 = X(s.c0), w = Math.max(X(s.c1) - x0, 3);
      f.appendChild(el('lane-inv', x0, L.laneY[s.l], w, LANE, null));
      var d = el('span' + (s.blockable ? '' : ' nb') + (s.open ? ' open' : '') + (s.r || !dimOthers ? '' : ' dim'),
        x0, L.spanY + L.spanRow[i] * SPAN, w, null, null);
      var cw = s.cs >= 0 ? X(s.cs) - x0 : w;
      d.appendChild(el('cb', 0, 0, cw, null, null));
      if (s.cs >= 0) d.appendChild(el('chg', cw, 0, w - cw, null, null));
      var lbl = el('lbl', 4, 0, null, null, s.label);
      if (L.labelRoom[i] !== Infinity) lbl.style.maxWidth = Math.max(L.labelRoom[i], w - 8) + 'px';
      d.appendChild(lbl);
      d.setAttribute('data-q', s.q);
      d.setAttribute('data-tip', s.label + (s.open ? '\n(never ended in this trace)' : '') +
        '\nlight: start callbacks running; dark: entries may change');
      f.appendChild(d);
    });
    D.rows.forEach(function (r, i) {
      r.segs.forEach(function (g) {
        if (g.c1 < c0 || g.c0 > c1) return;
        var end = g.c1 >= D.cols ? D.cols + TAIL : g.c1;
        var d = el('seg ' + g.cls, X(g.c0) + 1, L.rowY[i] + 2, Math.max(X(end) - X(g.c0) - 2, 2), null, g.text);
        d.setAttribute('data-tip', r.label + ': ' + g.text + (g.cls.indexOf('stale') >= 0 ? '\nthe CPU entry no longer allows this translation' : ''));
        f.appendChild(d);
      });
    });
    for (var c = c0; c <= c1 && c < D.events.length; c++) {
      var e = D.events[c];
      var cls = 'ev cat-' + e.k + (e.r || !dimOthers || markOf[e.q] ? '' : ' dim') + (markOf[e.q] ? ' viol-ev' : '') + (e.q === sel ? ' sel' : '');
      var d = el(cls, X(c) + 1, L.laneY[e.l] + 3, W - 2, null, W >= 16 ? e.g : '');
      d.setAttribute('data-q', e.q);
      d.setAttribute('data-tip', 'step ' + e.s + '  ' + e.t);
      f.appendChild(d);
    }
    if (D.cols <= c1) {
      var endMark = el('trace-end', X(D.cols), AXIS, null, L.height - AXIS, null);
      endMark.setAttribute('data-tip', 'end of the trace');
      f.appendChild(endMark);
      f.appendChild(el('tick', X(D.cols), 0, null, null, 'end'));
    }
    D.marks.forEach(function (m, i) {
      if (m.c < c0 - 60 || m.c > c1) return;
      var x = X(m.c) + W / 2;
      f.appendChild(el('vline', x - 1, AXIS, null, L.height - AXIS, null));
      var flag = L.fullFlag[i]
        ? el('vflag', x + 4, 1, null, null, '\u2717 ' + m.rule + ' \u00b7 step ' + m.step)
        : el('vmark', x + 2, 1, null, null, '\u2717');
      flag.setAttribute('data-q', m.q);
      flag.setAttribute('data-tip', m.rule + ': ' + m.explanation);
      f.appendChild(flag);
    });
    dyn.textContent = '';
    dyn.appendChild(f);
  }

  function renderList() {
    var n = D.events.length;
    listCanvas.style.height = n * LIST_ROW + 'px';
    var a = Math.max(0, Math.floor(listScroll.scrollTop / LIST_ROW) - 5);
    var b = Math.min(n, Math.ceil((listScroll.scrollTop + listScroll.clientHeight) / LIST_ROW) + 5);
    var f = document.createDocumentFragment();
    for (var i = a; i < b; i++) {
      var e = D.events[i];
      var d = el('li' + (markOf[e.q] ? ' viol' : '') + (e.q === sel ? ' sel' : '') + (e.r || !dimOthers ? '' : ' dim'), 0, i * LIST_ROW, null, null, null);
      var st = document.createElement('span');
      st.className = 'st';
      st.textContent = String(e.s);
      var tk = document.createElement('span');
      tk.className = 'tk';
      tk.textContent = D.lanes[e.l].name;
      d.appendChild(st);
      d.appendChild(tk);
      d.appendChild(document.createTextNode((markOf[e.q] ? '\u25b6 ' : '') + e.t));
      d.setAttribute('data-q', e.q);
      f.appendChild(d);
    }
    listCanvas.textContent = '';
    listCanvas.appendChild(f);
  }

  function showDetail(e) {
    detail.textContent = '';
    var t = document.createElement('div');
    t.className = 'text';
    t.textContent = e.t;
    var meta = document.createElement('div');
    meta.className = 'meta';
    var lane = D.lanes[e.l];
    meta.textContent = 'step ' + e.s + ' \u00b7 seq ' + e.q + ' \u00b7 task ' + lane.name + ' (' + lane.kind + ') \u00b7 ' + e.y;
    detail.appendChild(t);
    detail.appendChild(meta);
    var m = markOf[e.q];
    if (m) {
      var v = document.createElement('p');
      v.className = 'viol-note';
      v.textContent = '\u2717 ' + m.rule + ': ' + m.explanation;
      detail.appendChild(v);
    }
    var table = document.createElement('table');
    e.f.forEach(function (kv) {
      var tr = document.createElement('tr');
      var k = document.createElement('td');
      k.textContent = kv[0];
      var v2 = document.createElement('td');
      v2.textContent = kv[1];
      tr.appendChild(k);
      tr.appendChild(v2);
      table.appendChild(tr);
    });
    detail.appendChild(table);
  }

  function select(q, reveal) {
    var i = byQ[q];
    if (i === undefined) return;
    sel = q;
    var e = D.events[i];
    showDetail(e);
    if (reveal) {
      var x = X(e.c);
      if (x < scroll.scrollLeft + 40 || x > scroll.scrollLeft + scroll.clientWidth - 40)
        scroll.scrollLeft = Math.max(0, x - scroll.clientWidth / 2);
      var top = i * LIST_ROW;
      if (top < listScroll.scrollTop || top > listScroll.scrollTop + listScroll.clientHeight - LIST_ROW)
        listScroll.scrollTop = Math.max(0, top - listScroll.clientHeight / 2);
    }
    render();
    renderList();
  }

  function zoom(to) {
    var centre = sel >= 0 ? D.events[byQ[sel]].c : Math.floor((scroll.scrollLeft + scroll.clientWidth / 2 - PAD) / W);
    W = Math.max(3, Math.min(60, Math.round(to)));
    drawStatic();
    scroll.scrollLeft = Math.max(0, X(centre) - scroll.clientWidth / 2);
    render();
  }

  canvas.addEventListener('click', function (ev) {
    var t = ev.target.closest('[data-q]');
    if (t) select(Number(t.getAttribute('data-q')), false);
  });
  listCanvas.addEventListener('click', function (ev) {
    var t = ev.target.closest('[data-q]');
    if (t) select(Number(t.getAttribute('data-q')), true);
  });
  document.querySelectorAll('[data-goto]').forEach(function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      select(Number(a.getAttribute('data-goto')), true);
      document.getElementById('timeline').scrollIntoView({ block: 'start' });
    });
  });
  canvas.addEventListener('mouseover', function (ev) {
    var t = ev.target.closest('[data-tip]');
    if (!t) { tip.style.display = 'none'; return; }
    tip.textContent = t.getAttribute('data-tip');
    tip.style.display = 'block';
  });
  canvas.addEventListener('mousemove', function (ev) {
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
    tip.style.top = ev.clientY + 16 + 'px';
  });
  canvas.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  document.querySelectorAll('[data-zoom]').forEach(function (b) {
    b.addEventListener('click', function () {
      var z = b.getAttribute('data-zoom');
      zoom(z === 'in' ? W * 1.5 : z === 'out' ? W / 1.5 : (scroll.clientWidth - 2 * PAD) / Math.max(D.cols, 1));
    });
  });
  var dimBox = document.getElementById('dim');
  dimBox.addEventListener('change', function () { dimOthers = dimBox.checked; render(); renderList(); });
  document.addEventListener('keydown', function (ev) {
    if (ev.target && /INPUT|TEXTAREA|SELECT/.test(ev.target.tagName)) return;
    if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
    var i = sel >= 0 ? byQ[sel] : -1;
    var j = ev.key === 'ArrowRight' ? i + 1 : i - 1;
    if (j >= 0 && j < D.events.length) { ev.preventDefault(); select(D.events[j].q, true); }
  });
  var pending = false;
  function schedule(fn) {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; fn(); });
  }
  scroll.addEventListener('scroll', function () { schedule(render); });
  listScroll.addEventListener('scroll', function () { renderList(); });
  window.addEventListener('resize', function () { schedule(render); });

  // Start as wide as fits the window (readable glyphs), but never narrower than 12 px a column.
  W = Math.max(12, Math.min(36, Math.floor((scroll.clientWidth - 2 * PAD) / Math.max(D.cols + TAIL, 1))));
  drawStatic();
  render();
  renderList();
  if (D.marks.length > 0) select(D.marks[0].q, true);
  document.body.setAttribute('data-ready', '1');
})();
`;
