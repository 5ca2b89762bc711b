// tests/tools/dashboard-browser.cjs -- drives Debian's headless chromium over
// the DevTools protocol (playwright-core, never a downloaded browser) through
// the dashboard, for tests/lua/dashboard_spec.lua, and reports what a person
// would see as JSON lines on stdout (one {"event": ...} per line). The spec
// reads them as they come and makes its assertions; this script asserts
// nothing itself, so a failure always shows in the spec with what was seen.
//
// Environment: PLAYWRIGHT_DIR (node_modules holding playwright-core,
// tests/tools/get-playwright), DASH_URL (the dashboard), SHOTS (directory for
// screenshots), SHOT_PREFIX, RUNS (comma-separated run ids to open), HEALTH
// (environment whose health button to press), LIVE=1 (wait for a run to
// start, follow it live; the spec releases it after "live-steps"),
// CHROMIUM (default /usr/bin/chromium).
"use strict";
const path = require("path");
const fs = require("fs");
const {chromium} = require(path.join(process.env.PLAYWRIGHT_DIR, "playwright-core"));

const URL0 = process.env.DASH_URL;
const SHOTS = process.env.SHOTS;
const PREFIX = process.env.SHOT_PREFIX || "";
const emit = (event, data) => process.stdout.write(JSON.stringify({event, ...data}) + "\n");
const errors = [];

async function overviewFacts(page) {
  return page.evaluate(() => ({
    envs: [...document.querySelectorAll("#envs tbody tr")].map((tr) => ({
      name: tr.dataset.env,
      text: tr.innerText,
      driver: tr.children[1].innerText,
      versions: tr.children[2].innerText,
      skew: tr.classList.contains("has-skew"),
      last_run: (tr.querySelector("td.last a[data-run]") || {}).dataset?.run || null,
    })),
    runs: [...document.querySelectorAll("#runs tbody tr[data-run]")].map((tr) => ({
      id: tr.dataset.run,
      outcome: (tr.querySelector("[data-outcome]") || {}).dataset?.outcome,
      text: tr.innerText,
      versions: tr.querySelector("td.versions").innerText,
    })),
    skew: (document.getElementById("skew") || {}).innerText || null,
  }));
}

async function runFacts(page) {
  return page.evaluate(() => ({
    title: document.querySelector("h1") ? document.querySelector("h1").innerText : null,
    outcome: (document.querySelector("h1 [data-outcome]") || {}).dataset?.outcome,
    text: document.getElementById("main").innerText,
    steps: [...document.querySelectorAll("#steps li.step")].map((li) => ({name: li.dataset.step, state: li.className.replace("step ", "")})),
    checks: [...document.querySelectorAll("#checks tbody tr")].map((tr) => [...tr.children].map((td) => td.innerText)),
    cmds: document.querySelectorAll("#cmds tbody tr").length,
    scripts_in_main: document.querySelectorAll("#main script").length,
    pwned: document.body.dataset.pwned || null,
    streamed: Number(document.body.dataset.streamed || 0),
    torn: (document.getElementById("torn") || {}).innerText || null,
    revert: (document.getElementById("revert") || {}).innerText || null,
  }));
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({path: path.join(SHOTS, `${PREFIX}${name}.png`), fullPage: true});
}

function watch(page, label) {
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${label}: console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`${label}: page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // an event stream cut by closing the page is not an error of the page
    if (!/\/stream/.test(r.url())) errors.push(`${label}: request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
}

(async () => {
  const userDir = fs.mkdtempSync(path.join(require("os").tmpdir(), "slipway-chromium-"));
  // a fresh --user-data-dir (playwright passes it for a persistent context)
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: {width: 1400, height: 900},
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await context.newPage();
    watch(page, "overview");
    await page.goto(URL0);
    await page.waitForSelector("main[data-ready=overview]", {timeout: 30000});
    emit("overview", await overviewFacts(page));
    await shot(page, "overview");

    if (process.env.HEALTH) {
      await page.click(`button.health[data-env="${process.env.HEALTH}"]`);
      await page.waitForSelector(`tr[data-env="${process.env.HEALTH}"] .health-out .hc`, {timeout: 60000});
      await page.waitForSelector(`button.health[data-env="${process.env.HEALTH}"]:not([disabled])`, {timeout: 60000});
      emit("health", {text: await page.locator(`tr[data-env="${process.env.HEALTH}"] .health-out`).innerText()});
    }

    const runPage = await context.newPage();
    watch(runPage, "run");
    for (const id of (process.env.RUNS || "").split(",").filter(Boolean)) {
      await runPage.goto(new URL(`/runs/${id}`, URL0).href);
      await runPage.waitForSelector("main[data-ready^=run]", {timeout: 30000});
      const facts = await runFacts(runPage);
      emit("run", {id, ...facts});
      await shot(runPage, `run-${facts.outcome || id}`);
    }

    if (process.env.LIVE === "1") {
      emit("ready-for-live", {});
      // the front page learns of the new run by itself (no reload)
      await page.waitForSelector("#live a[data-run]", {timeout: 120000});
      const id = await page.getAttribute("#live a[data-run]", "data-run");
      await runPage.bringToFront();
      await runPage.goto(new URL(`/runs/${id}`, URL0).href);
      await runPage.waitForSelector("main[data-ready=run-live]", {timeout: 30000});
      // steps appear while it runs (the spec holds the run in a check of its
      // test step: wait for that step, not for any running one -- under load
      // the page opened while stage still ran, and stage was not shown done)
      await runPage.waitForSelector('#steps li.step.running[data-step="test"]', {timeout: 120000});
      const live = await runFacts(runPage);
      await shot(runPage, "run-live");
      emit("live-steps", {id, ...live});
      // the spec releases the run now; the page follows it to its end
      await runPage.waitForSelector("main[data-ready=run]", {timeout: 180000});
      await runPage.waitForFunction(() => document.querySelectorAll("#checks tbody tr").length > 0, null, {timeout: 30000});
      emit("live-ended", {id, ...(await runFacts(runPage))});
      await shot(runPage, "run-live-ended");
      // and the environments table of the front page moved on without a reload
      await page.waitForFunction((rid) => [...document.querySelectorAll("#envs td.last a[data-run]")].some((a) => a.dataset.run === rid) &&
        !document.getElementById("live"), id, {timeout: 60000});
      emit("overview-after", await overviewFacts(page));
      await shot(page, "overview-after");
    }
    emit("console", {errors});
  } finally {
    await context.close();
    fs.rmSync(userDir, {recursive: true, force: true});
  }
  emit("done", {});
})().catch((e) => {
  emit("error", {message: String(e && e.stack || e), errors});
  process.exit(1);
});
