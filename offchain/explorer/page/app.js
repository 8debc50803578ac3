// The dinfer explorer's page: plain JS, no build step, nothing loaded from elsewhere. It reads the JSON API
// (/api/...), routes on the URL's hash (#/, #/providers, #/provider/<address>, #/jobs, #/job/<id>, #/models,
// #/disputes) and re-renders the current view whenever the server's event stream (/api/events) says the
// indexed data changed. Every text from the chain goes in as text (textContent), never as HTML.

const COLORS = { posted: "#9aa3b2", finalized: "#1f9d55", slashed: "#d64545", expired: "#d98a00", score: "#2f5bea", stake: "#2f5bea", locked: "#8a5cf6" };
const view = document.getElementById("view");
let unit = "DINF";
let version = -1;
let rendering = false;
let dirty = false;

// ------------------------------------------------------------------ helpers

/** h("td", { class: "num", "data-testid": "x" }, child, "text", ...) */
function h(tag, attrs = {}, ...children) {
  const el = tag === "svg" || SVG_TAGS.has(tag) ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "onclick" || key === "onchange") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const SVG_TAGS = new Set(["g", "rect", "line", "path", "text", "polyline", "circle", "title"]);

async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw Object.assign(new Error(body.error ?? `HTTP ${res.status}`), { status: res.status });
  return body;
}

const tok = (amount) => (amount === null || amount === undefined ? "-" : `${trimAmount(amount)} ${unit}`);
function trimAmount(text) {
  const [whole, frac = ""] = String(text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const f = frac.slice(0, 4).replace(/0+$/, "");
  return f ? `${grouped}.${f}` : grouped;
}
const pct = (x) => (x === null || x === undefined ? "-" : `${(x * 100).toFixed(1)}%`);
const shortAddr = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : "-");
const shortHash = (x) => (x ? `${x.slice(0, 10)}…${x.slice(-6)}` : "-");
const num = (x, digits = 0) => (x === null || x === undefined ? "-" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits }));
const secs = (s) => (s === null || s === undefined ? "-" : s < 90 ? `${num(s, 1)} s` : s < 5400 ? `${num(s / 60, 1)} min` : `${num(s / 3600, 1)} h`);
const time = (w) => (w ? w.time.replace("T", " ").replace("Z", " UTC") : "-");
const badge = (text, cls = text) => h("span", { class: `badge ${cls}`, "data-testid": "badge" }, text);
const addrLink = (a) => (a ? h("a", { href: `#/provider/${a}`, class: "mono", title: a }, shortAddr(a)) : "-");
const jobLink = (id) => h("a", { href: `#/job/${id}`, class: "mono" }, id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-4)}` : `#${id}`);

function card(label, value, sub, testid, cls) {
  return h("div", { class: `card ${cls ?? ""}`, "data-testid": `card-${testid}` }, h("div", { class: "label" }, label), h("div", { class: "value", "data-testid": `count-${testid}` }, value), sub ? h("div", { class: "sub", "data-testid": `sub-${testid}` }, sub) : null);
}

function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => (typeof x === "string" ? h("th", {}, x) : h("th", { class: x.cls }, x.label))))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "nothing yet"))),
  );
}

// ------------------------------------------------------------------ charts (inline SVG)

/** Grouped bars per time bucket: series = { bucketSeconds, buckets: [{ start, posted, finalized, ... }] }. */
function barChart(series, keys, testid, W = chartWidth()) {
  const H = 180, L = 34, B = 22, T = 8;
  const buckets = series.buckets;
  const max = Math.max(1, ...buckets.flatMap((b) => keys.map((k) => b[k])));
  const slot = (W - L) / Math.max(1, buckets.length);
  const bar = Math.max(1, (slot - 4) / keys.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = h("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-testid": testid, role: "img" });
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    svg.append(h("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e3e6eb" }), h("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, v));
  }
  buckets.forEach((b, i) => {
    keys.forEach((k, j) => {
      if (!b[k]) return;
      const x = L + i * slot + 2 + j * bar;
      svg.append(h("rect", { x, y: y(b[k]), width: Math.max(1, bar - 1), height: H - B - y(b[k]), fill: COLORS[k] }, h("title", {}, `${k}: ${b[k]}`)));
    });
    if (i % Math.ceil(buckets.length / 6) === 0) svg.append(h("text", { x: L + i * slot + slot / 2, y: H - 6, "text-anchor": "middle" }, clock(b.start)));
  });
  return h("div", {}, svg, legend(keys), h("div", { class: "muted small" }, `per ${secs(series.bucketSeconds)} of chain time`));
}

