// slipway dashboard: a read-only page over /api/*. Everything that came
// from a journal or the record is put in the page as text (textContent via
// h()), never as HTML.

const main = document.getElementById("main");
const conn = document.getElementById("conn");

// ---- small helpers -----------------------------------------------------------

// h("td", {class: "x"}, "text", node, [more]) -> element; strings are text
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, kids);
  return el;
}
function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
// replace el's children (skipping null/false, which replaceChildren would print)
function fill(el, ...kids) { el.replaceChildren(); return append(el, kids); }
const list = (v) => (Array.isArray(v) ? v : v && typeof v === "object" ? Object.values(v) : []);
const short = (sha) => (typeof sha === "string" ? sha.slice(0, 10) : "–");

function when(ts) {
  if (typeof ts !== "number") return "–";
  const d = new Date(ts * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}
function ago(ts) {
  if (typeof ts !== "number") return "";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
function dur(s) {
  if (typeof s !== "number") return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
function versionsText(v) {
  if (!v || typeof v !== "object") return "–";
  const keys = Object.keys(v).sort();
  return keys.length ? keys.map((k) => `${k} ${v[k]}`).join(", ") : "–";
}

const OUTCOME_CLASS = {
  success: "ok", failed: "bad", error: "bad", "revert-failed": "bad", reverted: "warn",
  interrupted: "warn", unfinished: "muted", running: "live",
};
function badge(outcome, extra) {
  const o = outcome || "?";
  return h("span", {class: `badge ${OUTCOME_CLASS[o] || "muted"}`, "data-outcome": o}, o, extra ? ` ${extra}` : "");
}
function runLink(id, text) {
  return h("a", {href: `/runs/${encodeURIComponent(id)}`, "data-run": id}, text || id);
}
function ciLink(r) {
  const url = r.ci_url;
  if (typeof url === "string" && /^https?:\/\//.test(url)) {
    return h("a", {href: url, rel: "noreferrer noopener", target: "_blank", class: "ci"}, "CI run ↗");
  }
  return r.ci ? h("span", {class: "muted"}, `CI ${r.ci}`) : null;
}

async function getJSON(url) {
  const res = await fetch(url, {credentials: "same-origin", headers: {accept: "application/json"}});
  if (!res.ok) {
    const err = new Error(`${url}: HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function setConn(state, text) {
  conn.className = `conn ${state}`;
  conn.textContent = text;
}

// ---- the front page -------------------------------------------------------------

const filters = {env: "", command: "", outcome: ""};
let overviewStream = null;

function skewSet(env) { return new Set(list(env.skew)); }

function versionsCell(env) {
  const v = env.deployed && env.deployed.versions;
  if (!env.deployed) return h("td", {class: "muted"}, "not deployed");
  if (!v || typeof v !== "object" || !Object.keys(v).length) return h("td", {class: "muted"}, "deployed (no components declared)");
  const skew = skewSet(env);
  return h("td", {class: "versions"},
    Object.keys(v).sort().map((k) => h("div", {class: skew.has(k) ? "ver skew" : "ver", title: skew.has(k) ? "differs between production members" : null},
      h("span", {class: "comp"}, k), " ", h("code", {}, String(v[k])))));
}

function healthCell(env) {
  const out = h("div", {class: "health-out"});
  const btn = h("button", {type: "button", class: "health", "data-env": env.name}, "Check health");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    btn.textContent = "checking…";
    fill(out);
    try {
      const r = await getJSON(`/api/health/${encodeURIComponent(env.name)}`);
      for (const c of list(r.results)) {
        const cls = c.skipped ? "muted" : c.ok ? "ok" : "bad";
        out.append(h("div", {class: `hc ${cls}`, title: c.detail || ""},
          h("span", {class: "dot"}), c.name, c.skipped ? " (not run)" : c.ok ? "" : `: ${c.detail || "failed"}`));
      }
      out.append(h("div", {class: "muted small"}, `read-only GETs, ${new Date().toLocaleTimeString()}`));
    } catch (e) {
      out.append(h("div", {class: "hc bad"}, String(e.message)));
    } finally {
      btn.disabled = false;
      btn.textContent = "Check health";
    }
  });
  return h("td", {class: "health-cell"}, env.checks ? btn : h("span", {class: "muted"}, "no checks"), out);
}

function envTable(data) {
  const anySkew = list(data.envs).some((e) => list(e.skew).length);
  const rows = list(data.envs).map((e) => {
    const d = e.deployed || {};
    const last = e.last;
    return h("tr", {"data-env": e.name, class: list(e.skew).length ? "has-skew" : null},
      h("th", {scope: "row"}, h("div", {class: "envname"}, e.name),
        e.role ? h("span", {class: `role ${e.role}`}, e.role) : null,
        e.experimental ? h("span", {class: "role exp"}, "experimental") : null),
      h("td", {}, e.driver),
      versionsCell(e),
      h("td", {}, h("code", {title: d.sha || ""}, short(d.sha)), d.at ? h("div", {class: "muted small"}, ago(d.at)) : null),
      h("td", {class: "num"}, d.revision ?? "–"),
      h("td", {class: "last"}, last ? [badge(last.outcome), " ", last.command, h("div", {class: "small"},
        runLink(last.id, ago(last.started) || last.id), " by ", `${last.user || "?"}@${last.host || "?"}`,
        ciLink(last) ? [" · ", ciLink(last)] : null)] : h("span", {class: "muted"}, "no runs")),
      healthCell(e));
  });
  return h("section", {class: "card"},
    h("h2", {}, "Environments"),
    anySkew ? h("p", {class: "alert warn", id: "skew"}, "Version skew: production members run different versions of ",
      list(list(data.envs).find((e) => list(e.skew).length).skew).join(", "), ".") : null,
    h("table", {class: "envs", id: "envs"},
      h("thead", {}, h("tr", {}, ["Environment", "Driver", "Running versions", "Commit", "Rev", "Last run", "Health"].map((t) => h("th", {scope: "col"}, t)))),
      h("tbody", {}, rows)));
}

function uniq(values) { return [...new Set(values.filter((v) => v))].sort(); }

function versionLines(v) {
  if (!v || typeof v !== "object" || !Object.keys(v).length) return "–";
  return Object.keys(v).sort().map((k) => h("div", {class: "ver"}, h("span", {class: "comp"}, k), " ", h("code", {}, String(v[k]))));
}

function runVersions(r) {
  if (r.outcome === "reverted" || (r.revert && r.outcome !== "success")) {
    const tried = versionsText(r.versions_attempted);
    const back = versionsText(r.versions_after);
    return h("div", {class: "reverted", title: `tried ${tried}; reverted to ${back}`},
      h("div", {class: "bad-text small"}, "tried"), h("div", {class: "tried"}, versionLines(r.versions_attempted)),
      h("div", {class: "small"}, "reverted to"), versionLines(r.versions_after));
  }
  const after = r.versions_after || r.versions_attempted;
  return after ? versionLines(after) : h("span", {class: "muted"}, "–");
}

function runsTable(data) {
  const runs = list(data.runs);
  const envs = uniq(runs.flatMap((r) => list(r.envs)));
  const commands = uniq(runs.map((r) => r.command));
  const outcomes = uniq(runs.map((r) => r.outcome));
  const select = (key, label, values) => h("label", {}, label, " ",
    h("select", {"data-filter": key, onchange: (ev) => { filters[key] = ev.target.value; renderRuns(); }},
      h("option", {value: ""}, "all"),
      values.map((v) => { const o = h("option", {value: v}, v); if (filters[key] === v) o.selected = true; return o; })));
  const tbody = h("tbody", {});
  const count = h("span", {class: "muted"});
  function renderRuns() {
    const shown = runs.filter((r) => (!filters.env || list(r.envs).includes(filters.env)) &&
      (!filters.command || r.command === filters.command) && (!filters.outcome || r.outcome === filters.outcome));
    fill(tbody, shown.map((r) => h("tr", {"data-run": r.id, class: `run ${r.outcome || ""}`},
      h("td", {}, runLink(r.id), r.dry_run ? h("span", {class: "role"}, "dry run") : null),
      h("td", {title: when(r.started)}, ago(r.started) || "–", h("div", {class: "muted small"}, when(r.started))),
      h("td", {}, r.command || "?"),
      h("td", {}, list(r.envs).join(", ") || "–"),
      h("td", {}, `${r.user || "?"}@${r.host || "?"}`),
      h("td", {}, h("code", {}, short(r.sha))),
      h("td", {class: "outcome"}, badge(r.outcome), r.failed_step ? h("span", {class: "muted"}, ` @${r.failed_step}`) : null,
        (r.bad_lines || r.torn_line) ? h("div", {class: "small warn-text"}, "journal partly unreadable") : null),
      h("td", {class: "versions"}, runVersions(r)),
      h("td", {class: "num"}, dur(r.duration)),
      h("td", {}, ciLink(r)))));
    if (!shown.length) tbody.append(h("tr", {}, h("td", {colspan: 10, class: "muted"}, runs.length ? "no run matches the filters" : "no runs recorded yet")));
    count.textContent = `${shown.length} of ${runs.length}`;
  }
  renderRuns();
  return h("section", {class: "card"},
    h("div", {class: "card-head"}, h("h2", {}, "Runs"), h("div", {class: "filters"},
      select("env", "environment", envs), select("command", "command", commands), select("outcome", "outcome", outcomes), count)),
    h("table", {class: "runs", id: "runs"},
      h("thead", {}, h("tr", {}, ["Run", "Started", "Command", "Environments", "By", "Commit", "Outcome", "Versions", "Took", "CI"].map((t) => h("th", {scope: "col"}, t)))),
      tbody));
}

async function showOverview() {
  const data = await getJSON("/api/overview");
  document.title = `${data.name} · slipway`;
  document.getElementById("deployment").textContent = data.name;
  const live = list(data.runs).filter((r) => r.outcome === "running");
  fill(main, 
    data.record_error ? h("p", {class: "alert bad"}, "The shared record could not be read: ", data.record_error) : null,
    live.length ? h("p", {class: "alert live", id: "live"}, "Running now: ", live.map((r, i) => [i ? ", " : "", runLink(r.id, `${r.command} ${r.id}`)])) : null,
    envTable(data),
    runsTable(data),
    h("p", {class: "muted small foot"}, `record: ${data.record || "–"} · journals of ${data.host} · read ${when(data.generated)}`));
  main.dataset.ready = "overview";
}

function watchOverview() {
  if (overviewStream) return;
  overviewStream = new EventSource("/api/stream");
  let timer = null;
  overviewStream.addEventListener("hello", () => setConn("on", "live"));
  overviewStream.addEventListener("changed", () => {
    clearTimeout(timer);
    timer = setTimeout(() => showOverview().catch(showError), 250);
  });
  overviewStream.onerror = () => setConn("off", "reconnecting…");
}

// ---- a run's page ------------------------------------------------------------------

// what the records of a journal say, grouped for display
function digest(records) {
  const v = {run: null, end: null, steps: [], open: new Map(), checks: [], cmds: [], http: [], plans: [],
    reverts: [], answers: [], logs: [], deployed: [], tested: [], promoted: []};
  for (const r of records) {
    switch (r.type) {
      case "run": v.run = r; break;
      case "run_end": v.end = r; break;
      case "step_start": { const s = {name: r.step, start: r.ts, running: true}; v.steps.push(s); v.open.set(r.step, s); break; }
      case "step_end": {
        let s = v.open.get(r.step);
        if (!s) { s = {name: r.step, start: r.ts - (r.duration || 0)}; v.steps.push(s); }
        Object.assign(s, {running: false, ok: r.ok, duration: r.duration, skipped: r.skipped, error: r.error, attempts: r.attempts});
        v.open.delete(r.step);
        break;
      }
      case "check": v.checks.push(r); break;
      case "cmd": v.cmds.push(r); break;
      case "http": v.http.push(r); break;
      case "plan": case "changed": case "write": case "action": v.plans.push(r); break;
      case "revert": case "revert_start": case "revert_end": case "revert_failed": v.reverts.push(r); break;
      case "answer": v.answers.push(r); break;
      case "log": if (r.level !== "debug") v.logs.push(r); break;
      case "deployed": v.deployed.push(r); break;
      case "tested": v.tested.push(r); break;
      case "promoted": v.promoted.push(r); break;
      default: break;
    }
  }
  return v;
}

function timeline(v, summary) {
  const t0 = (v.run && v.run.ts) || (v.steps[0] && v.steps[0].start) || summary.started || 0;
  const nowTs = Date.now() / 1000;
  const ends = v.steps.map((s) => s.running ? nowTs : s.start + (s.duration || 0));
  const t1 = Math.max(t0 + 0.001, (v.end && v.end.ts) || 0, ...ends);
  const span = t1 - t0;
  if (!v.steps.length) return h("p", {class: "muted"}, "no steps recorded");
  return h("ol", {class: "timeline", id: "steps"}, v.steps.map((s) => {
    const start = Math.max(0, s.start - t0);
    const len = s.running ? nowTs - s.start : (s.duration || 0);
    const state = s.running ? "running" : s.skipped ? "skipped" : s.ok ? "ok" : "bad";
    const bar = h("div", {class: `bar ${state}`});
    bar.style.marginLeft = `${(100 * start / span).toFixed(2)}%`;
    bar.style.width = `${Math.max(0.6, 100 * len / span).toFixed(2)}%`;
    return h("li", {class: `step ${state}`, "data-step": s.name},
      h("div", {class: "step-name"}, h("span", {class: "dot"}), s.name),
      h("div", {class: "track"}, bar),
      h("div", {class: "step-time"}, s.running ? "running…" : s.skipped ? "skipped" : dur(s.duration),
        s.attempts > 1 ? ` (${s.attempts} tries)` : ""),
      s.error ? h("div", {class: "step-error"}, s.error) : null);
  }));
}

function table(id, head, rows, empty) {
  if (!rows.length) return empty ? h("p", {class: "muted"}, empty) : null;
  return h("table", {id}, h("thead", {}, h("tr", {}, head.map((t) => h("th", {scope: "col"}, t)))), h("tbody", {}, rows));
}

function section(title, body, extra) {
  if (!body) return null;
  return h("section", {class: "card"}, h("h2", {}, title, extra || null), body);
}

function revertSection(v, summary, rec) {
  const items = [];
  for (const r of v.reverts) {
    if (r.type === "revert") {
      items.push(h("div", {class: "revert"},
        h("p", {}, h("strong", {}, "Reverted "), h("code", {}, short(r.from)), " → ", h("code", {}, short(r.to)),
          r.good ? [" (last good: ", h("code", {}, short(r.good)), ")"] : null),
        r.reason ? h("p", {}, h("strong", {}, "Why: "), String(r.reason)) : null,
        list(r.commits).length ? h("div", {}, h("div", {class: "muted"}, "commits undone:"),
          h("ul", {class: "commits"}, list(r.commits).map((c) => h("li", {}, typeof c === "string" ? c : [h("code", {}, short(c.sha)), " ", c.subject || c.message || ""])))) : null));
    } else {
      items.push(h("div", {class: `small ${r.type === "revert_failed" ? "bad-text" : "muted"}`}, r.type.replace("_", " "),
        r.step ? ` of step ${r.step}` : "", r.error ? `: ${r.error}` : ""));
    }
  }
  const rv = rec && rec.revert;
  if (!items.length && rv && typeof rv === "object") {
    items.push(h("p", {}, "Reverted ", h("code", {}, short(rv.from)), " → ", h("code", {}, short(rv.to)),
      rv.why ? [" — why: ", String(rv.why)] : "", rv.ok === false ? h("span", {class: "bad-text"}, " (revert failed)") : ""));
  }
  if (summary.outcome === "reverted" && summary.versions_attempted) {
    items.unshift(h("p", {class: "alert warn", id: "reverted-versions"}, "Tried ", h("code", {}, versionsText(summary.versions_attempted)),
      "; reverted to ", h("code", {}, versionsText(summary.versions_after))));
  }
  return items.length ? h("div", {id: "revert"}, items) : null;
}

function renderRun(d, v) {
  const s = d.summary || {};
  const rec = d.record || {};
  const run = v.run || {};
  const outcome = d.live ? "running" : (v.end && v.end.outcome) || s.outcome;
  const failed = v.end && v.end.failed_step;
  const checksRows = (v.checks.length ? v.checks : list(rec.checks)).map((c) => h("tr", {class: c.ok ? "ok" : "bad"},
    h("td", {}, c.env || "–"), h("td", {}, c.name), h("td", {}, h("span", {class: `badge ${c.ok ? "ok" : "bad"}`}, c.ok ? "pass" : "FAIL")),
    h("td", {class: "num"}, dur(c.duration)), h("td", {class: "num"}, c.attempts ?? "–"), h("td", {class: "detail"}, c.detail || "")));
  const cmdRows = v.cmds.map((c) => h("tr", {class: c.planned ? "planned" : c.code === 0 ? "" : "bad"},
    h("td", {}, c.step || "–"), h("td", {class: "argv"}, h("code", {}, c.argv || "")),
    h("td", {class: "num"}, c.planned ? "planned" : c.signal ? `signal ${c.signal}` : String(c.code ?? "–")),
    h("td", {class: "num"}, dur(c.duration))));
  const httpRows = v.http.map((r) => h("tr", {class: r.error ? "bad" : ""},
    h("td", {}, r.step || "–"), h("td", {}, r.method || "GET"), h("td", {class: "argv"}, h("code", {}, r.url || "")),
    h("td", {class: "num"}, r.planned ? "planned" : String(r.status ?? r.error ?? "–")), h("td", {class: "num"}, dur(r.duration))));
  const planItems = v.plans.map((p) => h("div", {class: "plan"}, h("div", {class: "muted small"}, `${p.type}${p.step ? ` · ${p.step}` : ""}${p.planned ? " · planned" : ""}`),
    h("pre", {}, p.text || p.path || p.diff || "")));
  const answers = v.answers.map((a) => h("tr", {}, h("td", {}, a.question || ""), h("td", {}, String(a.answer ?? "")),
    h("td", {}, a.user || "?"), h("td", {}, a.how || "")));
  const logs = v.logs.filter((l) => l.level !== "info").map((l) => h("li", {class: `log ${l.level}`}, h("span", {class: "lvl"}, l.level), l.step ? ` [${l.step}] ` : " ", l.message || ""));
  const deployed = v.deployed.map((x) => h("tr", {}, h("td", {}, x.env), h("td", {}, h("code", {}, versionsText(x.versions))),
    h("td", {}, h("code", {}, short(x.sha))), h("td", {class: "num"}, x.revision ?? "–")));
  const ci = ciLink({ci_url: s.ci_url || rec.ci_url, ci: run.ci});
  const damaged = [];
  if (list(d.bad_lines).length) damaged.push(`line${list(d.bad_lines).length > 1 ? "s" : ""} ${list(d.bad_lines).join(", ")} unreadable`);
  if (d.torn_line) damaged.push(`line ${d.torn_line} torn (cut off)`);
  fill(main, 
    h("p", {class: "crumbs"}, h("a", {href: "/"}, "← all runs")),
    h("section", {class: "card run-head"},
      h("h1", {}, `${s.command || run.command || "run"} `, badge(outcome, failed ? `@${failed}` : ""), d.live ? h("span", {class: "pulse", title: "streaming"}) : null),
      h("dl", {class: "facts"},
        h("dt", {}, "Run"), h("dd", {}, h("code", {}, s.id)),
        h("dt", {}, "Started"), h("dd", {}, when(s.started), " ", h("span", {class: "muted"}, ago(s.started))),
        h("dt", {}, "By"), h("dd", {}, `${s.user || run.user || "?"}@${s.host || run.host || "?"}`, rec.confirmed_by ? ` · confirmed by ${rec.confirmed_by}` : ""),
        h("dt", {}, "Commit"), h("dd", {}, h("code", {}, s.sha || "–"), run.dirty ? " (dirty)" : ""),
        h("dt", {}, "Environments"), h("dd", {}, list(s.envs).join(", ") || "–"),
        h("dt", {}, "Took"), h("dd", {}, d.live ? "running…" : dur((v.end && v.end.duration) ?? s.duration)),
        (v.end && v.end.error) ? [h("dt", {}, "Error"), h("dd", {class: "bad-text"}, v.end.error)] : null,
        ci ? [h("dt", {}, "CI"), h("dd", {}, ci)] : null,
        run.args && list(run.args).length ? [h("dt", {}, "Arguments"), h("dd", {}, h("code", {}, list(run.args).join(" ")))] : null),
      damaged.length ? h("p", {class: "alert warn", id: "torn"}, "The journal is damaged: ", damaged.join("; "), ". Shown: what could be read.") : null,
      !d.records ? h("p", {class: "alert", id: "record-only"}, "This machine has no journal of this run: shown from the shared record.") : null),
    section("Revert", revertSection(v, s, rec)),
    section("Steps", timeline(v.steps.length ? v : {...v, steps: list(rec.steps).map((x, i) => ({name: x.name, ok: x.ok, skipped: x.skipped, duration: x.duration, start: (s.started || 0) + i}))}, s)),
    section("Checks", table("checks", ["Environment", "Check", "Result", "Took", "Tries", "Detail"], checksRows, "no checks ran")),
    section("Deployed", table("deployed", ["Environment", "Versions", "Commit", "Revision"], deployed)),
    section("Commands", table("cmds", ["Step", "Command", "Exit", "Took"], cmdRows)),
    section("HTTP requests", table("http", ["Step", "Method", "URL", "Status", "Took"], httpRows)),
    section(run.dry_run ? "Plan (dry run)" : "Changes", planItems.length ? h("div", {id: "plan"}, planItems) : null),
    section("Confirmations", table("answers", ["Question", "Answer", "By", "How"], answers)),
    section("Warnings and errors", logs.length ? h("ul", {class: "logs"}, logs) : null));
  main.dataset.ready = d.live ? "run-live" : "run";
}

let runStream = null;

async function showRun(id) {
  const d = await getJSON(`/api/runs/${encodeURIComponent(id)}`);
  document.title = `${d.summary.command || "run"} ${d.summary.id} · slipway`;
  const records = list(d.records);
  renderRun(d, digest(records));
  if (!d.live) { setConn("", d.summary.outcome === "unfinished" ? "unfinished" : fin_text(d)); return; }
  if (runStream) return;
  runStream = new EventSource(`/api/runs/${encodeURIComponent(id)}/stream?from=${records.length}`);
  setConn("on", "streaming");
  // renders coalesced with a timer (a background tab may never run
  // requestAnimationFrame), and none after the end: a late one would show
  // the run as live again
  let pending = null;
  const stream = runStream;
  runStream.onmessage = (ev) => {
    records.push(JSON.parse(ev.data));
    document.body.dataset.streamed = String(Number(document.body.dataset.streamed || 0) + 1);
    if (!pending) pending = setTimeout(() => { pending = null; if (runStream === stream) renderRun(d, digest(records)); }, 50);
  };
  runStream.addEventListener("end", async () => {
    clearTimeout(pending);
    pending = null;
    stream.close();
    runStream = null;
    // read it whole again; a run still alive (the stream ended early) is
    // followed again
    await showRun(id);
  });
  runStream.onerror = () => setConn("off", "reconnecting…");
}

function fin_text(d) { return d.records ? "from the journal" : "from the record"; }

function showError(e) {
  fill(main, h("section", {class: "card"}, h("h1", {}, e.status === 404 ? "Not found" : "Something went wrong"),
    h("p", {}, String(e.message)), h("p", {}, h("a", {href: "/"}, "The dashboard"))));
}

const m = location.pathname.match(/^\/runs\/([^/]+)$/);
if (m) {
  showRun(decodeURIComponent(m[1])).catch(showError);
} else {
  showOverview().then(watchOverview).catch(showError);
}
