// distil annotate: the whole UI. No framework, no build step, no network beyond this server.
// Every piece of data is written with textContent (never innerHTML), so a text holding markup
// shows as characters.
//
// Sections: offsets (code points <-> UTF-16), tokens (span snapping), labels (ranking and the
// fuzzy filter), the key queue, rendering, answers, keys.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token") || "";
  let session = params.get("session") || "";
  let state = null;       // the last /api/state reply
  let wantPass = params.get("pass") || "";
  let wantExample = params.get("example") || ""; // shown first when still open (first load only)
  let edit = null;        // the correction being edited: {labels:Set} or {spans:[...]}
  let spanLabel = null;   // the current label in span mode
  let revising = null;    // a history entry whose card is shown again to change its answer
  let ranked = [];        // the card's options, best first (fixed while the card is shown)
  let shownAt = 0;        // when the card was shown (performance.now())
  const filter = { open: false, query: "", cursor: -1 };
  const recent = [];      // labels picked on earlier cards, the latest first
  const history = [];     // this page's answers, the latest first: {card, answer, output}
  const seconds = [];     // seconds per card of this page's answers (for the estimate)
  const HISTORY = 8, SHOWN = 9;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const current = () => (revising ? revising.card : state && state.card);
  const same = (a, b) => !!a && !!b && a.pass === b.pass && a.example_id === b.example_id;

  // -- offsets: the server counts code points (Python's str), the DOM counts UTF-16 code units.
  // Every offset that crosses the boundary goes through these maps, both ways.
  const mapCache = new Map();
  function offsets(text) {
    let m = mapCache.get(text);
    if (m) return m;
    const chars = Array.from(text);               // one entry per code point
    const toUnit = new Array(chars.length + 1);   // code point -> code unit
    const toPoint = new Array(text.length + 1);   // code unit -> code point (floor)
    let unit = 0;
    chars.forEach((ch, point) => {
      toUnit[point] = unit;
      for (let k = 0; k < ch.length; k++) toPoint[unit + k] = point;
      unit += ch.length;
    });
    toUnit[chars.length] = unit;
    toPoint[unit] = chars.length;
    m = { chars, toUnit, toPoint };
    if (mapCache.size > 64) mapCache.clear();
    mapCache.set(text, m);
    return m;
  }
  // A code unit offset as a code point offset; one inside a surrogate pair rounds out.
  function pointOf(m, unit, roundUp) {
    const p = m.toPoint[unit];
    return roundUp && m.toUnit[p] < unit ? p + 1 : p;
  }

  // -- tokens: selections snap to whole tokens. A token is a run of letters, marks and digits
  // (so "José" with a combining accent is one token), one CJK character, or one other symbol
  // with the marks and zero-width joiners that belong to it (an emoji sequence, a flag). Whitespace
  // separates tokens and is never part of one.
  const WORD = /^[\p{L}\p{M}\p{N}\p{Pc}]$/u;
  const SOLO = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;
  const JOINS = /^[\p{M}\u200d\ufe0f]$/u;
  const FLAG = /^\p{Regional_Indicator}$/u;
  const SPACE = /^\s$/u;
  function tokens(chars) {
    const out = [];
    let i = 0;
    while (i < chars.length) {
      if (SPACE.test(chars[i])) { i++; continue; }
      let j = i + 1;
      if (WORD.test(chars[i]) && !SOLO.test(chars[i])) {
        while (j < chars.length && WORD.test(chars[j]) && !SOLO.test(chars[j])) j++;
      } else {
        if (FLAG.test(chars[i]) && FLAG.test(chars[j] || "")) j++; // a flag: two regional indicators
        while (j < chars.length && (JOINS.test(chars[j]) || chars[j - 1] === "\u200d")) j++;
      }
      out.push([i, j]);
      i = j;
    }
    return out;
  }
  // [start, end) in code points, widened to the tokens it cuts (unless exact) and trimmed.
  function snapped(chars, start, end, exact) {
    if (!exact) {
      for (const [a, b] of tokens(chars)) {
        if (a < start && start < b) start = a;
        if (a < end && end < b) end = b;
      }
    }
    while (start < end && SPACE.test(chars[start])) start++;
    while (end > start && SPACE.test(chars[end - 1])) end--;
    return [start, end];
  }

  // -- labels: a correction card's options, ranked, the first nine on keys 1-9, and a fuzzy
  // filter over all of them.
  // Nine labels or fewer keep the task's order, so every label keeps its key from card to card.
  function rankOptions(card) {
    if (card.options.length <= SHOWN) return card.options.slice();
    const scores = card.scores || {};
    const order = new Map(card.options.map((l, i) => [l, i]));
    const seen = (l) => { const i = recent.indexOf(l); return i < 0 ? recent.length : i; };
    // An exclusive fix card exists because its teacher label was rejected: that label goes last.
    const rejected = new Set(card.mode === "choice" && card.suggestion && card.suggestion.labels || []);
    return card.options.slice().sort((a, b) =>
      (rejected.has(a) - rejected.has(b)) ||
      ((scores[b] ?? -1) - (scores[a] ?? -1)) ||
      (seen(a) - seen(b)) ||
      (order.get(a) - order.get(b)));
  }

  const norm = (s) => s.toLowerCase().replace(/[\s_\-./:]+/g, " ");
  // How well `query` matches `label` as a subsequence (null: not at all). Matches at the start
  // of the label or of a word score more, and so do contiguous runs; gaps cost a little.
  function fuzzy(query, label) {
    const q = norm(query), t = norm(label), n = q.length, m = t.length;
    if (!n) return 0;
    if (n > m) return null;
    const starts = (j) => j === 0 || t[j - 1] === " ";
    let prev = new Array(m).fill(-Infinity);
    for (let j = 0; j < m; j++) if (t[j] === q[0]) prev[j] = j === 0 ? 6 : starts(j) ? 4 : 0;
    for (let i = 1; i < n; i++) {
      const cur = new Array(m).fill(-Infinity);
      let far = -Infinity; // the best match of q[i-1] at least two characters back
      for (let j = 1; j < m; j++) {
        if (j >= 2) far = Math.max(far, prev[j - 2]);
        if (t[j] !== q[i]) continue;
        cur[j] = Math.max(prev[j - 1] + 5, far - 1) + (starts(j) ? 4 : 0);
      }
      prev = cur;
    }
    const best = Math.max(...prev);
    return best === -Infinity ? null : best;
  }

  // The options shown now: the top nine of the ranking, or the best nine matches of the query.
  function shownOptions() {
    if (!filter.query) return ranked.slice(0, SHOWN);
    const hits = [];
    ranked.forEach((label, i) => {
      const score = fuzzy(filter.query, label);
      if (score !== null) hits.push([score, i, label]);
    });
    hits.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return hits.slice(0, SHOWN).map((h) => h[2]);
  }
  const matchCount = () => ranked.filter((l) => fuzzy(filter.query, l) !== null).length;

  function resetFilter() { filter.open = false; filter.query = ""; filter.cursor = -1; }

  function remember(label) {
    const i = recent.indexOf(label);
    if (i >= 0) recent.splice(i, 1);
    recent.unshift(label);
    if (recent.length > 50) recent.pop();
  }

  // -- the key queue: every key and click is applied in order, one at a time, against the card
  // that is showing when its turn comes. Nothing is dropped while an answer is in flight; when an
  // answer fails, the keys queued behind it are not applied (they were meant for later cards)
  // and the status line says how many.
  const pending = [];
  let pumping = false;
  function enqueue(task) {
    pending.push(task);
    showPending();
    pump();
  }
  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      while (pending.length) {
        const task = pending.shift();
        try {
          await task();
        } catch (err) {
          const dropped = pending.length;
          pending.length = 0;
          status(err.message + (dropped ? " (" + dropped + " queued key(s) not applied)" : ""), true);
        }
        showPending();
      }
    } finally {
      pumping = false;
      showPending();
    }
  }
  function showPending() {
    const n = pending.length + (pumping ? 1 : 0);
    $("pending").textContent = n > 1 ? (n - 1) + " key(s) queued" : "";
  }
  // A click acts on the card it was rendered for, or not at all.
  function onCard(card, fn) { return () => enqueue(() => { if (same(card, current())) return fn(); }); }

  // This tab's id: the server leases the card it shows us, so the session's other tabs get
  // other cards (kept across reloads of this tab in sessionStorage).
  const client = (() => {
    let id = null;
    try { id = window.sessionStorage.getItem("distil-client"); } catch (err) { id = null; }
    if (!id) {
      const bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      try { window.sessionStorage.setItem("distil-client", id); } catch (err) { /* private mode */ }
    }
    return id;
  })();

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json", "X-Distil-Client": client };
    if (token) headers["X-Distil-Token"] = token;
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      throw new Error(detail || ("HTTP " + response.status));
    }
    return data;
  }

  function query() {
    const q = new URLSearchParams();
    if (session) q.set("session", session);
    if (wantPass) q.set("pass", wantPass);
    if (wantExample) q.set("example", wantExample);
    wantExample = "";
    return q.toString();
  }

  function status(message, isError) {
    const node = $("status");
    node.textContent = message || "";
    node.className = isError ? "status error" : "status";
  }

  async function load() { show(await api("GET", "/api/state?" + query())); }

  function show(next) {
    state = next;
    session = next.session;
    wantPass = next.pass || "";
    revising = null;
    startCard(next.card, null);
  }

  // Prepare the edit of `card`; `previous` is the answer being revised (or null).
  function startCard(card, previous) {
    edit = null;
    resetFilter();
    ranked = card ? rankOptions(card) : [];
    const out = previous && previous.output;
    if (card && card.mode === "spans") {
      const spans = out && out.spans ? out.spans : (card.suggestion && card.suggestion.spans || []);
      edit = { spans: spans.map((s) => ({ ...s })) };
      if (!spanLabel || !card.options.includes(spanLabel)) spanLabel = card.options[0];
    } else if (card && card.mode === "multi") {
      const labels = out && out.labels ? out.labels : (card.suggestion ? card.suggestion.labels : []);
      edit = { labels: new Set(labels) };
    }
    shownAt = performance.now();
    render();
  }

  // -- rendering
  function renderPasses() {
    const nav = $("passes");
    nav.replaceChildren();
    for (const p of state.passes) {
      const b = el("button", "", p.name + " " + p.done + "/" + p.total);
      b.dataset.pass = p.name;
      b.title = p.title;
      if (p.name === state.pass) b.classList.add("active");
      if (p.remaining === 0) b.classList.add("empty");
      b.addEventListener("click", () => enqueue(() => switchTo(p.name)));
      nav.appendChild(b);
    }
  }

  function renderProgress() {
    const left = state.passes.reduce((n, p) => n + p.remaining, 0);
    const p = state.passes.find((x) => x.name === state.pass);
    const fill = $("progress-fill");
    fill.style.width = p && p.total ? (100 * p.done / p.total).toFixed(1) + "%" : "100%";
    const parts = [];
    if (p) parts.push(p.done + " of " + p.total + " done in " + p.name);
    parts.push(left + " card(s) left in all passes");
    const median = medianSeconds();
    if (median === null) parts.push("an estimate comes after your first answers");
    else parts.push("about " + duration(left * median) + " left at " + median.toFixed(1) + " s/card (median)");
    $("progress-text").textContent = parts.join(" · ");
  }

  function medianSeconds() {
    if (!seconds.length) return null;
    const s = seconds.slice(-50).sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }
  function duration(s) {
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function renderHistory() {
    const box = $("history");
    box.replaceChildren();
    if (!history.length) return;
    box.appendChild(el("span", "history-title", "recent:"));
    history.forEach((h) => {
      const b = el("button", "past " + h.answer, mark(h.answer) + " " + snippet(h.card.text));
      b.dataset.example = h.card.example_id;
      b.dataset.pass = h.card.pass;
      b.title = h.card.pass + ": " + h.answer + (h.output ? " " + describe(h.output, h.card) : "") + " (click to revise)";
      if (revising === h) b.classList.add("active");
      b.addEventListener("click", () => enqueue(() => revise(h)));
      box.appendChild(b);
    });
  }
  const mark = (answer) => ({ accept: "✓", reject: "✗", ignore: "–", correct: "✎" }[answer] || answer);
  function snippet(text) {
    const chars = Array.from(text.replace(/\s+/g, " ").trim());
    return chars.length > 24 ? chars.slice(0, 23).join("") + "…" : chars.join("");
  }

  function labelClass(label) {
    const i = state.task.labels.indexOf(label);
    return "ent l" + (i % 4);
  }

  // Spans are in code points; each piece records its start in UTF-16 code units (data-start),
  // the DOM's own unit, for reading selections back.
  function renderText(card, spans, clickable) {
    const box = $("text");
    box.replaceChildren();
    const m = offsets(card.text);
    let pos = 0;
    const ordered = (spans || []).slice().sort((a, b) => a.start - b.start || a.end - b.end);
    for (const s of ordered) {
      if (s.start < pos || s.end > m.chars.length) continue; // overlapping spans: the first only
      if (s.start > pos) box.appendChild(piece(card.text, m, pos, s.start));
      const node = piece(card.text, m, s.start, s.end);
      node.className = labelClass(s.label);
      node.dataset.label = s.label;
      if (clickable) node.addEventListener("click", (ev) => { ev.stopPropagation(); onCard(card, () => clickSpan(s))(); });
      box.appendChild(node);
      pos = s.end;
    }
    if (pos < m.chars.length) box.appendChild(piece(card.text, m, pos, m.chars.length));
  }

  function piece(text, m, start, end) {
    const node = el("span", "", text.slice(m.toUnit[start], m.toUnit[end]));
    node.dataset.start = String(m.toUnit[start]);
    return node;
  }

  function spanText(card, s) {
    return offsets(card.text).chars.slice(s.start, s.end).join("");
  }

  function describe(output, card) {
    if (!output) return "";
    if (output.kind === "categories") return output.labels.join(", ") || "(no label)";
    return output.spans.length + " span(s): " +
      output.spans.map((s) => spanText(card, s) + " [" + s.label + "]").join("; ");
  }

  // What the student says about this card's question.
  function studentSays(card) {
    const out = card.student;
    if (!out) return null;
    if (out.kind === "categories") {
      if (card.mode === "binary" && card.label) return out.labels.includes(card.label) ? card.label : "not " + card.label;
      return out.labels.join(", ") || "(no label)";
    }
    const spans = out.spans.filter((s) => card.mode !== "binary" || !card.label || s.label === card.label);
    return spans.length ? spans.map((s) => spanText(card, s) + " [" + s.label + "]").join("; ") : "no entity";
  }

  // An extract record's slot values the teacher gave that are not in the text (they cannot be
  // shown as spans): listed under the claim, so the annotator knows what the spans leave out.
  function renderNotInText(card, claim) {
    const missing = card.not_in_text || [];
    if (!missing.length) return;
    const line = el("div", "not-in-text");
    line.appendChild(document.createTextNode("Teacher also said (not in the text): "));
    missing.forEach((m, i) => {
      if (i) line.appendChild(document.createTextNode("; "));
      const item = el("span", "missing", m.field + " = \u201c" + m.value + "\u201d");
      item.title = m.why;
      line.appendChild(item);
    });
    claim.appendChild(line);
  }

  function option(key, text, cls, onClick) {
    const b = el("button", "option" + (cls ? " " + cls : ""));
    b.appendChild(el("span", "key", key));
    b.appendChild(document.createTextNode(text));
    b.dataset.label = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function button(cls, text, onClick) {
    const b = el("button", cls, text);
    b.addEventListener("click", onClick);
    return b;
  }

  // The ranked options with keys 1-9, the filter line, and (multi) the labels ticked so far.
  function renderLabels(card, isSelected, pick) {
    const options = $("options");
    const shown = shownOptions();
    if (filter.cursor >= shown.length) filter.cursor = shown.length - 1;
    shown.forEach((label, i) => {
      const cls = [isSelected(label) ? "selected" : "", i === filter.cursor ? "cursor" : ""].join(" ").trim();
      options.appendChild(option(String(i + 1), label, cls, onCard(card, () => pick(label))));
    });
    const box = $("filter");
    box.replaceChildren();
    if (filter.open || filter.query) {
      box.appendChild(el("span", "prompt", "search: "));
      box.appendChild(el("span", "query", filter.query));
      box.appendChild(el("span", "caret", "▏"));
      const n = matchCount();
      box.appendChild(el("span", "hint", " " + n + " of " + ranked.length + " labels match · ↑↓ move · enter picks · esc clears"));
    } else if (ranked.length > SHOWN) {
      box.appendChild(el("span", "hint", (ranked.length - SHOWN) + " more label(s): type to search (or /)"));
    }
    if (card.mode === "multi") {
      const chosen = ranked.filter((l) => edit.labels.has(l));
      const line = $("chosen");
      line.appendChild(el("span", "hint", chosen.length ? "ticked: " : "no label ticked"));
      for (const l of chosen) line.appendChild(button("chip", l + " ×", onCard(card, () => toggle(l))));
    }
  }

  function render() {
    $("who").textContent = "session: " + session;
    $("queue").textContent = (state.queue && state.queue.notice) || "";
    renderPasses();
    renderProgress();
    renderHistory();
    const card = current();
    const actions = $("actions"), claim = $("claim"), meta = $("meta");
    for (const node of [$("options"), actions, claim, meta, $("filter"), $("chosen")]) node.replaceChildren();
    $("card").dataset.mode = card ? card.mode : "done";
    $("card").classList.toggle("revising", !!revising);
    if (!card) { renderDone(); return; }
    const p = state.passes.find((x) => x.name === card.pass);
    $("pass-title").textContent = revising
      ? "Revising your answer in " + card.pass + " (was: " + revising.answer + "; esc goes back)"
      : "Pass " + card.pass + ": " + card.title + (p ? " (" + p.done + " of " + p.total + " done)" : "");
    $("card").dataset.example = card.example_id;
    $("card").dataset.pass = card.pass;
    meta.appendChild(document.createTextNode("example " + card.example_id +
      (card.confidence !== null ? " · teacher confidence " + card.confidence.toFixed(2) : "") +
      (card.trust !== null && card.trust !== undefined ? " · trust " + card.trust.toFixed(2) : "")));
    if (card.label_issue) meta.appendChild(el("span", "flag", "likely label issue"));
    if (card.disagree) {
      meta.appendChild(el("span", "flag", "student disagrees"));
      const says = studentSays(card);
      if (says !== null) {
        const line = el("div", "student");
        line.appendChild(document.createTextNode("Student says: "));
        line.appendChild(el("span", "label", says));
        meta.appendChild(line);
      }
    }

    const ignore = button("ignore", "Ignore (space)", onCard(card, () => send("ignore")));
    const undoButton = button("undo", "Undo ⌫", () => enqueue(undo));
    if (card.mode === "binary") {
      claim.appendChild(document.createTextNode("Teacher says: "));
      claim.appendChild(el("span", "label", card.claim));
      renderNotInText(card, claim);
      renderText(card, card.suggestion && card.suggestion.spans, false);
      actions.append(button("accept", "Accept (a)", onCard(card, () => send("accept"))),
        button("reject", "Reject (x)", onCard(card, () => send("reject"))), ignore, undoButton);
    } else if (card.mode === "choice") {
      claim.appendChild(document.createTextNode("Teacher said: " + describe(card.suggestion, card) + ". Pick the right label:"));
      renderText(card, [], false);
      renderLabels(card, () => false, choose);
      actions.append(ignore, undoButton);
    } else if (card.mode === "multi") {
      claim.appendChild(document.createTextNode("Toggle every label that applies, then Enter:"));
      renderText(card, [], false);
      renderLabels(card, (l) => edit.labels.has(l), toggle);
      actions.append(button("accept", "Submit (enter)", onCard(card, submitEdit)), ignore, undoButton);
    } else if (card.mode === "spans") {
      claim.appendChild(document.createTextNode("Select text to add a "));
      claim.appendChild(el("span", "label", spanLabel));
      claim.appendChild(document.createTextNode(" span (it snaps to whole words; hold Alt for exact); click a span to remove or relabel it; Enter submits."));
      renderNotInText(card, claim);
      renderText(card, edit.spans, true);
      renderLabels(card, (l) => l === spanLabel, pickSpanLabel);
      actions.append(button("accept", "Submit (enter)", onCard(card, submitEdit)), ignore, undoButton);
    } else if (card.mode === "review") {
      claim.appendChild(document.createTextNode("Annotators disagree. Pick the answer that is right:"));
      renderText(card, [], false);
      (card.review_options || []).forEach((opt, i) => $("options").appendChild(option(String(i + 1),
        opt.annotators.join(", ") + ": " + (opt.output ? describe(opt.output, card) : opt.answer), "",
        onCard(card, () => pickReview(opt)))));
      actions.append(ignore, undoButton);
    }
  }

  function renderDone() {
    $("pass-title").textContent = "All done";
    delete $("card").dataset.example;
    const box = $("text");
    box.replaceChildren(el("p", "done", "Every pass is finished for session " + session + "."));
    const next = el("div", "next");
    next.appendChild(el("p", "", "Next, train the student on your answers (with the config you started distil annotate with):"));
    next.appendChild(el("pre", "command", "distil train CONFIG"));
    next.appendChild(el("p", "", "then compare it with the teacher on the gold set:"));
    next.appendChild(el("pre", "command", "distil evaluate CONFIG"));
    next.appendChild(el("p", "help", "Undo (⌫) brings your last card back; click a recent answer above to revise it."));
    box.appendChild(next);
    $("actions").appendChild(button("undo", "Undo ⌫", () => enqueue(undo)));
  }

  // -- answers
  async function send(answer, output) {
    const card = current();
    if (!state || !card) return;
    const body = { session, pass: card.pass, example_id: card.example_id, answer };
    if (output) body.output = output;
    const took = (performance.now() - shownAt) / 1000;
    // The next card is shown only from the reply, i.e. after the answer is committed.
    const next = await api("POST", "/api/answer", body);
    seconds.push(took);
    const stored = next.stored || {};
    history.unshift({ card, answer: stored.answer || answer, output: stored.output || output || null });
    if (history.length > HISTORY) history.pop();
    status("saved " + answer + " for " + card.example_id);
    show(next);
  }

  async function undo() {
    const next = await api("POST", "/api/undo", { session, pass: wantPass });
    if (next.undone) {
      const i = history.findIndex((h) => h.card.example_id === next.undone.example_id && h.card.pass === next.undone.pass);
      if (i >= 0) history.splice(i, 1);
    }
    status(next.undone ? "undid the answer for " + next.undone.example_id : "nothing to undo");
    show(next);
  }

  // Show a past card again; the next answer to it is a new event that replaces the old one.
  function revise(entry) {
    revising = entry;
    startCard(entry.card, entry);
    status("revising " + entry.card.example_id + " (was " + entry.answer + ")");
  }

  async function switchTo(name) {
    wantPass = name;
    await load();
  }

  // `[` and `]`: the previous or next pass that has cards left.
  async function stepPass(step) {
    const names = state.passes.filter((p) => p.remaining > 0).map((p) => p.name);
    if (!names.length) { status("no pass has cards left"); return; }
    const at = names.indexOf(state.pass);
    const i = at < 0 ? (step > 0 ? 0 : names.length - 1) : (at + step + names.length) % names.length;
    if (names[i] === state.pass && !revising) { status("no other pass has cards left"); return; }
    await switchTo(names[i]);
  }

  function choose(label) { remember(label); return send("correct", { labels: [label] }); }

  function toggle(label) {
    if (edit.labels.has(label)) edit.labels.delete(label);
    else { edit.labels.add(label); remember(label); }
    resetFilter();
    render();
  }

  function pickSpanLabel(label) { spanLabel = label; remember(label); resetFilter(); render(); }

  function pickReview(opt) {
    return opt.output ? send("correct", opt.output) : send(opt.answer);
  }

  function submitEdit() {
    const card = current();
    if (card.mode === "multi") {
      return send("correct", { labels: card.options.filter((l) => edit.labels.has(l)) });
    } else if (card.mode === "spans") {
      return send("correct", { spans: edit.spans.slice().sort((a, b) => a.start - b.start) });
    }
  }

  function clickSpan(span) {
    const i = edit.spans.findIndex((s) => s.start === span.start && s.end === span.end && s.label === span.label);
    if (i < 0) return;
    if (span.label === spanLabel) edit.spans.splice(i, 1);
    else edit.spans[i] = { start: span.start, end: span.end, label: spanLabel };
    render();
  }

  // UTF-16 offset of a (node, offset) selection point inside the text box.
  function unitOf(node, offset) {
    const holder = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (holder === $("text")) {
      const child = holder.childNodes[Math.min(offset, holder.childNodes.length - 1)];
      if (!child) return null;
      const base = Number(child.dataset.start);
      return offset >= holder.childNodes.length ? base + child.textContent.length : base;
    }
    if (!holder || holder.dataset.start === undefined) return null;
    return Number(holder.dataset.start) + (node.nodeType === Node.TEXT_NODE ? offset : 0);
  }

  // Read the selection now (the DOM may change before its turn), apply it in queue order.
  function readSelection(ev) {
    const card = current();
    if (!card || card.mode !== "spans") return;
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || sel.rangeCount === 0) return;
    const range = sel.getRangeAt(0);
    if (!$("text").contains(range.commonAncestorContainer)) return;
    const a = unitOf(range.startContainer, range.startOffset);
    const b = unitOf(range.endContainer, range.endOffset);
    sel.removeAllRanges();
    if (a === null || b === null) return;
    const m = offsets(card.text);
    const [start, end] = snapped(m.chars, pointOf(m, a, false), pointOf(m, b, true), ev.altKey);
    if (end <= start) return;
    enqueue(() => {
      if (!same(card, current())) return;
      // A ner span replaces the spans it overlaps.
      edit.spans = edit.spans.filter((s) => s.end <= start || s.start >= end);
      edit.spans.push({ start, end, label: spanLabel });
      render();
    });
  }

  document.addEventListener("mouseup", readSelection);

  // -- keys
  const LABEL_MODES = new Set(["choice", "multi", "spans"]);
  // Letters with a meaning of their own in a mode; any other letter starts the label search.
  const BOUND = { choice: "x", multi: "ax", spans: "ax" };
  const HANDLED = new Set(["Enter", "Backspace", "Escape", "ArrowUp", "ArrowDown", " "]);

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey) return;
    if (ev.key.length !== 1 && !HANDLED.has(ev.key)) return;
    ev.preventDefault();
    const key = { key: ev.key, alt: ev.altKey };
    enqueue(() => handleKey(key));
  });

  // Keys that edit the label search; true when the key was one of them.
  function filterKey(card, k) {
    const shown = shownOptions();
    const searching = filter.open || filter.query;
    if (k === "Escape" && searching) { resetFilter(); render(); return true; }
    if (k === "ArrowDown" || k === "ArrowUp") {
      const n = shown.length;
      if (n) filter.cursor = k === "ArrowDown" ? Math.min(filter.cursor + 1, n - 1) : Math.max(filter.cursor - 1, 0);
      render();
      return true;
    }
    if (k === "Enter" && filter.cursor >= 0 && shown[filter.cursor]) {
      pickFrom(card, shown[filter.cursor]);
      return true;
    }
    if (k === "Backspace" && searching) {
      if (filter.query) filter.query = filter.query.slice(0, -1); else filter.open = false;
      filter.cursor = filter.query ? 0 : -1;
      render();
      return true;
    }
    if (k.length !== 1 || /^[1-9\[\]]$/.test(k)) return false;
    const letter = /^\p{L}$/u.test(k) && !BOUND[card.mode].includes(k);
    if (searching || k === "/" || letter) {
      if (k === "/" && !searching) filter.open = true; else filter.query += k;
      filter.open = true;
      filter.cursor = filter.query ? 0 : -1;
      render();
      return true;
    }
    return false;
  }

  function pickFrom(card, label) {
    if (card.mode === "choice") return choose(label);
    if (card.mode === "multi") return toggle(label);
    return pickSpanLabel(label);
  }

  async function handleKey({ key: k }) {
    if (!state) return;
    const card = current();
    const mode = card ? card.mode : "done";
    if (card && LABEL_MODES.has(mode) && filterKey(card, k)) return;
    if (k === "[" || k === "]") return stepPass(k === "]" ? 1 : -1);
    if (k === "Escape" && revising) { revising = null; startCard(state.card, null); status("back to the queue"); return; }
    if (k === "Backspace") return undo();
    if (!card) return;
    if (k === " ") return send("ignore");
    if (mode === "binary") {
      if (k === "a") return send("accept");
      if (k === "x") return send("reject");
      return;
    }
    if (k === "Enter" || (k === "a" && mode !== "choice")) return submitEdit();
    if (k === "x" && mode !== "review") return send("reject");
    if (/^[1-9]$/.test(k)) {
      const i = Number(k) - 1;
      if (mode === "review") {
        if (card.review_options && i < card.review_options.length) return pickReview(card.review_options[i]);
        return;
      }
      const shown = shownOptions();
      if (i < shown.length) return pickFrom(card, shown[i]);
    }
  }

  enqueue(load);
})();