/** Lines over time: points = [{ timestamp, ...values }], keys = value names. */
function lineChart(points, keys, testid, { min = 0, max, width = chartWidth() } = {}) {
  const W = width, H = 180, L = 44, B = 22, T = 8;
  if (points.length === 0) return h("p", { class: "muted" }, "no history yet");
  const t0 = points[0].timestamp, t1 = Math.max(t0 + 1, points.at(-1).timestamp);
  const top = max ?? Math.max(1e-9, ...points.flatMap((p) => keys.map((k) => Number(p[k]))));
  const x = (t) => L + ((W - L - 8) * (t - t0)) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - (v - min) / (top - min || 1));
  const svg = h("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-testid": testid, role: "img" });
  for (const frac of [0, 0.5, 1]) {
    const v = min + (top - min) * frac;
    svg.append(h("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e3e6eb" }), h("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, num(v, 3)));
  }
  for (const k of keys) {
    // A step line: a value holds until the next point.
    let d = "";
    points.forEach((p, i) => {
      const v = Number(p[k]);
      d += i === 0 ? `M${x(p.timestamp)},${y(v)}` : `H${x(p.timestamp)}V${y(v)}`;
    });
    d += `H${x(t1)}`;
    svg.append(h("path", { d, fill: "none", stroke: COLORS[k], "stroke-width": 2 }));
    for (const p of points) svg.append(h("circle", { cx: x(p.timestamp), cy: y(Number(p[k])), r: 2.5, fill: COLORS[k] }, h("title", {}, `${k} ${p[k]} at block ${p.block}`)));
  }
  svg.append(h("text", { x: L, y: H - 6 }, clock(t0)), h("text", { x: W - 4, y: H - 6, "text-anchor": "end" }, clock(t1)));
  return h("div", {}, svg, legend(keys));
}

// Swatches are SVG: the page's content security policy allows no inline style.
const legend = (keys) => h("div", { class: "legend" }, keys.map((k) => h("span", {}, h("svg", { width: 10, height: 10, class: "swatch" }, h("rect", { width: 10, height: 10, rx: 2, fill: COLORS[k] })), k)));
/** Charts are drawn at their pixel size (text is not stretched): a panel's inner width, or half of it in a two-column row. */
const chartWidth = ({ half = false } = {}) => {
  const full = Math.max(480, Math.min(1232, view.clientWidth) - 30);
  return Math.floor(half ? Math.max(300, (full - 12) / 2 - 28) : full);
};
const clock = (timestamp) => new Date(timestamp * 1000).toISOString().slice(11, 19);

// ------------------------------------------------------------------ views

async function renderNetwork() {
  const [n, p, jobs, d] = await Promise.all([api("/api/network"), api("/api/providers"), api("/api/jobs?limit=10"), api("/api/disputes")]);
  unit = n.unit;
  const a = n.jobs.allTime, day = n.jobs.last24h;
  return [
    h("h1", {}, "Network"),
    n.chain.indexerError ? h("p", { class: "error", "data-testid": "indexer-error" }, `The indexer stopped: ${n.chain.indexerError}`) : null,
    h(
      "div",
      { class: "cards" },
      card("Jobs posted", num(a.posted), `${num(day.posted)} in 24 h · ${num(a.open)} open`, "posted"),
      card("Finalized", num(a.finalized), `${num(day.finalized)} in 24 h`, "finalized", "ok"),
      card("Expired", num(a.expired), `${num(day.expired)} in 24 h`, "expired"),
      card("Slashed", num(a.slashed), `${num(day.slashed)} in 24 h`, "slashed", a.slashed ? "bad" : ""),
      card("Fees posted", tok(n.fees.allTime.posted), `${tok(n.fees.last24h.posted)} in 24 h; paid to providers ${tok(n.fees.allTime.paidToProviders)}`, "fees"),
      card("Stake active", tok(n.stake.active), `unbonding ${tok(n.stake.unbonding)}`, "stake"),
      card("Active providers", num(n.providers.active), `${num(n.providers.total)} seen · ${num(n.verifiers.active)} verifiers`, "providers"),
      card("Sampling", pct(n.sampling.actual), `target ${pct(n.sampling.target)} · ${n.sampling.sampledJobs} of ${n.sampling.decidedJobs} jobs`, "sampling"),
      card("Post → reveal", n.latency.postToReveal.medianBlocks === null ? "-" : `${num(n.latency.postToReveal.medianBlocks, 1)} blocks`, `median ${secs(n.latency.postToReveal.medianSeconds)} over ${n.latency.postToReveal.jobs} jobs`, "latency"),
      card("Gas per job", num(n.gas.perJob), `mean over ${n.gas.jobs} finalized jobs`, "gas"),
      card("Disputes", num(n.disputes.opened), `${n.disputes.providerFaulted} faulted the provider`, "disputes"),
      card("Redundant jobs", num(n.jobs.redundant.posted), `${n.jobs.redundant.agreed} agreed · ${n.jobs.redundant.disputed} disputed`, "redundant"),
    ),
    h("h2", {}, "Jobs over the last 24 h"),
    h("div", { class: "panel" }, barChart(n.series, ["posted", "finalized", "slashed", "expired"], "chart-network")),
    h("h2", {}, "Providers"),
    providersTable(p.providers),
    h("div", { class: "grid2" }, h("div", {}, h("h2", {}, "Latest jobs"), jobsTable(jobs.jobs)), h("div", {}, h("h2", {}, "Latest disputes"), disputesTable(d.disputes.slice(0, 10)))),
  ];
}

