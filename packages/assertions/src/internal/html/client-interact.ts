/**
 * The second half of the timeline page's script: the trace list, the selected event's details,
 * hover text, zoom, the dimming checkbox and keyboard stepping. A fragment of the function body
 * that {@link TIMELINE_SCRIPT} wraps, after client-draw.ts.
 */

/** Interaction (a fragment of the page script's body). */
export const INTERACT_SCRIPT = String.raw`
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

  // reveal: true scrolls the timeline and the trace list to the event; 'list' only the list (a
  // click on the timeline, where the event already is in view).
  function select(q, reveal) {
    var i = byQ[q];
    if (i === undefined) return;
    sel = q;
    var e = D.events[i];
    showDetail(e);
    if (reveal) {
      var x = X(e.c);
      if (reveal === true && (x < scroll.scrollLeft + 40 || x > scroll.scrollLeft + scroll.clientWidth - 40))
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
    if (t) select(Number(t.getAttribute('data-q')), 'list');
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
`;
