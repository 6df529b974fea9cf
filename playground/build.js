// Copies Altair's prebuilt files into dist/, which the Go package embeds.
const fs = require("fs");
const path = require("path");

const src = path.join(__dirname, "node_modules", "altair-static", "build", "dist");
const dst = path.join(__dirname, "dist");
if (!fs.existsSync(path.join(src, "index.html"))) {
  console.error("altair-static is not installed: run npm ci first");
  process.exit(1);
}
for (const entry of fs.readdirSync(dst)) {
  if (entry !== ".gitkeep") fs.rmSync(path.join(dst, entry), { recursive: true, force: true });
}
fs.cpSync(src, dst, { recursive: true });