function providersTable(providers) {
  const rows = providers.map((p) =>
    h(
      "tr",
      { "data-testid": `provider-row-${p.address.toLowerCase()}`, class: p.slashes.count ? "slashed" : "" },
      h("td", {}, addrLink(p.address), " ", p.isNew ? h("span", { class: "badge new", "data-testid": "provider-new" }, "NEW") : null),
      h("td", { class: "num", "data-testid": "provider-reputation" }, p.reputation.text),
      h("td", { class: "num", "data-testid": "provider-stake" }, tok(p.stake.free), h("div", { class: "muted small" }, `locked ${tok(p.stake.locked)} · unbonding ${tok(p.stake.unbonding)}`)),
      h("td", { class: "num", "data-testid": "provider-jobs" }, num(p.jobs.total)),
      h("td", { class: "num", "data-testid": "provider-success" }, pct(p.successRate)),
      h("td", { class: "num", "data-testid": "provider-audits" }, `${p.audits.passed} passed · ${p.audits.failed} failed`),
      h("td", { class: "num", "data-testid": "provider-slashes" }, p.slashes.count ? `${p.slashes.count} (${tok(p.slashes.amount)})` : "0"),
      h("td", { class: "num", "data-testid": "provider-latency" }, secs(p.latency.medianPostToRevealSeconds)),
      h("td", { "data-testid": "provider-region" }, p.region ?? "-"),
      h("td", { "data-testid": "provider-models" }, p.models.length ? p.models.join(", ") : "-"),
      h("td", { "data-testid": "provider-eps" }, p.executionProviders.length ? p.executionProviders.join("+") : "-"),
      h("td", { class: "num", "data-testid": "provider-earnings" }, tok(p.earnings.last30d)),
    ),
  );
  const cols = ["Provider", { label: "Reputation", cls: "num" }, { label: "Stake free", cls: "num" }, { label: "Jobs", cls: "num" }, { label: "Success", cls: "num" }, { label: "Audits", cls: "num" }, { label: "Slashes", cls: "num" }, { label: "Post → reveal", cls: "num" }, "Region", "Models", "EPs", { label: "Earned 30 d", cls: "num" }];
  return table(cols, rows, { "data-testid": "providers-table" });
}

function jobsTable(jobs) {
  return table(
    ["Job", "Status", "Model", "Provider", { label: "Fee", cls: "num" }, "Posted"],
    jobs.map((j) =>
      h(
        "tr",
        { "data-testid": `job-row-${j.jobId}`, class: j.status === "slashed" ? "slashed" : "" },
        h("td", {}, jobLink(j.jobId), j.kind !== "job" ? h("span", { class: "muted small" }, ` ${j.kind}${j.batchId ? ` ${j.batchId}` : ""}`) : null),
        h("td", {}, badge(j.status), j.sampled ? h("span", { class: "muted small" }, " sampled") : null),
        h("td", {}, j.modelId ?? "-"),
        h("td", {}, addrLink(j.provider)),
        h("td", { class: "num" }, tok(j.fee)),
        h("td", { class: "muted small" }, j.posted ? `block ${j.posted.block}` : "-"),
      ),
    ),
    { "data-testid": "jobs-table" },
  );
}

