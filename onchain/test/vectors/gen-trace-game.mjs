#!/usr/bin/env node
// Writes trace_game.json: a dissection-game vector for the TraceVM test machine, in the same format
// the Rust machine writes for real fixtures (see README.md). Run from onchain/:
//   node test/vectors/gen-trace-game.mjs > test/vectors/trace_game.json
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { keccak256 } = require("js-sha3"); // pinned through solc in package-lock.json

const arity = 16n;
const steps = 1000003n; // N: the claim's step count; the honest run halts exactly there
const halt = steps;
const decisive = 777777n; // the liar's first wrong state is decisive + 1
const seed = "0x" + keccak256("opml trace-game vector");

const word = (x) => x.toString(16).padStart(64, "0");
const hex = (s) => s.replace(/^0x/, "");
const state = (i) => "0x" + keccak256(Buffer.from(hex(seed) + word(i < halt ? i : halt) + word(halt), "hex"));

const boundary = (lo, hi, i) => {
  const len = hi - lo;
  const m = len < arity ? len : arity;
  return lo + (i * len) / m;
};

// Every boundary of every segment on the way to [decisive, decisive + 1]: both players name the part
// containing the first disagreement, which is that step.
const needed = new Set();
let lo = 0n;
let hi = steps;
for (;;) {
  const len = hi - lo;
  const m = len < arity ? len : arity;
  let part = -1n;
  for (let i = 0n; i <= m; i++) {
    needed.add(boundary(lo, hi, i));
    if (i < m && boundary(lo, hi, i) <= decisive && decisive < boundary(lo, hi, i + 1n)) part = i;
  }
  const a = boundary(lo, hi, part);
  const b = boundary(lo, hi, part + 1n);
  if (b - a === 1n) break;
  lo = a;
  hi = b;
}
const sorted = [...needed].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

const vector = {
  version: 1,
  description: "TraceVM game over 1,000,003 steps, k = 16, first wrong state after step 777,777",
  verifier: "trace-vm",
  arity: Number(arity),
  steps: Number(steps),
  start: state(0n),
  end: state(steps),
  decisive_step: Number(decisive),
  state_steps: sorted.map(Number),
  state_hashes: sorted.map(state),
  proof: "0x" + hex(seed) + word(decisive) + word(halt),
  post: state(decisive + 1n),
};
process.stdout.write(JSON.stringify(vector, null, 2) + "\n");
