// The /docs walkthrough as a person does it, in headless Chromium driven by playwright-core:
// sign up, log in, paste the access token into "Authorize", call /secret and see 200.
//
//   node tests/docs_click_through.cjs http://127.0.0.1:PORT
//
// `.ci/run` installs playwright-core (npm) into a temporary folder and puts it on NODE_PATH;
// the browser is Debian's /usr/bin/chromium. Every wait is bounded; the script exits non-zero
// on the first step that does not give the expected answer.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

// The same flags as tests/browser.rs, one a line.
const FLAGS = fs
  .readFileSync(path.join(__dirname, "..", "..", "tests", "data", "chromium-flags.txt"), "utf8")
  .split("\n")
  .filter((flag) => flag !== "");
const STEP_TIMEOUT_MS = 30_000;

function fail(message) {
  throw new Error(message);
}

// Expands an operation, presses "Try it out", optionally replaces the JSON body, presses
// "Execute" and returns the status and body Swagger UI shows.
async function tryItOut(page, id, body) {
  const block = page.locator(`#${id}`);
  await block.locator(".opblock-summary").first().click();
  await block.locator("button.try-out__btn").click();
  if (body !== undefined) {
    await block.locator("textarea.body-param__text").fill(JSON.stringify(body));
  }
  await block.locator("button.execute").click();
  const row = block.locator(".live-responses-table .response").first();
  await row.waitFor();
  const status = (await row.locator(".response-col_status").innerText()).trim();
  const shown = await row.locator(".response-col_description pre").first().innerText();
  return { status, body: shown };
}

async function main() {
  const base = process.argv[2] || fail("usage: docs_click_through.cjs BASE_URL");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "docs-click-through-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    timeout: STEP_TIMEOUT_MS,
  });
  try {
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    // Nothing but this server may be asked for anything.
    const origin = new URL(base).origin;
    const elsewhere = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(origin) && !request.url().startsWith("data:")) {
        elsewhere.push(request.url());
      }
    });
    await page.goto(`${base}/docs/`);
    await page.locator("#operations-auth-signup").waitFor();

    const creds = { username: "docs-user", password: "correct horse" };
    const signup = await tryItOut(page, "operations-auth-signup", creds);
    if (signup.status !== "201") fail(`signup answered ${signup.status}: ${signup.body}`);
    console.log("signed up: 201");

    const login = await tryItOut(page, "operations-auth-login", creds);
    if (login.status !== "200") fail(`login answered ${login.status}: ${login.body}`);
    const access = JSON.parse(login.body).access_token || fail(`no access_token: ${login.body}`);
    console.log("logged in: 200");

    // Without authorizing, /secret is refused.
    const refused = await tryItOut(page, "operations-app-secret");
    if (refused.status !== "401") fail(`/secret without a token answered ${refused.status}`);

    await page.locator(".auth-wrapper button.authorize").click();
    const scheme = page
      .locator(".auth-container")
      .filter({ has: page.locator("h4", { hasText: /^\s*bearer\b/ }) });
    await scheme.locator("input").fill(access);
    await scheme.locator("button.authorize").click();
    await page.locator("button.btn-done").first().click();
    console.log("authorized");

    await page.locator("#operations-app-secret button.execute").click();
    const row = page.locator("#operations-app-secret .live-responses-table .response").first();
    await row.locator(".response-col_status", { hasText: "200" }).waitFor();
    const shown = await row.locator(".response-col_description pre").first().innerText();
    if (!shown.includes("Top Secret data")) fail(`/secret showed ${shown}`);
    console.log("called /secret: 200");

    if (elsewhere.length > 0) fail(`the page asked other hosts: ${elsewhere.join(", ")}`);
    console.log("click-through: 1 passed, 0 failed");
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