function disputesTable(disputes) {
  return table(
    ["Job", "Reason", { label: "Bond", cls: "num" }, "Votes", "Outcome"],
    disputes.map((d) =>
      h(
        "tr",
        { "data-testid": `dispute-row-${d.jobId}` },
        h("td", {}, jobLink(d.jobId)),
        h("td", {}, d.reasonText),
        h("td", { class: "num" }, d.bond !== "0" ? tok(d.bond) : h("span", { class: "muted" }, "none")),
        h("td", {}, d.tally ? `${d.tally.providerWrong} wrong · ${d.tally.providerCorrect} correct · ${d.tally.auditorWrong} auditor wrong` : `${d.votes.filter((v) => v.vote).length} revealed`),
        h("td", {}, d.state === "resolved" ? badge(d.providerFaulted ? "faulted" : "upheld", d.providerFaulted ? "faulted" : "agreed") : badge(d.state)),
      ),
    ),
    { "data-testid": "disputes-table" },
  );
}

async function renderProviders() {
  const p = await api("/api/providers");
  unit = p.unit;
  return [h("h1", {}, "Providers"), providersTable(p.providers), h("p", { class: "muted small" }, "Reputation: the off-chain rule anyone recomputes from events (README, \"Reputation\"); NEW until a first audited outcome. Region, models and EPs are self-declared (ProviderProfiles).")];
}

async function renderProvider(address) {
  const v = await api(`/api/providers/${address}`);
  unit = v.unit;
  const p = v.provider;
  return [
    h("h1", { "data-testid": "provider-title" }, "Provider ", h("span", { class: "mono" }, p.address), " ", p.isNew ? h("span", { class: "badge new" }, "NEW") : null),
    h(
      "div",
      { class: "cards" },
      card("Reputation", p.reputation.text, p.isNew ? "new: no audited outcome yet" : `${p.disputes.won} disputes won · ${p.disputes.lost} lost`, "reputation"),
      card("Stake free", tok(p.stake.free), `locked ${tok(p.stake.locked)} · unbonding ${tok(p.stake.unbonding)}`, "stake"),
      card("Jobs", num(p.jobs.total), `${p.jobs.finalized} finalized · ${p.jobs.expired} expired · ${p.jobs.open} open`, "jobs"),
      card("Success", pct(p.successRate), "finalized of the jobs that ended", "success"),
      card("Audits", `${p.audits.passed} / ${p.audits.failed}`, "passed / failed", "audits"),
      card("Slashes", num(p.slashes.count), p.slashes.count ? `${tok(p.slashes.amount)} taken` : "never slashed", "slashes", p.slashes.count ? "bad" : ""),
      card("Post → reveal", secs(p.latency.medianPostToRevealSeconds), `commit after ${num(p.latency.meanCommitBlocks, 1)} blocks (mean)`, "latency"),
      card("Earned 30 d", tok(p.earnings.last30d), `${tok(p.earnings.allTime)} all time`, "earnings"),
      card("Profile", p.region ?? "no region", `${p.executionProviders.join("+") || "no EP"} · models ${p.models.join(", ") || "-"}`, "profile"),
    ),
    h(
      "div",
      { class: "grid2" },
      h("div", {}, h("h2", {}, "Reputation"), h("div", { class: "panel" }, lineChart(v.history.reputation, ["score"], "chart-reputation", { min: 0, max: 1, width: chartWidth({ half: true }) }))),
      h("div", {}, h("h2", {}, "Stake"), h("div", { class: "panel" }, lineChart(v.history.stake, ["stake", "locked"], "chart-stake", { width: chartWidth({ half: true }) }))),
    ),
    h("h2", {}, "Outcomes"),
    h("div", { class: "panel" }, barChart(v.history.outcomes, ["posted", "finalized", "slashed", "expired"], "chart-outcomes")),
    h("h2", {}, "Slashes and penalties"),
    table(
      ["When", "Why", "Job", { label: "Amount", cls: "num" }, "Transaction"],
      v.slashes.map((s) => h("tr", { "data-testid": "slash-row" }, h("td", {}, time(s)), h("td", {}, s.why), h("td", {}, s.jobId ? jobLink(s.jobId) : "-"), h("td", { class: "num" }, tok(s.amount)), h("td", { class: "mono" }, shortHash(s.txHash)))),
      { "data-testid": "slashes-table" },
    ),
    h("h2", {}, "Jobs"),
    jobsTable(v.jobs),
  ];
}

