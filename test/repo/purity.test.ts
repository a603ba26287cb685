/**
 * The Raft core (node/src/raft/) is a pure, deterministic state machine: it imports only its own
 * files and never reads a clock, a random source, timers or the process. Time, randomness and I/O
 * come in through its inputs, which is what lets the simulator replay any run from a seed.
 * The operator's planner (operator/src/plan/) and render (operator/src/render/) are held to the same
 * rule: they may import each other, the RaftKV types, Kubernetes model *types* and a hash function.
 *
 * The check parses each file with the TypeScript compiler, so comments and strings never trip it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const root = join(import.meta.dirname, "..", "..");

/** A pure area: its folder, where its relative imports may lead, and which packages it may import. */
interface Area {
  dir: string;
  /** Files or folders (repo-relative) that relative imports may reach. */
  reach: string[];
  /** Package specifiers allowed, and whether only `import type` of them is. */
  packages: Record<string, "type-only" | "any">;
}

const raftArea: Area = { dir: "node/src/raft", reach: ["node/src/raft"], packages: {} };
const operatorPure = [
  "operator/src/plan",
  "operator/src/render",
  "operator/src/raftkv.ts",
  "operator/src/members/pod-addressing.ts",
];
const operatorPackages: Area["packages"] = { "@kubernetes/client-node": "type-only", "node:crypto": "any" };
/** Every pure area the test checks. */
const areas: Area[] = [
  raftArea,
  { dir: "operator/src/plan", reach: operatorPure, packages: operatorPackages },
  { dir: "operator/src/render", reach: operatorPure, packages: operatorPackages },
];

/** Identifiers that may not appear at all (as a call, a reference or `globalThis.x`). */
const forbiddenNames = new Set(["setTimeout", "setInterval", "setImmediate", "require"]);
/** Objects whose members may not be read: `process.`, `performance.`. */
const forbiddenObjects = new Set(["process", "performance"]);
/** Single members that may not be read. */
const forbiddenMembers = new Set(["Date.now", "Math.random"]);

/** Every violation in one file, as `file:line:col: message`. */
export function violations(file: string, text: string, area: Area = raftArea): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const report = (node: ts.Node, message: string) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    found.push(`${file}:${line + 1}:${character + 1}: ${message}`);
  };
  const checkSpecifier = (node: ts.Node, spec: string, typeOnly: boolean) => {
    const pkg = area.packages[spec];
    if (pkg !== undefined) {
      if (pkg === "type-only" && !typeOnly) report(node, `imports "${spec}" for more than its types`);
    } else if (!spec.startsWith("./") && !spec.startsWith("../")) {
      report(node, `imports "${spec}" (only relative ./x.ts imports inside ${area.dir}/ are allowed)`);
    } else if (!spec.endsWith(".ts")) {
      report(node, `imports "${spec}" without the .ts extension`);
    } else {
      const target = resolve(dirname(join(root, file)), spec);
      const inside = area.reach.some((r) => !relative(join(root, r), target).startsWith(".."));
      if (!inside) report(node, `imports "${spec}", which is outside ${area.reach.join(", ")}`);
    }
  };
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      const typeOnly = ts.isImportDeclaration(node)
        ? node.importClause?.isTypeOnly === true ||
          (node.importClause?.namedBindings !== undefined &&
            ts.isNamedImports(node.importClause.namedBindings) &&
            node.importClause.name === undefined &&
            node.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
        : node.isTypeOnly;
      if (ts.isStringLiteral(node.moduleSpecifier)) checkSpecifier(node, node.moduleSpecifier.text, typeOnly);
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

for (const area of areas) {
  const dir = join(root, area.dir);
  const files = existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => relative(root, join(dir, f)).split(sep).join("/"))
        .sort()
    : [];
  test(`${area.dir}/ has TypeScript files to check`, () => {
    assert.ok(files.length > 0, `${area.dir}/ has no .ts files`);
  });
  for (const file of files) {
    test(`${file} is pure`, () => {
      const found = violations(file, readFileSync(join(root, file), "utf8"), area);
      if (found.length > 0) assert.fail(`${area.dir}/ must stay pure:\n${found.join("\n")}`);
    });
  }
}

test("the operator's pure areas may import model types but not the API client or I/O", () => {
  const area = areas[1] as Area;
  const file = "operator/src/plan/example.ts";
  const bad = [
    'import { CoreV1Api } from "@kubernetes/client-node";',
    'import { apply } from "../kube/server-side-apply.ts";',
    'import { readFileSync } from "node:fs";',
  ];
  assert.equal(violations(file, bad.join("\n"), area).length, bad.length);
  const good = [
    'import type { V1Pod } from "@kubernetes/client-node";',
    'import { type V1Service } from "@kubernetes/client-node";',
    'import { render } from "../render/render.ts";',
    'import type { RaftKV } from "../raftkv.ts";',
    'import { createHash } from "node:crypto";',
  ];
  assert.deepEqual(violations(file, good.join("\n"), area), []);
});

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
