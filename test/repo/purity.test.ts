/**
 * The Raft core (node/src/raft/) is a pure, deterministic state machine: it imports only its own
 * files and never reads a clock, a random source, timers or the process. Time, randomness and I/O
 * come in through its inputs, which is what lets the simulator replay any run from a seed.
 *
 * The check parses each file with the TypeScript compiler, so comments and strings never trip it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const root = join(import.meta.dirname, "..", "..");
const raftDir = join(root, "node", "src", "raft");

/** Identifiers that may not appear at all (as a call, a reference or `globalThis.x`). */
const forbiddenNames = new Set(["setTimeout", "setInterval", "setImmediate", "require"]);
/** Objects whose members may not be read: `process.`, `performance.`. */
const forbiddenObjects = new Set(["process", "performance"]);
/** Single members that may not be read. */
const forbiddenMembers = new Set(["Date.now", "Math.random"]);

/** Every violation in one file, as `file:line:col: message`. */
export function violations(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const report = (node: ts.Node, message: string) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    found.push(`${file}:${line + 1}:${character + 1}: ${message}`);
  };
  const checkSpecifier = (node: ts.Node, spec: string) => {
    if (!spec.startsWith("./") && !spec.startsWith("../")) {
      report(node, `imports "${spec}" (only relative ./x.ts imports inside node/src/raft/ are allowed)`);
    } else if (!spec.endsWith(".ts")) {
      report(node, `imports "${spec}" without the .ts extension`);
    } else if (relative(raftDir, resolve(dirname(join(root, file)), spec)).startsWith("..")) {
      report(node, `imports "${spec}", which is outside node/src/raft/`);
    }
  };
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) checkSpecifier(node, node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node)) {
      report(node, "uses `import x = ...`");
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      report(node, "uses dynamic import()");
    } else if (ts.isImportTypeNode(node)) {
      report(node, "uses an import() type");
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "Date") {
      report(node, "uses `new Date`");
    } else if (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) {
      const base = node.expression;
      const member = ts.isPropertyAccessExpression(node)
        ? node.name.text
        : ts.isStringLiteralLike(node.argumentExpression)
          ? node.argumentExpression.text
          : "";
      if (ts.isIdentifier(base) && forbiddenObjects.has(base.text)) report(node, `uses \`${base.text}.\``);
      if (ts.isIdentifier(base) && forbiddenMembers.has(`${base.text}.${member}`)) {
        report(node, `uses \`${base.text}.${member}\``);
      }
    } else if (ts.isIdentifier(node) && forbiddenNames.has(node.text)) {
      report(node, `uses \`${node.text}\``);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = existsSync(raftDir)
  ? readdirSync(raftDir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => relative(root, join(raftDir, f)).split(sep).join("/"))
      .sort()
  : [];

test("node/src/raft/ has TypeScript files to check", { skip: files.length === 0 && "none yet" }, () => {});

for (const file of files) {
  test(`${file} is pure`, () => {
    const found = violations(file, readFileSync(join(root, file), "utf8"));
    if (found.length > 0) assert.fail(`the Raft core must stay pure:\n${found.join("\n")}`);
  });
}

test("the purity check catches what it should and ignores comments and strings", () => {
  const file = "node/src/raft/example.ts";
  const bad = [
    'import { readFileSync } from "node:fs";',
    'import x from "lodash";',
    'import { y } from "./y.js";',
    'import { z } from "../storage.ts";',
    'export * from "events";',
    "const a = Date.now();",
    "const b = new Date();",
    "const c = Math.random();",
    "setTimeout(() => {}, 1);",
    "globalThis.setInterval(() => {}, 1);",
    "setImmediate(() => {});",
    "const d = process.env.X;",
    "const e = performance.now();",
    'const f = Math["random"]();',
    'const g = await import("./g.ts");',
  ];
  const found = violations(file, bad.join("\n"));
  assert.equal(found.length, bad.length, found.join("\n"));
  for (const [i, line] of found.entries()) assert.match(line, new RegExp(`^${file}:${i + 1}:`));
  assert.match(found[5] ?? "", /Date\.now/);

  const good = [
    'import type { Entry } from "./types.ts";',
    'import { step } from "./sub/step.ts";',
    'export { x } from "./x.ts";',
    "// Date.now, Math.random, setTimeout, process.env: never in the core",
    'const s = "new Date() and performance.now()";',
    "const o = { process: 1, now: 2 }; o.process; type T = typeof o;",
    "function tick(now: number) { return now + 1; }",
  ];
  assert.deepEqual(violations(file, good.join("\n")), []);
});
