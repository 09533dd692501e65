// imglish web page: plain JavaScript, no build step. Talks to the JSON API under /v1.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 24;
  const state = {
    terms: [],        // the current query terms sent to /v1/search
    image: null,      // {b64, url} of a dropped/pasted image, or {id, url} for "more like this"
    cursor: null,     // next page cursor; null when the last page was reached
    loading: false,
    seq: 0,           // bumps on each new query so late pages of an old one are dropped
    shown: 0,
  };
  window.imglish = state; // for the end-to-end test and for curious users

  const key = () => localStorage.getItem("imglish.key") || "";
  $("apikey").value = key();
  $("apikey").addEventListener("change", (e) => localStorage.setItem("imglish.key", e.target.value.trim()));

  async function api(path, body) {
    const headers = { "Content-Type": "application/json" };
    if (key()) headers["Authorization"] = "Bearer " + key();
    const res = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }

  function status(msg, isError) {
    $("status").textContent = msg || "";
    $("status").className = isError ? "error" : "";
  }

  function filter() {
    const f = {};
    const folder = $("f-folder").value.trim();
    if (folder) f.path_prefix = folder;
    if ($("f-after").value) f.after = $("f-after").value + "T00:00:00Z";
    if ($("f-before").value) f.before = $("f-before").value + "T23:59:59Z";
    return f;
  }

  function buildTerms() {
    const terms = [];
    const text = $("q").value.trim();
    if (text) {
      // "beach -people": words after a minus are subtracted (query arithmetic).
      const parts = text.split(/\s+(?=-)/);
      for (const p of parts) {
        if (p.startsWith("-") && p.length > 1) terms.push({ text: p.slice(1), weight: -0.5 });
        else if (p) terms.push({ text: p, weight: 1 });
      }
    }
    if (state.image && state.image.b64) terms.push({ image: state.image.b64, weight: 1 });
    if (state.image && state.image.id) terms.push({ image_id: state.image.id, weight: 1 });
    return terms;
  }

  async function newSearch() {
    state.terms = buildTerms();
    state.cursor = null;
    state.seq++;
    state.shown = 0;
    $("grid").replaceChildren();
    if (!state.terms.length) { status(""); return; }
    await loadPage(true);
  }

  async function loadPage(first) {
    // A first page always goes out, even while an older query's page is in
    // flight: that one is dropped by the seq check when it lands. (Returning here
    // instead lost the query and left "Searching…" when filters changed quickly.)
    if (!first && (state.loading || !state.cursor)) return;
    state.loading = true;
    const seq = state.seq;
    status(first ? "Searching…" : "Loading more…");
    try {
      const body = { query: state.terms, k: PAGE, filter: filter(), sort: $("f-sort").value };
      if (!first) body.cursor = state.cursor;
      const res = await api("/v1/search", body);
      if (seq !== state.seq) return;
      for (const hit of res.hits) $("grid").appendChild(card(hit));
      state.shown += res.hits.length;
      state.cursor = res.next_cursor || null;
      status(state.shown ? `${state.shown} result${state.shown === 1 ? "" : "s"}${res.truncated ? " (truncated: the 1,000 most relevant, by date)" : ""}${state.cursor ? "" : " (end)"}` : "No results");
    } catch (err) {
      if (seq === state.seq) status(err.message, true);
    } finally {
      if (seq === state.seq) state.loading = false;
    }
    // Keep filling while the sentinel is still visible (tall screens).
    if (seq === state.seq && state.cursor && visible($("sentinel"))) loadPage(false);
  }

  function visible(el) {
    const r = el.getBoundingClientRect();
    return r.top < window.innerHeight + 200;
  }

  function card(hit) {
    const el = document.createElement("figure");
    el.className = "card";
    el.dataset.id = hit.id;
    el.dataset.path = hit.path || "";
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = hit.thumbnail_url;
    img.alt = hit.path || hit.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = hit.score.toFixed(3);
    const more = document.createElement("button");
    more.type = "button";
    more.textContent = "more like this";
    more.addEventListener("click", () => moreLikeThis(hit));
    meta.append(score, more);
    const name = document.createElement("figcaption");
    name.className = "name";
    name.textContent = (hit.path || hit.id).split("/").pop();
    name.title = hit.path || "";
    el.append(img, meta, name);
    return el;
  }

  function moreLikeThis(hit) {
    $("q").value = "";
    setImage({ id: hit.id, url: hit.thumbnail_url }, (hit.path || hit.id).split("/").pop());
    newSearch();
    window.scrollTo(0, 0);
  }

  function setImage(img, caption) {
    state.image = img;
    $("query-image").hidden = !img;
    $("classify-out").replaceChildren();
    if (img) {
      $("query-thumb").src = img.url;
      $("query-caption").textContent = "Searching by image: " + (caption || "");
    }
  }

  async function useFile(file) {
    if (!file || !file.type.startsWith("image/")) { status("Not an image: " + (file ? file.name : "?"), true); return; }
    const b64 = await new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).split(",")[1]);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
    $("q").value = ""; // a dropped image replaces the text query; type again to combine both
    setImage({ b64, url: URL.createObjectURL(file) }, file.name || "pasted image");
    await newSearch();
  }

  async function classify(ev) {
    ev.preventDefault();
    const labels = $("labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!state.image || !labels.length) return;
    const body = { labels };
    if (state.image.b64) body.image = state.image.b64; else body.image_id = state.image.id;
    try {
      const res = await api("/v1/classify", body);
      $("classify-out").replaceChildren(...res.labels.map((l) => {
        const li = document.createElement("li");
        li.dataset.label = l.label;
        const bar = document.createElement("span");
        bar.className = "p";
        bar.style.width = Math.max(2, Math.round(l.probability * 160)) + "px";
        li.append(`${l.label} — ${(l.probability * 100).toFixed(1)}%`, bar);
        return li;
      }));
    } catch (err) { status(err.message, true); }
  }

  async function pollProgress() {
    try {
      const st = await api("/v1/index/status");
      const running = (st.jobs || []).filter((j) => j.state === "running");
      const active = running.find((j) => !j.watch || (j.progress && j.progress.phase === "indexing"));
      $("progress").hidden = running.length === 0;
      if (active) {
        const j = active.progress || {};
        const total = j.walk_done ? (j.files || 0) : 0, done = (j.skipped || 0) + (j.embedded || 0) + (j.linked || 0) + (j.failed || 0);
        $("progress-fill").style.width = total ? Math.round((100 * done) / total) + "%" : "30%";
        $("progress-text").textContent = `indexing ${done}${total ? "/" + total : ""}` + (j.images_per_s ? ` · ${j.images_per_s.toFixed(1)} img/s` : "");
      } else if (running.length) {
        $("progress-fill").style.width = "100%";
        $("progress-text").textContent = `watching ${running.length} folder${running.length === 1 ? "" : "s"}`;
      }
      $("q").placeholder = `Search ${st.items ?? ""} images: describe a picture, or drop / paste an image anywhere`;
    } catch (_) { /* progress is best effort */ }
    setTimeout(pollProgress, 3000);
  }

  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); newSearch(); });
  for (const id of ["f-folder", "f-after", "f-before", "f-sort"]) $(id).addEventListener("change", newSearch);
  $("classify-form").addEventListener("submit", classify);
  $("clear-image").addEventListener("click", () => { setImage(null); newSearch(); });
  $("file").addEventListener("change", (e) => useFile(e.target.files[0]));

  let dragDepth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop-overlay").hidden = false; });
  window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop-overlay").hidden = true; } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    $("drop-overlay").hidden = true;
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) useFile(f);
  });
  window.addEventListener("paste", (e) => {
    const items = (e.clipboardData && e.clipboardData.files) || [];
    if (items.length) { e.preventDefault(); useFile(items[0]); }
  });

  new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting)) loadPage(false);
  }, { rootMargin: "200px" }).observe($("sentinel"));

  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { $("q").value = initial; newSearch(); }
  pollProgress();
})();