async function renderJobs() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const status = params.get("status") ?? "";
  const jobs = await api(`/api/jobs?limit=200${status ? `&status=${encodeURIComponent(status)}` : ""}`);
  unit = jobs.unit;
  const select = h(
    "select",
    { "data-testid": "status-filter", onchange: (e) => (location.hash = `#/jobs${e.target.value ? `?status=${e.target.value}` : ""}`) },
    ["", "posted", "claimed", "committed", "revealed", "disputed", "finalized", "expired", "slashed"].map((s) => h("option", { value: s, selected: s === status }, s || "any status")),
  );
  return [h("h1", {}, "Jobs"), h("div", { class: "filters" }, select, h("span", { class: "muted" }, `${jobs.total} jobs`)), jobsTable(jobs.jobs)];
}

async function renderJob(id) {
  const v = await api(`/api/jobs/${id}`);
  unit = v.unit;
  const j = v.job;
  const out = [
    h("h1", {}, `Job ${id.length > 14 ? shortHash(id) : `#${id}`} `, h("span", { "data-testid": "job-status" }, badge(j.status))),
    h(
      "div",
      { class: "panel kv", "data-testid": "job-summary" },
      h("div", {}, "Kind"), h("div", {}, j.kind, j.batchId ? ` (batch ${j.batchId}, job ${j.index + 1})` : "", j.replicaJobId ? ` (redundant job ${j.replicaJobId}, seat ${j.seat})` : ""),
      h("div", {}, "Model"), h("div", {}, v.model ? `${v.model.modelId} · ${v.model.runtime}` : j.modelId ?? "-"),
      h("div", {}, "Tolerance"), h("div", { "data-testid": "job-tolerance" }, v.model ? v.model.tolerance.text : "-"),
      h("div", {}, "Poster"), h("div", { class: "mono" }, j.poster ?? "-"),
      h("div", {}, "Provider"), h("div", {}, j.provider ? h("a", { href: `#/provider/${j.provider}`, class: "mono" }, j.provider) : "-"),
      h("div", {}, "Fee · collateral"), h("div", {}, `${tok(j.fee)} · ${tok(j.collateral)}`),
      h("div", {}, "Sampled"), h("div", { "data-testid": "job-sampled" }, j.sampled === null ? "not known yet" : j.sampled ? "yes" : "no"),
      h("div", {}, "Result root"), h("div", { class: "mono", "data-testid": "job-result-root" }, j.resultRoot ?? "-"),
      h("div", {}, "Output"), h("div", { class: "mono" }, j.inlineOutput ? "inline" : j.outputURIs.join(" · ") || "-"),
      h("div", {}, "Money"), h("div", { "data-testid": "job-money" }, [j.payout && `paid ${tok(j.payout)}`, j.slashed && `slashed ${tok(j.slashed)}`, j.refund && `refunded ${tok(j.refund)}`].filter(Boolean).join(" · ") || "-"),
      h("div", {}, "Gas (its share)"), h("div", { "data-testid": "job-gas" }, j.gas.lifecycleShare === null ? "-" : `${num(j.gas.lifecycleShare)} gas over its lifecycle`),
    ),
    h("h2", {}, "Timeline"),
    h(
      "ol",
      { class: "timeline panel", "data-testid": "timeline" },
      v.timeline.map((s) =>
        h(
          "li",
          { class: `s-${s.step}`, "data-testid": `timeline-step-${s.step}`, "data-step": s.step },
          h("div", {}, h("span", { class: "step" }, s.step.replaceAll("-", " ")), " · ", s.label),
          h("div", { class: "meta" }, `block ${s.block} · ${time(s)} · tx `, h("span", { class: "mono", title: s.txHash }, shortHash(s.txHash)), s.gasUsed === null ? "" : ` · ${num(s.gasUsed)} gas${s.gasShare !== null && s.gasShare !== s.gasUsed ? ` (this job's share ${num(s.gasShare)})` : ""}`),
        ),
      ),
    ),
  ];
  if (v.audit) out.push(h("h2", {}, "Audit"), auditPanel(v.audit, v.model));
  if (v.dispute) out.push(h("h2", {}, "Dispute"), disputePanel(v.dispute));
  return out;
}

function auditPanel(a, model) {
  const c = a.comparison;
  let comparison;
  if (c.state === "identical") comparison = h("p", {}, "The auditor's root equals the provider's: byte-identical outputs (max error 0).");
  else if (c.state === "pending") comparison = h("p", { class: "muted" }, "Fetching both outputs to compare them...");
  else if (c.state === "unavailable") comparison = h("p", { class: "muted" }, `No comparison: ${c.problem}`);
  else if (c.state === "done")
    comparison = h(
      "div",
      {},
      h("p", {}, "Under the model's tolerance (", model ? model.tolerance.text : "-", "): ", badge(c.verdict === "agree" ? "within tolerance" : "outside tolerance", c.verdict === "agree" ? "agreed" : "slashed"), c.reason ? h("span", { class: "muted small" }, ` ${c.reason}`) : null),
      table(
        ["Tensor", "dtype", "shape", { label: "max |a - b|", cls: "num" }, { label: "max rel error", cls: "num" }, { label: "allowed", cls: "num" }, { label: "mismatches", cls: "num" }],
        c.tensors.map((t) =>
          h(
            "tr",
            { "data-testid": "comparison-row" },
            h("td", { class: "mono" }, t.name),
            h("td", {}, t.dtype),
            h("td", {}, `[${t.dims.join(", ")}]`),
            h("td", { class: "num", "data-testid": "comparison-max-abs" }, t.maxAbsError === null ? "∞" : t.maxAbsError.toExponential(3)),
            h("td", { class: "num" }, t.maxRelError === null ? "∞" : t.maxRelError.toExponential(3)),
            h("td", { class: "num" }, model && model.tolerance.kind === "allclose" ? `${model.tolerance.absTol} + ${model.tolerance.relTol}·|b|` : "-"),
            h("td", { class: "num" }, `${num(t.mismatches)} / ${num(t.elements)}`),
          ),
        ),
        { "data-testid": "comparison-table" },
      ),
    );
  return h(
    "div",
    { class: "panel", "data-testid": "audit" },
    h(
      "div",
      { class: "kv" },
      h("div", {}, "Auditor"), h("div", { class: "mono" }, a.auditor),
      h("div", {}, "Verdict"), h("div", { "data-testid": "audit-verdict" }, a.verdict ? badge(a.verdict) : "not revealed yet", a.recheck ? " (rechecked)" : ""),
      h("div", {}, "Auditor's root"), h("div", { class: "mono" }, a.outputRoot ?? "-", a.rootsEqual === null ? "" : a.rootsEqual ? " (equal to the provider's)" : " (differs from the provider's)"),
      a.penalty ? h("div", {}, "Penalty") : null, a.penalty ? h("div", {}, tok(a.penalty)) : null,
    ),
    h("h2", {}, "Comparison (max error vs tolerance)"),
    comparison ?? h("p", { class: "muted" }, "No audit output revealed yet."),
  );
}

function disputePanel(d) {
  return h(
    "div",
    { class: "panel", "data-testid": "dispute" },
    h(
      "div",
      { class: "kv" },
      h("div", {}, "Reason"), h("div", {}, d.reasonText),
      h("div", {}, "Bond"), h("div", {}, d.bond !== "0" ? `${tok(d.bond)} from ${d.challenger}` : d.reason === "AuditDisagreed" ? `none: the auditor's stake answers for its Disagree (${d.challenger})` : "none: the protocol opened it"),
      h("div", {}, "Committee"), h("div", {}, d.committee.length ? `${d.committee.length} seats` : "not drawn yet"),
      h("div", {}, "Outcome"), h("div", { "data-testid": "dispute-outcome" }, d.state === "resolved" ? `${d.providerFaulted ? "provider faulted" : "provider upheld"} (${d.outcome}); slashed ${tok(d.slashed)}` : d.state),
    ),
    h("h2", {}, "Votes"),
    table(
      ["Voter", { label: "Seats", cls: "num" }, "Vote", { label: "Paid", cls: "num" }, { label: "Penalty", cls: "num" }],
      d.votes.map((v) => h("tr", { "data-testid": "vote-row" }, h("td", { class: "mono" }, shortAddr(v.voter)), h("td", { class: "num" }, v.seats), h("td", {}, v.vote ?? (v.committed ? "committed" : "-")), h("td", { class: "num" }, tok(v.paid)), h("td", { class: "num" }, tok(v.penalty)))),
    ),
    h("h2", {}, "Split"),
    table(
      ["Account", "Role", "What", { label: "Amount", cls: "num" }],
      d.split.map((s) => h("tr", { "data-testid": "split-row" }, h("td", { class: "mono" }, s.account ? shortAddr(s.account) : "-"), h("td", {}, s.role), h("td", {}, s.what), h("td", { class: "num" }, `${s.sign}${tok(s.amount)}`))),
    ),
  );
}

async function renderModels() {
  const m = await api("/api/models");
  unit = m.unit;
  return [
    h("h1", {}, "Models"),
    table(
      ["Model", "Runtime", "Tolerance", { label: "Collateral", cls: "num" }, { label: "Price floor", cls: "num" }, { label: "Jobs", cls: "num" }, { label: "Slashed", cls: "num" }, { label: "Fees", cls: "num" }, "Post → reveal", "Providers"],
      m.models.map((x) =>
        h(
          "tr",
          { "data-testid": `model-row-${x.modelId}` },
          h("td", {}, `${x.modelId} `, x.active ? null : badge("inactive", "expired"), h("div", { class: "muted small mono", title: x.uri }, shortHash(x.modelHash))),
          h("td", {}, x.runtime),
          h("td", {}, x.tolerance.text),
          h(
            "td",
            { class: "num" },
            tok(x.minCollateral),
            // A lower collateral under notice (ModelRegistry.COLLATERAL_NOTICE): posts copy it from that time on.
            x.pendingCollateral ? h("div", { class: "muted small", "data-testid": "pending-collateral" }, `${tok(x.pendingCollateral.collateral)} from ${time({ time: x.pendingCollateral.effectiveAt })}`) : null,
          ),
          h("td", { class: "num" }, tok(x.priceFloor)),
          h("td", { class: "num" }, `${x.jobs.posted} (${x.jobs.finalized} finalized)`),
          h("td", { class: "num" }, x.jobs.slashed),
          h("td", { class: "num" }, tok(x.fees)),
          h("td", {}, secs(x.medianPostToRevealSeconds)),
          h("td", {}, x.providers.length ? x.providers.map((a) => [addrLink(a), " "]) : "-"),
        ),
      ),
      { "data-testid": "models-table" },
    ),
  ];
}

async function renderDisputes() {
  const d = await api("/api/disputes");
  unit = d.unit;
  return [
    h("h1", {}, "Disputes"),
    disputesTable(d.disputes),
    ...d.disputes.filter((x) => x.state === "resolved").slice(0, 20).map((x) => [h("h2", {}, "Job ", jobLink(x.jobId), `: ${x.reasonText}`), disputePanel(x)]),
  ];
}

// ------------------------------------------------------------------ routing and live updates

function route() {
  const path = (location.hash.replace(/^#/, "") || "/").split("?")[0];
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "provider" && parts[1]) return { name: "providers", render: () => renderProvider(parts[1]) };
  if (parts[0] === "job" && parts[1]) return { name: "jobs", render: () => renderJob(parts[1]) };
  const pages = { providers: renderProviders, jobs: renderJobs, models: renderModels, disputes: renderDisputes };
  return pages[parts[0]] ? { name: parts[0], render: pages[parts[0]] } : { name: "network", render: renderNetwork };
}

async function render() {
  if (rendering) {
    dirty = true;
    return;
  }
  rendering = true;
  const { name, render: build } = route();
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.route === name);
  try {
    const nodes = await build();
    view.replaceChildren(...nodes.flat().filter(Boolean));
    view.dataset.version = String(version);
  } catch (error) {
    view.replaceChildren(h("p", { class: "error", "data-testid": "error" }, error.status === 404 ? `Not found: ${error.message}` : `Could not load this view: ${error.message}`));
  } finally {
    rendering = false;
    if (dirty) {
      dirty = false;
      render();
    }
  }
}

function connect() {
  const live = document.getElementById("live");
  const events = new EventSource("/api/events");
  events.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
  };
  events.onerror = () => {
    live.textContent = "reconnecting";
    live.className = "live off";
  };
  events.onmessage = (message) => {
    const position = JSON.parse(message.data);
    document.getElementById("indexed-block").textContent = position.block ?? "-";
    if (position.version !== version) {
      version = position.version;
      render();
    }
  };
}

window.addEventListener("hashchange", () => {
  window.scrollTo(0, 0);
  render();
});
connect();
render();
