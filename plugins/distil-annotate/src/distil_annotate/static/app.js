// distil annotate: the whole UI. No framework, no build step, no network beyond this server.
// Every piece of data is written with textContent (never innerHTML), so a text holding markup
// shows as characters.
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
  let busy = false;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers["X-Distil-Token"] = token;
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || ("HTTP " + response.status));
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

  async function load() {
    try {
      show(await api("GET", "/api/state?" + query()));
    } catch (err) {
      status(err.message, true);
    }
  }

  function show(next) {
    state = next;
    session = next.session;
    wantPass = next.pass || "";
    const card = next.card;
    edit = null;
    if (card && card.mode === "spans") {
      edit = { spans: (card.suggestion && card.suggestion.spans || []).map((s) => ({ ...s })) };
      if (!spanLabel || !card.options.includes(spanLabel)) spanLabel = card.options[0];
    } else if (card && card.mode === "multi") {
      edit = { labels: new Set(card.suggestion ? card.suggestion.labels : []) };
    }
    render();
  }

  function renderPasses() {
    const nav = $("passes");
    nav.replaceChildren();
    for (const p of state.passes) {
      const b = el("button", "", p.name + " " + p.done + "/" + p.total);
      b.dataset.pass = p.name;
      b.title = p.title;
      if (p.name === state.pass) b.classList.add("active");
      if (p.remaining === 0) b.classList.add("empty");
      b.addEventListener("click", () => { wantPass = p.name; load(); });
      nav.appendChild(b);
    }
  }

  function labelClass(label) {
    const i = state.task.labels.indexOf(label);
    return "ent l" + (i % 4);
  }

  function renderText(text, spans, clickable) {
    const box = $("text");
    box.replaceChildren();
    let pos = 0;
    const ordered = (spans || []).slice().sort((a, b) => a.start - b.start || a.end - b.end);
    for (const s of ordered) {
      if (s.start < pos) continue; // overlapping spans (spans task): show the first only
      if (s.start > pos) box.appendChild(piece(text, pos, s.start));
      const node = piece(text, s.start, s.end);
      node.className = labelClass(s.label);
      node.dataset.label = s.label;
      if (clickable) node.addEventListener("click", (ev) => { ev.stopPropagation(); clickSpan(s); });
      box.appendChild(node);
      pos = s.end;
    }
    if (pos < text.length) box.appendChild(piece(text, pos, text.length));
  }

  function piece(text, start, end) {
    const node = el("span", "", text.slice(start, end));
    node.dataset.start = String(start);
    return node;
  }

  function option(key, text, selected, onClick) {
    const b = el("button", "option" + (selected ? " selected" : ""));
    b.appendChild(el("span", "key", key));
    b.appendChild(document.createTextNode(text));
    b.addEventListener("click", onClick);
    return b;
  }

  function describe(output) {
    if (!output) return "";
    if (output.kind === "categories") return output.labels.join(", ") || "(no label)";
    return output.spans.length + " span(s): " +
      output.spans.map((s) => state.card.text.slice(s.start, s.end) + " [" + s.label + "]").join("; ");
  }

  function button(cls, text, onClick) {
    const b = el("button", cls, text);
    b.addEventListener("click", onClick);
    return b;
  }

  function render() {
    $("who").textContent = "session: " + session;
    $("queue").textContent = (state.queue && state.queue.notice) || "";
    renderPasses();
    const card = state.card;
    const options = $("options"), actions = $("actions"), claim = $("claim"), meta = $("meta");
    options.replaceChildren(); actions.replaceChildren(); claim.replaceChildren(); meta.replaceChildren();
    $("card").dataset.mode = card ? card.mode : "done";
    if (!card) {
      $("pass-title").textContent = "All done";
      $("text").replaceChildren(el("p", "done", "Every pass is finished for this session."));
      actions.appendChild(button("undo", "Undo ⌫", undo));
      return;
    }
    const p = state.passes.find((x) => x.name === card.pass);
    $("pass-title").textContent = "Pass " + card.pass + ": " + card.title + " (" + p.done + " of " + p.total + " done)";
    $("card").dataset.example = card.example_id;
    meta.appendChild(document.createTextNode("example " + card.example_id +
      (card.confidence !== null ? " · teacher confidence " + card.confidence.toFixed(2) : "") +
      (card.trust !== null && card.trust !== undefined ? " · trust " + card.trust.toFixed(2) : "")));
    if (card.label_issue) meta.appendChild(el("span", "flag", "likely label issue"));
    if (card.disagree) meta.appendChild(el("span", "flag", "student disagrees"));

    if (card.mode === "binary") {
      claim.appendChild(document.createTextNode("Teacher says: "));
      claim.appendChild(el("span", "label", card.claim));
      renderText(card.text, card.suggestion && card.suggestion.spans, false);
      actions.append(button("accept", "Accept (a)", () => send("accept")),
        button("reject", "Reject (x)", () => send("reject")),
        button("ignore", "Ignore (space)", () => send("ignore")),
        button("undo", "Undo ⌫", undo));
    } else if (card.mode === "choice") {
      claim.appendChild(document.createTextNode("Teacher said: " + describe(card.suggestion) + ". Pick the right label:"));
      renderText(card.text, [], false);
      card.options.forEach((label, i) => options.appendChild(
        option(String(i + 1), label, false, () => choose(label))));
      actions.append(button("ignore", "Ignore (space)", () => send("ignore")), button("undo", "Undo ⌫", undo));
    } else if (card.mode === "multi") {
      claim.appendChild(document.createTextNode("Toggle every label that applies, then Enter:"));
      renderText(card.text, [], false);
      card.options.forEach((label, i) => options.appendChild(
        option(String(i + 1), label, edit.labels.has(label), () => toggle(label))));
      actions.append(button("accept", "Submit (enter)", submitEdit),
        button("ignore", "Ignore (space)", () => send("ignore")), button("undo", "Undo ⌫", undo));
    } else if (card.mode === "spans") {
      claim.appendChild(document.createTextNode("Select text to add a "));
      claim.appendChild(el("span", "label", spanLabel));
      claim.appendChild(document.createTextNode(" span; click a span to remove or relabel it; Enter submits."));
      renderText(card.text, edit.spans, true);
      card.options.forEach((label, i) => options.appendChild(
        option(String(i + 1), label, label === spanLabel, () => { spanLabel = label; render(); })));
      actions.append(button("accept", "Submit (enter)", submitEdit),
        button("ignore", "Ignore (space)", () => send("ignore")), button("undo", "Undo ⌫", undo));
    } else if (card.mode === "review") {
      claim.appendChild(document.createTextNode("Annotators disagree. Pick the answer that is right:"));
      renderText(card.text, [], false);
      (card.review_options || []).forEach((opt, i) => options.appendChild(option(String(i + 1),
        opt.annotators.join(", ") + ": " + (opt.output ? describe(opt.output) : opt.answer), false,
        () => pickReview(opt))));
      actions.append(button("ignore", "Ignore (space)", () => send("ignore")), button("undo", "Undo ⌫", undo));
    }
  }

  async function send(answer, output) {
    if (busy || !state || !state.card) return;
    busy = true;
    const card = state.card;
    try {
      const body = { session, pass: card.pass, example_id: card.example_id, answer };
      if (output) body.output = output;
      // The next card is shown only from the reply, i.e. after the answer is committed.
      const next = await api("POST", "/api/answer", body);
      status("saved " + answer + " for " + card.example_id);
      show(next);
    } catch (err) {
      status(err.message, true);
    } finally {
      busy = false;
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const next = await api("POST", "/api/undo", { session, pass: wantPass });
      status(next.undone ? "undid the answer for " + next.undone.example_id : "nothing to undo");
      show(next);
    } catch (err) {
      status(err.message, true);
    } finally {
      busy = false;
    }
  }

  function choose(label) { send("correct", { labels: [label] }); }

  function toggle(label) {
    if (edit.labels.has(label)) edit.labels.delete(label); else edit.labels.add(label);
    render();
  }

  function pickReview(opt) {
    if (opt.output) send("correct", opt.output); else send(opt.answer);
  }

  function submitEdit() {
    const card = state.card;
    if (card.mode === "multi") {
      send("correct", { labels: card.options.filter((l) => edit.labels.has(l)) });
    } else if (card.mode === "spans") {
      send("correct", { spans: edit.spans.slice().sort((a, b) => a.start - b.start) });
    }
  }

  function clickSpan(span) {
    const i = edit.spans.findIndex((s) => s.start === span.start && s.end === span.end && s.label === span.label);
    if (i < 0) return;
    if (span.label === spanLabel) edit.spans.splice(i, 1);
    else edit.spans[i] = { start: span.start, end: span.end, label: spanLabel };
    render();
  }

  // Character offset of a (node, offset) selection point inside the text box.
  function offsetOf(node, offset) {
    let holder = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (holder === $("text")) {
      const child = holder.childNodes[Math.min(offset, holder.childNodes.length - 1)];
      if (!child) return null;
      const base = Number(child.dataset.start);
      return offset >= holder.childNodes.length ? base + child.textContent.length : base;
    }
    if (!holder || holder.dataset.start === undefined) return null;
    return Number(holder.dataset.start) + (node.nodeType === Node.TEXT_NODE ? offset : 0);
  }

  function addSelection() {
    if (!state || !state.card || state.card.mode !== "spans") return;
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || sel.rangeCount === 0) return;
    const range = sel.getRangeAt(0);
    if (!$("text").contains(range.commonAncestorContainer)) return;
    let start = offsetOf(range.startContainer, range.startOffset);
    let end = offsetOf(range.endContainer, range.endOffset);
    if (start === null || end === null) return;
    const text = state.card.text;
    while (start < end && /\s/.test(text[start])) start++;
    while (end > start && /\s/.test(text[end - 1])) end--;
    sel.removeAllRanges();
    if (end <= start) return;
    // A ner span replaces the spans it overlaps.
    edit.spans = edit.spans.filter((s) => s.end <= start || s.start >= end);
    edit.spans.push({ start, end, label: spanLabel });
    render();
  }

  document.addEventListener("mouseup", addSelection);

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !state) return;
    const card = state.card;
    const mode = card ? card.mode : "done";
    if (ev.key === "Backspace") { ev.preventDefault(); undo(); return; }
    if (!card) return;
    if (ev.key === " ") { ev.preventDefault(); send("ignore"); return; }
    if (mode === "binary") {
      if (ev.key === "a") send("accept");
      else if (ev.key === "x") send("reject");
      return;
    }
    if (ev.key === "Enter" || ev.key === "a") { ev.preventDefault(); submitEdit(); return; }
    if (ev.key === "x" && mode !== "review") { send("reject"); return; }
    if (/^[1-9]$/.test(ev.key)) {
      const i = Number(ev.key) - 1;
      if (mode === "choice" && i < card.options.length) choose(card.options[i]);
      else if (mode === "multi" && i < card.options.length) toggle(card.options[i]);
      else if (mode === "spans" && i < card.options.length) { spanLabel = card.options[i]; render(); }
      else if (mode === "review" && card.review_options && i < card.review_options.length) pickReview(card.review_options[i]);
    }
  });

  load();
})();
