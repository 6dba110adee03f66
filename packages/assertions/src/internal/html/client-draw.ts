/**
 * The first half of the timeline page's script: reading the model, laying out lanes, spans and
 * state rows, and drawing the columns in view. A fragment of the function body that
 * {@link TIMELINE_SCRIPT} wraps; the second half is in client-interact.ts.
 */

/** Layout and drawing (a fragment of the page script's body). */
export const DRAW_SCRIPT = String.raw`
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

`;
