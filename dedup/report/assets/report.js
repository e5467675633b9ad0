"use strict";
// Builds the groups from the JSON data block, a screenful at a time as the reader
// scrolls (a report of 10k pairs opens at once). Text from the corpus is only ever
// set as textContent, never parsed as markup.
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const main = document.getElementById("groups");
  const more = document.getElementById("more");
  const shown = document.getElementById("shown");
  const slider = document.getElementById("min-sim");
  const sliderValue = document.getElementById("min-sim-value");
  const BATCH = 40;
  let visible = [];
  let rendered = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function where(loc) {
    const [path, paragraph, start, end] = loc;
    return path + (paragraph === null ? "" : " ¶" + paragraph) + " [" + start + ":" + end + "]";
  }

  // Relation filter: one checkbox per relation found (none when pairs carry none).
  const relBox = document.getElementById("relations");
  if (data.relations.length === 0) {
    relBox.appendChild(el("span", "muted", "all"));
  }
  for (const rel of data.relations) {
    const label = el("label");
    const box = el("input");
    box.type = "checkbox"; box.value = rel; box.checked = true;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + rel));
    relBox.appendChild(label);
  }

  function checked(id) {
    return new Set(Array.from(document.querySelectorAll("#" + id + " input:checked"), (b) => b.value));
  }

  function pairShown(p, kinds, rels, min) {
    return kinds.has(p.kind) && p.sim >= min - 1e-9 && (p.rel === null || rels.has(p.rel));
  }

  // A check's page says which side is the stored text and which the incoming one.
  function sideName(i) {
    return data.sides ? data.sides[i] + ": " : "";
  }

  function side(runs, loc, cls) {
    const box = el("div", "side " + cls);
    box.appendChild(el("span", "where loc", sideName(cls === "a" ? 0 : 1) + where(loc)));
    runs.forEach((run, i) => {
      if (!run) return;
      if (i % 2 === 1) box.appendChild(el(cls === "a" ? "del" : "ins", null, run));
      else box.appendChild(document.createTextNode(run));  // runs carry their own spaces
    });
    return box;
  }

  function pairNode(p) {
    const node = el("div", "pair");
    node.dataset.kind = p.kind;
    node.dataset.similarity = p.sim;
    if (p.rel) node.dataset.relation = p.rel;
    const scores = el("div", "scores");
    const inside = p.rel === "contained" ? Math.round(100 * Math.max(p.cont[0], p.cont[1])) + " % contained · " : "";
    scores.appendChild(el("span", "sim", p.exact ? "exact copy" : inside + "similarity " + p.sim.toFixed(2)));
    scores.appendChild(document.createTextNode(
      " · containment " + p.cont[0].toFixed(2) + " / " + p.cont[1].toFixed(2) + " · estimate " + p.est.toFixed(2) +
      (p.exact ? "" : " · " + (p.hunks === 0 ? "same words" : p.hunks + " differing place" + (p.hunks === 1 ? "" : "s")))));
    if (p.rel && p.rel !== "near-duplicate") { scores.appendChild(document.createTextNode(" · ")); scores.appendChild(el("span", "rel", p.rel)); }
    node.appendChild(scores);
    const sides = el("div", "sides");
    sides.appendChild(side(p.left, p.a, "a"));
    sides.appendChild(side(p.right, p.b, "b"));
    node.appendChild(sides);
    return node;
  }

  function groupNode(entry, number) {
    const g = entry.group;
    const node = el("article", "group");
    node.dataset.kind = g.kind;
    const head = el("header");
    head.appendChild(el("span", "kind", g.kind));
    const what = g.relation === "contained" ? "a shorter text inside a longer one"
      : g.relation === "boilerplate" ? "boilerplate: in " + g.documents + " documents, " + g.size + " copies"
      : g.size + " copies";
    head.appendChild(el("span", "size", "#" + number + " · " + what));
    const list = el("ul", "members");
    g.members.forEach((m, i) => {
      const item = el("li", i === 0 && g.relation !== "contained" ? "canonical" : null);
      item.appendChild(el("span", "loc", sideName(m[5]) + where(m)));
      if (m[4] !== null && m[4] !== undefined) item.appendChild(document.createTextNode(" · " + m[4].toFixed(2)));
      list.appendChild(item);
    });
    head.appendChild(list);
    if (g.size > g.members.length) head.appendChild(el("div", "more", "… and " + (g.size - g.members.length) + " more copies"));
    node.appendChild(head);
    if (g.relation === "boilerplate") {
      const text = el("div", "side boilerplate", g.text);
      node.appendChild(text);
    }
    for (const p of entry.pairs) node.appendChild(pairNode(p));
    if (g.more_pairs) node.appendChild(el("div", "more", "… and " + g.more_pairs + " more pairs in the JSON report"));
    return node;
  }

  function renderMore() {
    const stop = Math.min(visible.length, rendered + BATCH);
    const frag = document.createDocumentFragment();
    for (; rendered < stop; rendered++) frag.appendChild(groupNode(visible[rendered], rendered + 1));
    main.appendChild(frag);
    more.textContent = rendered < visible.length ? "scroll for more (" + (visible.length - rendered) + " groups)" : "";
  }

  function apply() {
    const kinds = checked("kinds"), rels = checked("relations"), min = parseFloat(slider.value);
    sliderValue.textContent = min.toFixed(2);
    visible = [];
    let pairs = 0;
    for (const g of data.groups) {
      if (!kinds.has(g.kind) || (g.relation && !rels.has(g.relation))) continue;
      const ps = g.pairs.filter((p) => pairShown(p, kinds, rels, min));
      if (ps.length === 0 && g.pairs.length > 0) continue;
      visible.push({ group: g, pairs: ps });
      pairs += ps.length;
    }
    main.textContent = "";
    rendered = 0;
    renderMore();
    shown.textContent = visible.length + " groups, " + pairs + " pairs shown";
    document.body.dataset.groups = visible.length;
    document.body.dataset.pairs = pairs;
  }

  function verdictTable() {
    if (!data.verdicts) return;
    const box = document.getElementById("verdicts");
    box.appendChild(el("h2", null, "Verdicts"));
    const table = el("table", "verdicts");
    // The action column only for an add (a check decides nothing); a similarity only beside a match.
    const adding = data.verdicts.some((v) => "action" in v);
    const head = el("tr");
    for (const h of ["document", "verdict", ...(adding ? ["action"] : []), "reason", "matched", "similarity"]) {
      head.appendChild(el("th", null, h));
    }
    table.appendChild(head);
    for (const v of data.verdicts) {
      const row = el("tr");
      row.appendChild(el("td", "loc", v.path));
      row.appendChild(el("td", "verdict v-" + v.verdict.replaceAll(" ", "-"), v.verdict));
      if (adding) row.appendChild(el("td", "verdict", v.action || ""));
      row.appendChild(el("td", null, v.reason || ""));
      row.appendChild(el("td", "loc", v.matched || ""));
      row.appendChild(el("td", "num", v.matched ? v.similarity.toFixed(2) : ""));
      table.appendChild(row);
    }
    box.appendChild(table);
  }

  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && rendered < visible.length) renderMore();
    }, { rootMargin: "800px" }).observe(more);
  } else {
    more.addEventListener("click", renderMore);
  }
  document.getElementById("controls").addEventListener("input", apply);
  verdictTable();
  apply();
})();
