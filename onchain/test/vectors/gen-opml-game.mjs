#!/usr/bin/env node
// Writes a dissection-game vector (format: README.md) for a real fixture, from the `opml` command line:
// honest state hashes at every boundary the game visits (`opml state`), the one-step proof of the
// decisive step (`opml prove`), and the market section from the fixture's ModelState vector.
//
//   node test/vectors/gen-opml-game.mjs --opml opml --artifact /tmp/logreg \
//     --input ../fixtures/logreg_digits/input.npy --model test/vectors/model.json \
//     --arity 8 --decisive 4321 > test/vectors/logreg_digits_step4321.game.json
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of ["opml", "artifact", "input", "model", "arity", "decisive"]) {
  if (!args[k]) {
    console.error(`missing --${k} (see the header of ${path.basename(process.argv[1])})`);
    process.exit(2);
  }
}
const model = JSON.parse(fs.readFileSync(args.model, "utf8"));
const arity = Number(args.arity);
const steps = Number(model.steps);
const decisive = Number(args.decisive);
if (!(decisive >= 0 && decisive < steps)) throw new Error(`--decisive must be in [0, ${steps})`);

const opml = (...a) => execFileSync(args.opml, a, { encoding: "utf8" });
const hex = (s) => (s.startsWith("0x") ? s : "0x" + s);
const stateAt = (i) =>
  hex(JSON.parse(opml("state", args.artifact, "--input", args.input, "--step", String(i), "--json")).state);

const boundary = (lo, hi, i) => {
  const len = hi - lo;
  const m = Math.min(len, arity);
  return lo + Math.floor((i * len) / m); // exact: i * len < 2^53 for these fixtures
};
const needed = new Set();
for (let lo = 0, hi = steps; ; ) {
  const m = Math.min(hi - lo, arity);
  let part = -1;
  for (let i = 0; i <= m; i++) {
    needed.add(boundary(lo, hi, i));
    if (i < m && boundary(lo, hi, i) <= decisive && decisive < boundary(lo, hi, i + 1)) part = i;
  }
  const a = boundary(lo, hi, part);
  const b = boundary(lo, hi, part + 1);
  if (b - a === 1) break;
  [lo, hi] = [a, b];
}
const sorted = [...needed].sort((x, y) => x - y);
const hashes = sorted.map(stateAt);

const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "opml-game-")), "proof.json");
opml("prove", args.artifact, "--input", args.input, "--step", String(decisive), "-o", tmp);
const proof = JSON.parse(fs.readFileSync(tmp, "utf8"));
if (hex(proof.pre_state) !== hashes[sorted.indexOf(decisive)]) throw new Error("proof pre-state differs");
if (hashes[0] !== hex(model.initialState)) throw new Error("state 0 is not the model vector's initial state");
if (hashes[hashes.length - 1] !== hex(model.finalState)) throw new Error("state N is not the final state");

const vector = {
  version: 1,
  description: `${model.fixture}: ${steps} steps, k = ${arity}, first wrong state after step ${decisive} (${proof.opcode})`,
  verifier: "opml",
  arity,
  steps,
  start: hashes[0],
  end: hashes[hashes.length - 1],
  decisive_step: decisive,
  state_steps: sorted,
  state_hashes: hashes,
  proof: hex(proof.proof),
  post: hex(proof.post_state),
  market: {
    commitment: {
      code_root: model.codeRoot,
      memory_root: model.memoryRoot,
      memory_size: model.memorySize,
      globals_root: model.globalsRoot,
      entry_pc: model.entryPc,
      entry_locals: model.entryLocals,
      input_offset: model.inputOffset,
      input_size: model.inputSize,
      output_offset: model.outputOffset,
      output_size: model.outputSize,
    },
    input_siblings: model.inputSiblings,
    input: model.input,
    output: model.output,
    output_proof: model.outputProof,
    max_steps: steps,
  },
};
process.stdout.write(JSON.stringify(vector, null, 2) + "\n");
