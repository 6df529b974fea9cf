// Copies Altair's prebuilt static files (npm package altair-static, installed
// by `npm ci`) into dist/, which playground.go embeds with go:embed.
// dist/ is git-ignored except dist/.gitkeep, so the embed compiles before this ran.
// index.html is copied last: make uses it as the target, so an interrupted
// copy is redone on the next run.
"use strict";
const fs = require("fs");
const path = require("path");

const pkgDir = path.join(__dirname, "node_modules", "altair-static");
const src = path.join(pkgDir, "build", "dist");
const dst = path.join(__dirname, "dist");

function fail(msg) {
  console.error("playground build: " + msg);
  process.exit(1);
}

if (!fs.existsSync(path.join(src, "index.html"))) {
  fail("altair-static is not installed: run `npm ci` in playground/ first");
}
const pinned = require("./package.json").dependencies["altair-static"];
const installed = require(path.join(pkgDir, "package.json")).version;
if (installed !== pinned) {
  fail(`installed altair-static ${installed}, package.json pins ${pinned}: run \`npm ci\``);
}

fs.mkdirSync(dst, { recursive: true });
for (const entry of fs.readdirSync(dst)) {
  if (entry !== ".gitkeep") fs.rmSync(path.join(dst, entry), { recursive: true, force: true });
}
for (const entry of fs.readdirSync(src)) {
  if (entry !== "index.html") fs.cpSync(path.join(src, entry), path.join(dst, entry), { recursive: true });
}
fs.copyFileSync(path.join(src, "index.html"), path.join(dst, "index.html"));

let files = 0;
let bytes = 0;
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else {
      files++;
      bytes += fs.statSync(p).size;
    }
  }
})(dst);
console.log(`playground: altair-static ${installed} -> dist/ (${files} files, ${(bytes / 1048576).toFixed(1)} MiB)`);
