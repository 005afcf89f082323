#!/usr/bin/env node
// Exports the ABI and bytecode of every deployable contract under contracts/
// from forge's out/ into artifacts/<Name>.json, which the Rust crate embeds so
// `cargo build` needs no Node, and of the test-kit contracts the Rust end-to-end
// tests deploy (the liar's rig) into artifacts/testkit/. `--check` fails when the
// committed files differ from a fresh build (run `just contracts` to refresh them).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".sol") ? [p] : [];
  });
}

// Test contracts the Rust end-to-end tests deploy on anvil; never part of a deployment.
const TESTKIT = ["test/utils/LiarRig.sol"];

function collect(files) {
  const wanted = new Map();
  for (const src of files) {
    const outDir = path.join(root, "out", path.basename(src));
    if (!fs.existsSync(outDir)) {
      // Files that declare only constants or free functions have no artifacts.
      if (!/^\s*(abstract\s+)?(contract|library|interface)\s/m.test(fs.readFileSync(src, "utf8"))) continue;
      console.error(`missing ${path.relative(root, outDir)}: run \`forge build\` first (did it fail?)`);
      process.exit(1);
    }
    for (const file of fs.readdirSync(outDir)) {
      const art = JSON.parse(fs.readFileSync(path.join(outDir, file), "utf8"));
      const bytecode = art.bytecode?.object ?? "0x";
      // Interfaces have no code; libraries of internal functions have nothing to call.
      const callable = art.abi.some((e) => e.type === "function" || e.type === "constructor");
      if (bytecode === "0x" || !callable) continue;
      const name = path.basename(file, ".json");
      wanted.set(name, {
        contractName: name,
        source: path.relative(root, src),
        abi: art.abi,
        bytecode,
        deployedBytecode: art.deployedBytecode.object,
      });
    }
  }
  return wanted;
}

const stale = [];
function write(dir, wanted) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, art] of wanted) {
    const file = path.join(dir, `${name}.json`);
    const text = JSON.stringify(art, null, 2) + "\n";
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
    if (old === text) continue;
    if (check) stale.push(`${path.relative(path.join(root, "artifacts"), file)}`);
    else fs.writeFileSync(file, text);
  }
  for (const file of fs.readdirSync(dir)) {
    if (file.endsWith(".json") && !wanted.has(path.basename(file, ".json"))) {
      if (check) stale.push(`${file} (no such contract any more)`);
      else fs.rmSync(path.join(dir, file));
    }
  }
}

const wanted = collect(sources(path.join(root, "contracts")));
write(path.join(root, "artifacts"), wanted);
const testkit = collect(TESTKIT.map((f) => path.join(root, f)));
write(path.join(root, "artifacts", "testkit"), testkit);
if (stale.length) {
  console.error(
    `onchain/artifacts is stale: ${stale.join(", ")}.\nRun \`just contracts\` and commit onchain/artifacts.`,
  );
  process.exit(1);
}
console.log(`${check ? "checked" : "exported"} ${wanted.size} contract and ${testkit.size} test-kit artifacts`);
