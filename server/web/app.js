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
    image: null,      // {file, vector, url} of a dropped/pasted image, or {id, url} for "more like this"
    upload: null,     // the image file each page sends as multipart, when /v1/embed refused it (413)
    cursor: null,     // next page cursor; null when the last page was reached
    loading: false,
    seq: 0,           // bumps on each new query so late pages of an old one are dropped
    shown: 0,
    hits: new Map(),  // id → the hit shown on its card (the lightbox reads it)
    restore: null,    // {shown, scrollY}: the place Back/Forward returns to, until reached
  };
  window.imglish = state; // for the end-to-end test and for curious users

  const key = () => localStorage.getItem("imglish.key") || "";
  $("apikey").value = key();
  $("apikey").addEventListener("change", (e) => localStorage.setItem("imglish.key", e.target.value.trim()));

  // api calls the JSON API: no body is a GET, a FormData body goes as
  // multipart/form-data (raw image bytes: base64 in JSON is a third larger),
  // any other as JSON. A refusal throws an Error with the server's message, its
  // HTTP status and error code; a network failure (fetch's bare "Failed to
  // fetch") says that the server is out of reach.
  async function api(path, body) {
    const headers = {};
    if (key()) headers["Authorization"] = "Bearer " + key();
    const init = { headers };
    if (body instanceof FormData) Object.assign(init, { method: "POST", body });
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      Object.assign(init, { method: "POST", body: JSON.stringify(body) });
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      if (err instanceof TypeError) throw new Error("Can't reach the imglish server", { cause: err });
      throw err;
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw Object.assign(new Error((data.error && data.error.message) || res.statusText), { status: res.status, code: data.error && data.error.code });
    }
    return data;
  }

  // IMAGE_REFUSED are the statuses by which the server refuses a query image
  // itself: undecodable (400), too large a body (413), a format it does not
  // read (415), too many pixels (422).
  const IMAGE_REFUSED = [400, 413, 415, 422];

  // imageError says why the server refused a query image, in its words less
  // the field it names ("query[1]: ", "images[0]: "), which means
  // nothing to someone who dropped one image.
  function imageError(err) {
    const why = err.message.replace(/^(query|images)\[\d+\]: /, "");
    return (err.status === 413 ? "This image is too large to send: " : "This image can't be read: ") + why;
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
    // A dropped image goes as the vector /v1/embed gave for it: a few kB on
    // every page instead of the whole file again.
    if (state.image && state.image.vector) terms.push({ vector: state.image.vector, weight: 1 });
    if (state.image && state.image.id) terms.push({ image_id: state.image.id, weight: 1 });
    return terms;
  }

  // newSearch runs the query the controls hold; unless it comes from the
  // address bar (fromHistory true), it becomes a new history entry first.
  async function newSearch(fromHistory) {
    if (fromHistory !== true) recordSearch();
    closeLightbox(false);
    // Back/Forward (and reload) return to the place kept in the history entry.
    const place = fromHistory === true && history.state;
    state.restore = place && place.shown > 0 ? { shown: place.shown, scrollY: place.scrollY || 0 } : null;
    state.terms = buildTerms();
    state.upload = state.image && state.image.file && !state.image.vector ? state.image.file : null;
    state.filter = filter();
    state.sort = $("f-sort").value;
    state.cursor = null;
    state.seq++;
    state.shown = 0;
    state.hits.clear();
    $("grid").replaceChildren();
    if (!state.terms.length && !state.upload) { status(""); return; }
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
      let body = { query: state.terms, k: PAGE, filter: state.filter, sort: state.sort };
      if (!first) body.cursor = state.cursor;
      if (state.upload) {
        // The image /v1/embed could not take as base64 goes as raw bytes,
        // the last query term (the cursor is bound to the same terms).
        const form = new FormData();
        form.append("query", JSON.stringify(body));
        form.append("image", state.upload);
        body = form;
      }
      const res = await api("/v1/search", body);
      if (seq !== state.seq) return;
      for (const hit of res.hits) $("grid").appendChild(card(hit));
      state.shown += res.hits.length;
      state.cursor = res.next_cursor || null;
      ok = true;
      // sort=date keeps only the relevant hits (the auto-cut), often fewer
      // than relevance order would page through: say so.
      const n = state.shown, s = n === 1 ? "" : "s";
      status(n ? `${state.sort === "date" ? `${n} relevant result${s}, newest first` : `${n} result${s}`}${res.truncated ? ` (truncated: the ${DATE_CAP.toLocaleString("en")} most relevant, by date)` : ""}${state.cursor ? "" : " (end)"}` : "No results");
    } catch (err) {
      if (seq !== state.seq) return;
      state.restore = null; // a place that can't be reached is given up
      // The image sent as bytes (the last query term) was refused itself:
      // drop it, or every later search would send it again and fail the
      // same way. (An image sent as its vector was read by /v1/embed.)
      const imageRefused = err.status === 413 || (IMAGE_REFUSED.includes(err.status) && err.message.startsWith(`query[${state.terms.length}]:`));
      if (first && state.upload && imageRefused) {
        setImage(null);
        state.upload = null;
        status(imageError(err), true);
      } else {
        status(err.message, true);
      }
    } finally {
      if (seq === state.seq) state.loading = false;
    }
    if (!ok || seq !== state.seq) return; // after an error, wait for the next scroll instead of asking again at once
    // Going back to a search: load pages until as many results are shown as
    // when it was left, then scroll to where it was.
    const want = state.restore;
    if (want && state.cursor && state.shown < want.shown) { loadPage(false); return; }
    if (want) {
      state.restore = null;
      window.scrollTo(0, want.scrollY);
    }
    // Keep filling while the sentinel is still visible (tall screens).
    if (state.cursor && visible($("sentinel"))) loadPage(false);
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
    keepPlace();
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

  // useFile makes a dropped, pasted or chosen image file the query: it is
  // sent once, to /v1/embed, and searched with as the vector that returns.
  // An image the server refuses is not kept (every later search would fail
  // on it); one too large as base64 (413) is sent as raw bytes with each page.
  let fileSeq = 0;
  async function useFile(file) {
    if (!file || !file.type.startsWith("image/")) { status("Not an image: " + (file ? file.name : "?"), true); return; }
    const name = file.name || "pasted image";
    const seq = ++fileSeq;
    // An empty file (a cloud placeholder, a failed download) holds no image.
    const b64 = file.size === 0 ? "" : await new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).split(",")[1] || "");
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
    if (seq !== fileSeq) return;
    if (!b64) { status("Empty file: " + name, true); return; }
    status("Reading the image…");
    let vector = null;
    try {
      vector = (await api("/v1/embed", { images: [b64] })).vectors[0];
    } catch (err) {
      if (seq !== fileSeq) return;
      if (err.status !== 413) { status(IMAGE_REFUSED.includes(err.status) ? imageError(err) : err.message, true); return; }
    }
    if (seq !== fileSeq) return;
    $("q").value = ""; // a dropped image replaces the text query; type again to combine both
    keepPlace();
    setImage({ file, vector, url: URL.createObjectURL(file) }, name);
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
    let body = labels.length ? { labels } : { label_set: "default" };
    if (state.image.file) {
      // /v1/classify takes no vector: the file goes once more, as raw bytes.
      const form = new FormData();
      form.append("image", state.image.file);
      for (const l of labels) form.append("labels", l);
      if (!labels.length) form.append("label_set", "default");
      body = form;
    } else {
      body.image_id = state.image.id;
    }
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
      else if (err.status === 404 && /label set/.test(err.message)) $("labels-caption").textContent = "Type labels to classify this image (the server has no default label set).";
      else $("labels-caption").textContent = "No labels for this image: " + err.message;
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
  $("clear-image").addEventListener("click", () => { keepPlace(); setImage(null); newSearch(); });
  $("file").addEventListener("change", (e) => {
    const f = e.target.files[0];
    e.target.value = ""; // choosing the same file again (after "× clear image") is a change again
    useFile(f);
  });

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
      [it.taken ? "taken" : "modified", it.taken ? formatTaken(it.taken, it.taken_offset) : formatDate(it.mtime)],
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

  // formatDate shows an instant (a file's mtime, when it was added) in the
  // browser's time zone.
  function formatDate(s) {
    if (!s) return "";
    const d = new Date(s);
    return isNaN(d) ? s : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  // formatTaken shows when a photo was taken as the camera's clock read:
  // without an EXIF offset (hasOffset false) the API gives that wall time as
  // if UTC, so it is shown in UTC with no zone; with one, the time carries
  // the camera's offset, and the wall time at that offset is shown with it
  // ("Oct 22, 2008, 4:29 PM (UTC+03:00)"). The browser's zone has no part in
  // either: a photo taken at noon in Rome reads noon in Los Angeles too.
  function formatTaken(s, hasOffset) {
    const d = new Date(s);
    if (isNaN(d)) return s;
    const opts = { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" };
    const m = hasOffset && /([+-])(\d\d):(\d\d)$/.exec(s);
    if (!m) return d.toLocaleString(undefined, opts) + (hasOffset ? " (UTC)" : ""); // an offset of Z is UTC itself
    const minutes = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
    return new Date(d.getTime() + minutes * 60000).toLocaleString(undefined, opts) + ` (UTC${m[1]}${m[2]}:${m[3]})`;
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

  // recordSearch makes the search about to run a new history entry, first
  // keeping in the current one how far it was scrolled and how many results
  // it showed, for Back to return there.
  function recordSearch() {
    const url = searchURL();
    const kept = placeKept;
    placeKept = false;
    if (url === location.pathname + location.search) return;
    if (!kept) savePlace();
    history.pushState(null, "", url);
  }

  // keepPlace saves the place before the query image above the results
  // appears or goes: the browser's scroll anchoring then moves scrollY by
  // its height, and Back would return that far off. The search recorded
  // next keeps the place saved here.
  let placeKept = false;
  function keepPlace() {
    savePlace();
    placeKept = true;
  }

  // savePlace keeps the results shown and the scroll position in the
  // current history entry; not while a place is being restored (that would
  // overwrite it with a half-loaded one).
  let placeTimer = 0;
  function savePlace() {
    clearTimeout(placeTimer);
    if (!state.restore) history.replaceState({ shown: state.shown, scrollY: Math.round(window.scrollY) }, "");
  }
  // The browser's own scroll restoration runs before the results are
  // loaded again; the page restores the place itself.
  history.scrollRestoration = "manual";
  // Scrolling keeps the place too (after a pause): Back and Forward leave an
  // entry without pushing one, and going forward to it again finds it as well.
  // It also asks for the next page once the sentinel is in view: the
  // IntersectionObserver below reports only changes, and one that last saw
  // the sentinel in the emptied grid can miss the cards that pushed it out,
  // and then says nothing when scrolling brings it back (seen in headless
  // Chromium: an image search stuck at 24 results).
  window.addEventListener("scroll", () => {
    clearTimeout(placeTimer);
    placeTimer = setTimeout(savePlace, 250);
    if (!state.loading && state.cursor && visible($("sentinel"))) loadPage(false);
  }, { passive: true });

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

  window.addEventListener("popstate", () => {
    clearTimeout(placeTimer); // a pending save belongs to the entry just left
    restoreSearch();
  });
  restoreSearch();
  pollProgress();
})();
