// opmon analysts' dashboard. Plain JS + ECharts (vendored under /static/vendor, no CDN).
// The API key is typed once and kept in this browser's localStorage; it is never part of the page.
// Mention texts come from the public internet: they are inserted with textContent, never innerHTML.
(function () {
  "use strict";
  const KEY = "opmon.apiKey";
  const COLORS = { positive: "#30a46c", neutral: "#8b8d98", negative: "#e5484d", unscored: "#d0d3d9" };
  const LABELS = { positive: "正面", neutral: "中性", negative: "负面", unscored: "未评分" };
  const state = { brands: [], selected: [], charts: {}, data: {}, ready: false, error: null };
  window.opmon = state; // for tests and for the curious: the charts and the API data they show

  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; };
  const status = (msg, isError) => { $("status").textContent = msg; $("status").className = isError ? "error" : ""; };

  async function api(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      (Array.isArray(v) ? v : [v]).forEach((x) => { if (x != null && x !== "") url.searchParams.append(k, x); });
    }
    const resp = await fetch(url, { headers: { "X-API-Key": localStorage.getItem(KEY) || "" } });
    if (resp.status === 401) { document.body.classList.add("needs-key"); throw new Error("API key missing or invalid"); }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(body.detail || resp.statusText); err.status = resp.status; throw err; }
    return body;
  }

  function chart(id) {
    if (!state.charts[id]) {
      state.charts[id] = echarts.init($(id));
      window.addEventListener("resize", () => state.charts[id].resize());
    }
    return state.charts[id];
  }

  function windowParams() {
    const days = Number($("days").value);
    const until = new Date();
    const since = new Date(until.getTime() - days * 86400e3);
    return { since: since.toISOString(), until: until.toISOString() };
  }

  // Bucket starts come with the query's offset (+08:00): label them in that zone, not the browser's.
  function fmtTime(iso, interval) {
    const day = iso.slice(5, 10);
    return interval === "hour" ? `${day} ${iso.slice(11, 13)}:00` : day;
  }

  function renderTrend(tr) {
    const interval = tr.interval;
    const x = (tr.series[0] ? tr.series[0].buckets : []).map((b) => fmtTime(b.start, interval));
    const series = [];
    tr.series.forEach((s) => {
      const name = s.brand || "全部 all";
      ["positive", "neutral", "negative", "unscored"].forEach((k) => series.push({
        name: `${name} · ${LABELS[k]}`, type: "bar", stack: name, barMaxWidth: 28,
        itemStyle: { color: COLORS[k], opacity: 0.9 }, data: s.buckets.map((b) => b[k]),
      }));
      series.push({ name: `${name} · 净情感 net`, type: "line", yAxisIndex: 1, smooth: true, connectNulls: false,
        data: s.buckets.map((b) => b.net_sentiment) });
    });
    chart("trend").setOption({
      tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 48, right: 48, top: 40, bottom: 30 },
      xAxis: { type: "category", data: x },
      yAxis: [{ type: "value", name: "mentions" }, { type: "value", name: "net", min: -1, max: 1 }],
      series,
    }, true);
  }

  function renderSov(tr) {
    const entries = tr.share_of_voice ? tr.share_of_voice.brands
      : tr.series.map((s) => ({ brand: s.brand || "全部 all", total: s.total }));
    chart("sov").setOption({
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" }, legend: { bottom: 0 },
      series: [{ name: "share of voice", type: "pie", radius: ["35%", "65%"],
        data: entries.map((e) => ({ name: e.brand, value: e.total })) }],
    }, true);
  }

  function renderTouchpoints(tp) {
    const rows = tp.touchpoints.slice(0, 12).reverse();
    chart("touchpoints").setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } }, legend: { bottom: 0 },
      grid: { left: 70, right: 20, top: 10, bottom: 40 },
      xAxis: { type: "value" }, yAxis: { type: "category", data: rows.map((r) => r.touchpoint) },
      series: ["positive", "neutral", "negative"].map((k) => ({
        name: LABELS[k], type: "bar", stack: "tp", itemStyle: { color: COLORS[k] }, data: rows.map((r) => r[k]) })),
    }, true);
  }

  function renderTopics(t) {
    const box = $("topics"); box.textContent = ""; box.className = "";
    if (t.topics.length) {
      const ul = el("ul");
      t.topics.forEach((tp) => { const li = el("li", `${tp.label} `); li.appendChild(el("span", `(${tp.size})`, "muted")); ul.appendChild(li); });
      box.appendChild(ul);
    }
    const kw = el("div");
    t.keywords.slice(0, 20).forEach((k) => kw.appendChild(el("span", `${k.term} ${k.count}`, "tag")));
    box.appendChild(kw);
    if (t.emerging.length) {
      const em = el("div"); em.appendChild(el("span", "Emerging 新兴: ", "muted"));
      t.emerging.slice(0, 10).forEach((e) => em.appendChild(el("span", e.term, "tag")));
      box.appendChild(em);
    }
    if (!t.topics.length && !t.keywords.length) { box.textContent = "no topics in this window"; box.className = "muted"; }
  }

  function renderAlerts(a) {
    const box = $("alerts"); box.textContent = ""; box.className = "";
    const items = (a && (a.items || a.alerts)) || [];
    if (!items.length) { box.textContent = "no open alerts 暂无"; box.className = "muted"; return; }
    const ul = el("ul");
    items.slice(0, 10).forEach((x) => {
      const li = el("li");
      li.appendChild(el("span", `[${x.severity || x.kind || "alert"}] `, `sev-${x.severity || ""}`));
      li.appendChild(el("span", `${x.brand || ""} ${x.summary_zh || x.summary || x.title || x.kind || x.id}`));
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  function renderNegatives(page) {
    const box = $("negatives"); box.textContent = ""; box.className = "";
    if (!page.items.length) { box.textContent = "no negative mentions in this window"; box.className = "muted"; return; }
    const table = el("table"); const head = el("tr");
    ["time 时间", "source", "brands", "text 内容", "touchpoints"].forEach((h) => head.appendChild(el("th", h)));
    table.appendChild(head);
    page.items.forEach((m) => {
      const tr = el("tr");
      tr.appendChild(el("td", new Date(m.published_at).toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" })));
      tr.appendChild(el("td", m.source));
      tr.appendChild(el("td", (m.brands || []).join(", ")));
      const td = el("td");
      if (m.url && /^https?:\/\//.test(m.url)) { const a = el("a", m.text.slice(0, 140) || "(no text)"); a.href = m.url; a.rel = "noopener noreferrer"; a.target = "_blank"; td.appendChild(a); }
      else td.textContent = m.text.slice(0, 140);
      tr.appendChild(td);
      tr.appendChild(el("td", (m.aspects || []).map((x) => x.touchpoint).join(", ")));
      table.appendChild(tr);
    });
    box.appendChild(table);
  }

  async function loadBrands() {
    const res = await api("/v1/brands");
    state.brands = res.items.filter((b) => b.enabled).map((b) => b.name);
    const box = $("brands"); box.textContent = "";
    state.brands.forEach((name, i) => {
      const lab = el("label"); const cb = document.createElement("input");
      cb.type = "checkbox"; cb.value = name; cb.checked = i < 4; cb.addEventListener("change", refresh);
      lab.appendChild(cb); lab.appendChild(document.createTextNode(" " + name)); box.appendChild(lab);
    });
  }

  function selectedBrands() {
    return Array.from(document.querySelectorAll("#brands input:checked")).map((c) => c.value);
  }

  async function refresh() {
    state.ready = false;
    status("loading…");
    try {
      if (!state.brands.length) await loadBrands();
      state.selected = selectedBrands();
      const w = windowParams();
      const focus = state.selected[0];
      state.query = { trends: { brand: state.selected, interval: $("interval").value, tz: "Asia/Shanghai", ...w } };
      const [trends, touchpoints, topics, negatives, alerts] = await Promise.all([
        api("/v1/trends", state.query.trends),
        api("/v1/touchpoints", { brand: focus, ...w }),
        api("/v1/topics", { brand: focus, ...w, max_topics: 6, keywords: 20, emerging: 10 }),
        api("/v1/mentions", { brand: state.selected, sentiment: "negative", limit: 10, ...w }),
        api("/v1/alerts", { status: "open", limit: 10 }).catch((e) => ({ items: [], error: e.message })),
      ]);
      Object.assign(state.data, { trends, touchpoints, topics, negatives, alerts });
      renderTrend(trends); renderSov(trends); renderTouchpoints(touchpoints); renderTopics(topics);
      renderNegatives(negatives); renderAlerts(alerts);
      document.body.classList.remove("needs-key");
      state.error = null; state.ready = true;
      status(`updated ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`);
    } catch (e) {
      state.error = e.message; status(e.message, true);
    }
  }

  $("keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(KEY, $("apikey").value.trim());
    $("apikey").value = "";
    state.brands = [];
    refresh();
  });
  $("forget").addEventListener("click", () => { localStorage.removeItem(KEY); document.body.classList.add("needs-key"); status("key removed"); });
  $("refresh").addEventListener("click", refresh);
  $("interval").addEventListener("change", refresh);
  $("days").addEventListener("change", refresh);
  if (!localStorage.getItem(KEY)) { document.body.classList.add("needs-key"); status("enter an API key"); }
  else refresh();
})();
