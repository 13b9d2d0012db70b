// The chat page's behaviour (markup from qa/page/reply.py, conversation.py and panel.py). Clicks on markers, cards and buttons in the
// conversation and the source panel go to Python as JSON through a hidden textbox and button; the
// rest (scrolling to a new answer, focus, announcements, copying) happens here.
(() => {
  const $ = (s, root = document) => root.querySelector(s);
  const $$ = (s, root = document) => Array.from(root.querySelectorAll(s));
  const state = {lastAnswer: 0, lastTurns: 0, opener: null, wantPanel: false, panelKey: '', zoom: false};

  function announce(text) {
    let live = document.getElementById('qa-announce');
    if (!live) {
      live = document.createElement('div');
      live.id = 'qa-announce';
      live.className = 'qa-sr';
      live.setAttribute('role', 'status');
      live.setAttribute('aria-live', 'polite');
      document.body.appendChild(live);
    }
    live.textContent = '';
    setTimeout(() => { live.textContent = text; }, 30);
  }

  function send(payload) {
    const box = $('#qa-bridge textarea, #qa-bridge input');
    const btn = $('#qa-bridge-btn');
    if (!box || !btn) return;
    box.value = JSON.stringify(payload);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => btn.click(), 30);
  }

  function scroller(el) {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (/(auto|scroll)/.test(s.overflowY) && p.scrollHeight > p.clientHeight + 1) return p;
    }
    return document.scrollingElement || document.documentElement;
  }

  function bringToTop(el) {
    // the top of el just below the sticky question bar
    const bar = $('#qa-askbar');
    const barH = bar ? bar.getBoundingClientRect().height : 0;
    const box = scroller(el);
    const top = el.getBoundingClientRect().top;
    const boxTop = box === document.scrollingElement || box === document.documentElement ? 0 : box.getBoundingClientRect().top;
    box.scrollTop += top - boxTop - barH - 8;
  }

  function setOpen(open) {
    document.body.classList.toggle('qa-panel-open', open);
  }

  function question() { return $('#qa-question textarea'); }

  function copyText(text, what) {
    const done = () => announce(what + ' copied.');
    const fallback = () => {
      const t = document.createElement('textarea');
      t.value = text; t.setAttribute('readonly', ''); t.style.position = 'fixed'; t.style.opacity = '0';
      document.body.appendChild(t); t.select();
      try { document.execCommand('copy'); } catch (e) { /* nothing more to try */ }
      t.remove(); done();
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
    window.qaLastCopy = text;
  }

  function openSource(turn, n, el) {
    $$('.qa-active').forEach(x => x.classList.remove('qa-active'));
    if (el) { el.classList.add('qa-active'); state.opener = el; }
    state.wantPanel = true;
    setOpen(true);
    const shown = $('#qa-panel .qa-panel');
    if (shown && shown.dataset.turn === String(turn) && shown.dataset.n === String(n) && $('#qa-doc-text')) {
      state.wantPanel = false;
      setTimeout(() => { focusPassage(); $('#qa-panel-label')?.focus({preventScroll: true});
        announce(`Showing ${$('#qa-panel-label').textContent}.`); }, 30);
      return;
    }
    send({action: 'open', turn: Number(turn), n: Number(n)});
  }

  function focusPassage() {
    const box = document.getElementById('qa-doc-text');
    const el = document.getElementById('qa-focus');
    if (!box || !el) return;
    box.scrollTop += el.getBoundingClientRect().top - box.getBoundingClientRect().top - 40;
    const zoomed = document.querySelector('#qa-page-zoom.qa-zoomed');  // and across, on a zoomed page
    if (zoomed) zoomed.scrollLeft = el.offsetLeft - 16;
    const r = box.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight - 60) box.scrollIntoView({block: 'start'});
  }

  function zoomPage(btn, on, say = true) {
    // the page view at twice its width inside a box that scrolls sideways; the boxes are placed in fractions
    // of the page, so they stay on their text. Kept while the panel is open, as pages are stepped through.
    const box = document.getElementById('qa-page-zoom');
    if (!box || !btn) return;
    state.zoom = on;
    box.classList.toggle('qa-zoomed', on);
    btn.setAttribute('aria-pressed', String(on));
    if (on) box.setAttribute('tabindex', '0'); else box.removeAttribute('tabindex');  // a scroll box keys can reach
    focusPassage();  // the answering sentence in view, across as well as down
    if (say) announce(on ? 'Page zoomed to twice its width: scroll sideways to read across it.' : 'Page fitted to the panel.');
  }

  document.addEventListener('click', (e) => {
    const t = e.target.closest ? e.target : e.target.parentElement;
    if (!t) return;
    if (t.closest('#qa-page-zoom .qa-page')) {  // a tap on the page zooms it, or back
      const z = $('#qa-panel .qa-zoom');
      if (z) zoomPage(z, z.getAttribute('aria-pressed') !== 'true');
      return;
    }
    const cite = t.closest('a.qa-cite, a.qa-show');
    if (cite) {
      e.preventDefault(); e.stopPropagation();
      openSource(cite.dataset.turn, cite.dataset.n, cite);
      return;
    }
    const ex = t.closest('.qa-example');
    if (ex) {
      const q = question();
      if (!q) return;
      q.value = ex.dataset.ask;
      q.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(() => $('#qa-ask').click(), 30);
      return;
    }
    const b = t.closest('[data-action]');
    if (!b) return;
    const act = b.dataset.action, turn = b.dataset.turn;
    if (act === 'open') { openSource(turn, b.dataset.n, null); }
    else if (act === 'highlight') { focusPassage(); }
    else if (act === 'zoom') { zoomPage(b, b.getAttribute('aria-pressed') !== 'true'); }
    else if (act === 'newest') {
      e.preventDefault();
      const turns = $$('#qa-chat .qa-turn');
      const last = turns[turns.length - 1];
      const target = last && (last.querySelector('.qa-answer, .qa-error, .qa-pending') || last);
      if (!target) { question()?.focus(); announce('No answer yet: ask a question.'); return; }
      target.setAttribute('tabindex', '-1');
      bringToTop(last);
      target.focus({preventScroll: true});
    }
    else if (act === 'page') {
      state.wantPanel = true;
      const msg = {action: 'page', turn: Number(turn), n: Number(b.dataset.n), view: b.dataset.view || 'page'};
      if (b.dataset.page !== undefined) msg.page = Number(b.dataset.page);
      send(msg);
    }
    else if (act === 'close') {
      setOpen(false); state.wantPanel = false; state.zoom = false; send({action: 'close'});
      if (state.opener && document.contains(state.opener)) state.opener.focus(); else question()?.focus();
      announce('Source closed.');
    }
    else if (act === 'copy') { copyText(b.dataset.md || '', 'Answer'); }
    else if (act === 'copy-all') {
      const text = $$('#qa-chat .qa-turn').map(x => x.dataset.text || '').filter(Boolean).join('\n---\n\n');
      copyText(text, 'Conversation');
    }
    else if (act === 'clear') { setOpen(false); state.lastAnswer = 0; state.lastTurns = 0; send({action: 'clear'}); question()?.focus(); }
    else if (act === 'helpful') { b.disabled = true; send({action: 'helpful', turn: Number(turn)}); announce('Thank you: saved as helpful.'); }
    else if (act === 'why') {
      const form = document.getElementById('qa-why-' + turn);
      if (!form) return;
      form.hidden = !form.hidden;
      b.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden) form.querySelector('input')?.focus();
    }
    else if (act === 'not-helpful') {
      const form = b.closest('form');
      const reason = form?.querySelector('input[type=radio]:checked')?.value || null;
      const comment = form?.querySelector('textarea')?.value || '';
      send({action: 'not-helpful', turn: Number(turn), reason, comment});
      announce('Thank you: saved as not helpful.');
    }
    else if (act === 'search-all') { send({action: 'search-all', turn: Number(turn)}); }
    else if (act === 'more') {
      const q = b.parentElement.querySelector('.qa-q');
      const open = q.classList.toggle('qa-clamped') === false;
      b.textContent = open ? 'Show less' : 'Show more';
      b.setAttribute('aria-expanded', String(open));
    }
  }, true);

  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('qa-panel-open')) {
      const close = $('#qa-panel .qa-close');
      if (close) close.click(); else setOpen(false);
    }
  });

  // tooltips near the right edge open leftwards
  document.addEventListener('focusin', place, true);
  document.addEventListener('mouseover', place, true);
  function place(e) {
    const c = e.target.closest && e.target.closest('.qa-cite-wrap');
    if (!c) return;
    const tip = c.querySelector('.qa-tip');
    if (!tip) return;
    const r = c.getBoundingClientRect();
    tip.classList.toggle('qa-tip-right', r.left > window.innerWidth / 2);
  }

  function onChange() {
    // a new answer (or error) arrived: bring its turn (question, then reply) into view and say so
    const turns = $$('#qa-chat .qa-turn');
    const last = turns[turns.length - 1];
    if (!turns.length) { state.lastAnswer = 0; state.lastTurns = 0; }
    if (last) {
      const n = Number(last.dataset.turn);
      const pending = !!last.querySelector('.qa-pending');
      if (pending && n > state.lastTurns) {
        state.lastTurns = n;
        bringToTop(last);
      } else if (!pending && n > state.lastAnswer) {
        state.lastAnswer = n; state.lastTurns = Math.max(state.lastTurns, n);
        bringToTop(last);  // the reader's own question stays in view, just above its answer
        const level = last.querySelector('.qa-level');
        const err = last.querySelector('.qa-error');
        announce(err ? err.textContent : `Answer ${n} ready${level ? ': ' + level.textContent : ''}.`);
        setOpen(false);
      }
    }
    // the source panel: opened on request -> scroll to the passage, move focus, announce
    const panel = $('#qa-panel .qa-panel');
    if (panel) {
      const key = (panel.dataset.turn || '') + '/' + (panel.dataset.n || '') + '/' + (panel.dataset.source || '') + '/' + panel.textContent.length;
      const hasDoc = !!panel.querySelector('#qa-doc-text') || !!panel.querySelector('.qa-panel-error');
      if (key !== state.panelKey) {
        state.panelKey = key;
        if (hasDoc && state.wantPanel) {
          state.wantPanel = false;
          setOpen(true);
          if (state.zoom) zoomPage(panel.querySelector('.qa-zoom'), true, false);
          setTimeout(() => {
            focusPassage();
            const label = document.getElementById('qa-panel-label');
            const title = panel.querySelector('.qa-doc-title');
            (label || panel.querySelector('.qa-panel-error'))?.focus?.({preventScroll: true});
            announce(`Showing ${label ? label.textContent : 'source'}${title ? ': ' + title.textContent : ''}.`);
          }, 30);
        } else if (!hasDoc && !state.wantPanel) {
          setOpen(false);
        }
      }
    }
  }

  let scheduled = false;
  const observer = new MutationObserver(() => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; onChange(); });
  });

  function start() {
    const q = question();
    if (!q || !$('#qa-chat')) { setTimeout(start, 50); return; }
    q.setAttribute('aria-label', 'Your question');
    q.focus();
    announce('');
    observer.observe(document.body, {childList: true, subtree: true, characterData: true});
    window.qaReady = true;
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
