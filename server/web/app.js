// imglish web page: plain JavaScript, no build step. Talks to the JSON API under /v1.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 24;
  // DATE_CAP is sort=date's cap on the relevant set: the server's maxRelevant,
  // documented in openapi.json (TestPageDateCap checks they agree).
  const DATE_CAP = 1000;
  const state = {
    terms: [],        // the current query terms sent to /v1/search
    filter: {},       // its filter and sort, fixed by newSearch: a cursor belongs to
    sort: "relevance", // the query it came from, whatever the controls hold since
    image: null,      // {b64, url} of a dropped/pasted image, or {id, url} for "more like this"
    cursor: null,     // next page cursor; null when the last page was reached
    loading: false,
    seq: 0,           // bumps on each new query so late pages of an old one are dropped
    shown: 0,
    hits: new Map(),  // id → the hit shown on its card (the lightbox reads it)
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

  // newSearch runs the query the controls hold; unless it comes from the
  // address bar (fromHistory true), it becomes a new history entry first.
  async function newSearch(fromHistory) {
    if (fromHistory !== true) recordSearch();
    closeLightbox(false);
    state.terms = buildTerms();
    state.filter = filter();
    state.sort = $("f-sort").value;
    state.cursor = null;
    state.seq++;
    state.shown = 0;
    state.hits.clear();
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
    let ok = false;
    try {
      const body = { query: state.terms, k: PAGE, filter: state.filter, sort: state.sort };
      if (!first) body.cursor = state.cursor;
      const res = await api("/v1/search", body);
      if (seq !== state.seq) return;
      for (const hit of res.hits) $("grid").appendChild(card(hit));
      state.shown += res.hits.length;
      state.cursor = res.next_cursor || null;
      ok = true;
      status(state.shown ? `${state.shown} result${state.shown === 1 ? "" : "s"}${res.truncated ? ` (truncated: the ${DATE_CAP.toLocaleString("en")} most relevant, by date)` : ""}${state.cursor ? "" : " (end)"}` : "No results");
    } catch (err) {
      if (seq === state.seq) status(err.message, true);
    } finally {
      if (seq === state.seq) state.loading = false;
    }
    // Keep filling while the sentinel is still visible (tall screens); after
    // an error, wait for the next scroll instead of asking again at once.
    if (ok && seq === state.seq && state.cursor && visible($("sentinel"))) loadPage(false);
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
    el.tabIndex = 0; // Enter on a focused result opens it
    el.setAttribute("aria-label", "open " + (hit.path || hit.id).split("/").pop());
    state.hits.set(hit.id, hit);
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
    img.addEventListener("click", () => openLightbox(el));
    name.addEventListener("click", () => openLightbox(el));
    el.addEventListener("keydown", (e) => {
      if (e.target === el && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openLightbox(el); }
    });
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
    $("labels-caption").textContent = "";
    if (img) {
      $("query-thumb").src = img.url;
      $("query-caption").textContent = "Searching by image: " + (caption || "");
      showLabels();
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

  // showLabels classifies the query image: against the typed labels, or
  // without any against the server's default label set (a stored set named
  // "default", the first auto-tag set, or the demo model's world), whose five
  // most probable labels are shown.
  let classifySeq = 0;
  async function showLabels() {
    const labels = $("labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!state.image) return;
    const body = labels.length ? { labels } : { label_set: "default" };
    if (state.image.b64) body.image = state.image.b64; else body.image_id = state.image.id;
    const seq = ++classifySeq;
    try {
      const res = await api("/v1/classify", body);
      if (seq !== classifySeq) return;
      const shown = labels.length ? res.labels : res.labels.slice(0, 5);
      $("labels-caption").textContent = labels.length ? "" :
        `Top labels of ${res.label_set === "builtin:demo" ? "the demo world (48 colour and shape labels)" : "the label set “" + res.label_set + "”"}; type your own below:`;
      $("classify-out").replaceChildren(...shown.map((l) => {
        const li = document.createElement("li");
        li.dataset.label = l.label;
        const bar = document.createElement("span");
        bar.className = "p";
        bar.style.width = Math.max(2, Math.round(l.probability * 160)) + "px";
        li.append(`${l.label} — ${(l.probability * 100).toFixed(1)}%`, bar);
        return li;
      }));
    } catch (err) {
      if (seq !== classifySeq) return;
      if (labels.length) status(err.message, true);
      else $("labels-caption").textContent = "Type labels to classify this image (the server has no default label set).";
    }
  }

  function classify(ev) {
    ev.preventDefault();
    showLabels();
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
      showModelNotice(st.model);
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

  // ---- Lightbox: a result's original with its metadata ----
  // A modal <dialog>: the page behind is inert (focus stays inside), Esc
  // closes it, ←/→ move between the results (loading the next page at the
  // end), and closing returns focus to the card of the result last shown.
  const lb = { index: -1, refocus: true };
  const cards = () => [...document.querySelectorAll("#grid .card")];

  function openLightbox(el) {
    const i = cards().indexOf(el);
    if (i < 0) return;
    showInLightbox(i);
    lb.refocus = true;
    if (!$("lightbox").open) $("lightbox").showModal();
    $("lb-close").focus();
  }

  function showInLightbox(i) {
    const el = cards()[i];
    const hit = el && state.hits.get(el.dataset.id);
    if (!hit) return;
    lb.index = i;
    const it = hit.metadata || {};
    const name = (hit.path || hit.id).split("/").pop();
    $("lb-title").textContent = name;
    $("lb-pos").textContent = `${i + 1} / ${state.shown}${state.cursor ? "+" : ""}`;
    $("lightbox").dataset.id = hit.id;
    // The thumbnail (cached) at once, the original when it has loaded.
    const img = $("lb-img");
    img.alt = name;
    img.src = hit.thumbnail_url;
    const full = new Image();
    full.onload = () => { if ($("lightbox").dataset.id === hit.id) img.src = full.src; };
    full.src = hit.original_url;
    const rows = [
      ["path", hit.path || ""],
      [it.taken ? "taken" : "modified", formatDate(it.taken || it.mtime)],
      ["size", it.width ? `${it.width} × ${it.height} px` : ""],
      ["format", it.media_type || ""],
      ["camera", it.camera || ""],
      ["lens", it.lens || ""],
      ["location", it.gps ? `${it.gps.lat.toFixed(5)}, ${it.gps.lon.toFixed(5)}` : ""],
      ["tags", (it.tags || []).join(", ")],
      ["added", formatDate(it.added_at)],
      ["score", hit.score.toFixed(3)],
    ];
    $("lb-meta").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      dd.dataset.field = k;
      return [dt, dd];
    }));
    $("lb-open").href = hit.original_url;
    $("lb-prev").disabled = i === 0;
    $("lb-next").disabled = i === cards().length - 1 && !state.cursor;
  }

  function formatDate(s) {
    if (!s) return "";
    const d = new Date(s);
    return isNaN(d) ? s : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  async function moveLightbox(step) {
    let i = lb.index + step;
    if (i >= cards().length && state.cursor) {
      await loadPage(false);
    }
    if (i < 0 || i >= cards().length) return;
    showInLightbox(i);
    cards()[i].scrollIntoView({ block: "nearest" });
  }

  // closeLightbox closes the lightbox; focus returns to the card of the
  // result it showed unless refocus is false (a new search replaces the cards).
  function closeLightbox(refocus) {
    if (!$("lightbox").open) return;
    lb.refocus = refocus !== false;
    $("lightbox").close();
    refocusCard();
  }

  function refocusCard() {
    const el = lb.refocus && cards()[lb.index];
    lb.refocus = false;
    if (el) el.focus();
  }

  // Closed another way (the browser's own close request): focus, left on
  // the dialog or the page, returns to the card all the same.
  $("lightbox").addEventListener("close", () => {
    const a = document.activeElement;
    if (!a || a === document.body || $("lightbox").contains(a)) refocusCard();
  });
  $("lightbox").addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight") { e.preventDefault(); moveLightbox(1); }
    if (e.key === "ArrowLeft") { e.preventDefault(); moveLightbox(-1); }
    if (e.key === "Escape") { e.preventDefault(); closeLightbox(); }
  });
  // A click on the backdrop (the dialog box itself, outside its content) closes.
  $("lightbox").addEventListener("click", (e) => { if (e.target === $("lightbox")) closeLightbox(); });
  $("lb-close").addEventListener("click", () => closeLightbox());
  $("lb-prev").addEventListener("click", () => moveLightbox(-1));
  $("lb-next").addEventListener("click", () => moveLightbox(1));
  $("lb-more").addEventListener("click", () => {
    const hit = state.hits.get($("lightbox").dataset.id);
    if (hit) { closeLightbox(false); moreLikeThis(hit); }
  });

  // ---- The search in the address bar ----
  // ?q=&img=&folder=&after=&before=&sort= holds the text, the image id ("more
  // like this"), the filters and the sort, so a search can be bookmarked,
  // shared and reloaded, and Back returns to the previous one. A dropped or
  // pasted image has no address and is not kept.
  function searchURL() {
    const p = new URLSearchParams();
    const set = (k, v) => { if (v) p.set(k, v); };
    set("q", $("q").value.trim());
    set("img", state.image && state.image.id);
    set("folder", $("f-folder").value.trim());
    set("after", $("f-after").value);
    set("before", $("f-before").value);
    if ($("f-sort").value !== "relevance") p.set("sort", $("f-sort").value);
    const qs = p.toString();
    return location.pathname + (qs ? "?" + qs : "");
  }

  function recordSearch() {
    const url = searchURL();
    if (url !== location.pathname + location.search) history.pushState(null, "", url);
  }

  // restoreSearch sets the controls from the address bar and runs the search.
  function restoreSearch() {
    const p = new URLSearchParams(location.search);
    $("q").value = p.get("q") || "";
    $("f-folder").value = p.get("folder") || "";
    $("f-after").value = p.get("after") || "";
    $("f-before").value = p.get("before") || "";
    $("f-sort").value = p.get("sort") === "date" ? "date" : "relevance";
    const id = p.get("img");
    if (id && !(state.image && state.image.id === id)) {
      setImage({ id, url: `/v1/items/${encodeURIComponent(id)}/thumbnail` }, id);
      api(`/v1/items/${encodeURIComponent(id)}`).then((it) => {
        if (state.image && state.image.id === id) $("query-caption").textContent = "Searching by image: " + (it.path || id).split("/").pop();
      }).catch(() => {});
    } else if (!id && state.image) {
      setImage(null);
    }
    newSearch(true);
  }

  // ---- Folder suggestions ----
  // The indexed folders matching what is typed (GET /v1/folders), offered as
  // relative prefixes ("photos/2024/"), which the server resolves against its
  // index roots. Picking one searches at once.
  let folderTimer = 0, folderSeq = 0;
  async function suggestFolders() {
    const seq = ++folderSeq;
    try {
      const res = await api("/v1/folders?limit=20&prefix=" + encodeURIComponent($("f-folder").value.trim()));
      if (seq !== folderSeq) return;
      $("folder-list").replaceChildren(...res.folders.map((f) => {
        const o = document.createElement("option");
        o.value = f.name + "/";
        o.label = `${f.count} image${f.count === 1 ? "" : "s"}`;
        return o;
      }));
    } catch (_) { /* suggestions are best effort */ }
  }
  $("f-folder").addEventListener("focus", suggestFolders);
  $("f-folder").addEventListener("input", (e) => {
    clearTimeout(folderTimer);
    folderTimer = setTimeout(suggestFolders, 150);
    // A picked suggestion (not a keystroke) searches at once.
    const picked = !e.inputType || e.inputType === "insertReplacementText";
    if (picked && [...$("folder-list").options].some((o) => o.value === e.target.value)) newSearch();
  });

  // ---- What the model knows ----
  function showModelNotice(model) {
    const n = $("model-notice");
    n.hidden = !(model && model.demo);
    if (n.hidden || n.childNodes.length) return;
    const cmd = document.createElement("code");
    cmd.textContent = "imglish model pull beit3-base-coco";
    n.append("Demo model: it knows only synthetic scenes of coloured shapes, not photos. For real pictures: ", cmd, ".");
  }

  window.addEventListener("popstate", restoreSearch);
  restoreSearch();
  pollProgress();
})();
