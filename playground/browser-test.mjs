// Drives the embedded playground in headless Chromium (Debian's chromium,
// through playwright-core; no browser is downloaded): the page loads with no
// request leaving the server's origin, the schema loads, the Docs pane lists
// Query.files, a query, a mutation and a file upload run from the editor,
// and a subscription in a second tab sees the upload. Run by
// TestPlaygroundInBrowser:
//
//   node browser-test.mjs http://127.0.0.1:PORT/
//
// CHROMIUM names the browser binary (default /usr/bin/chromium). Exits 1
// with the reason, and a screenshot in SCREENSHOT if set, on failure.
import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) {
  console.error("usage: node browser-test.mjs URL");
  process.exit(2);
}
const origin = new URL(base).origin;
const outside = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const wsOrigin = origin.replace(/^http/, "ws");
async function newPage() {
  const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  p.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:")) outside.push(u);
  });
  p.on("websocket", (ws) => {
    if (!ws.url().startsWith(wsOrigin + "/")) outside.push(ws.url());
  });
  return p;
}
const page = await newPage();

async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT }).catch(() => {});
    console.error(`playground: ${name}: ${err.message.split("\n")[0]}`);
    await browser.close();
    process.exit(1);
  }
}

// The URL bar, the query editor and the variables editor are CodeMirror
// editors, in that order.
const queryEditor = () => page.locator(".cm-content").nth(1);

async function send(p, query) {
  await p.locator(".cm-content").nth(1).click();
  await p.keyboard.press("Control+A");
  await p.keyboard.insertText(query);
  await p.getByRole("button", { name: "Send Request" }).click();
}

async function result(p, expect) {
  await p.waitForFunction((s) => document.querySelector("app-query-result")?.innerText.includes(s), expect, { timeout: 15000 });
  const result = await p.locator("app-query-result").innerText();
  if (result.includes('"errors"')) throw new Error(`the response has errors: ${result.slice(0, 300)}`);
}

async function run(query, expect) {
  await send(page, query);
  await result(page, expect);
}

async function load(p) {
  await p.goto(base);
  await p.getByText("Reloaded doc successfully").waitFor({ timeout: 20000 });
}

await step("loading the page and the schema", () => load(page));
await step("the Docs pane", async () => {
  await page.getByRole("button", { name: "Docs" }).click();
  await page.locator("app-doc-viewer").getByText("Query", { exact: true }).first().click();
  await page.locator("app-doc-viewer").getByText("files", { exact: true }).first().waitFor({ timeout: 10000 });
});
await step("a query", () => run("{ viewer { role organization { name } } }", '"OWNER"'));
await step("a mutation", () => run('mutation { createBucket(input: {name: "from-the-playground"}) { name } }', '"from-the-playground"'));
// A second tab watches the bucket (from the first event on, so it cannot
// miss the upload however long its socket takes to open).
const live = await newPage();
await step("a subscription in a second tab", async () => {
  await load(live);
  await send(live, 'subscription { fileEvents(bucket: "from-the-playground", after: "evt_0000000000000") { type file { name } } }');
});
await step("an upload", async () => {
  await page.getByText("VARIABLES").click();
  await page.getByRole("button", { name: "Add files" }).click();
  await page.locator(".variables-file-item-name-input").fill("file");
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==", "base64");
  await page.locator(".variables-file-item-input").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: png });
  await run('mutation($file: Upload!) { uploadFile(input: {bucket: "from-the-playground", file: $file}) { name mimeType width } }', '"dot.png"');
  const answer = await page.locator("app-query-result").innerText();
  if (!answer.includes('"image/png"')) throw new Error(`the upload's answer: ${answer.slice(0, 300)}`);
});
await step("the upload seen live in the second tab", () => result(live, '"dot.png"'));
await browser.close();
if (outside.length > 0) {
  console.error(`playground: requests left ${origin}: ${outside.slice(0, 5).join(", ")}`);
  process.exit(1);
}
console.log("playground: schema, docs, a query, a mutation, an upload and a live subscription from the browser; no request left " + origin);
