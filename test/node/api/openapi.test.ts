/**
 * node/src/api/openapi.json describes exactly the routes the app serves: the
 * same paths and methods, the query parameters each accepts, every error code,
 * and no dangling $ref.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { RouteInfo } from "../../../node/src/api/app.ts";
import { ERROR_TABLE } from "../../../node/src/errors.ts";
import { type Running, startApp } from "./fake-node.ts";
import { call } from "./helpers.ts";

type Json = Record<string, unknown>;
const doc = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../../node/src/api/openapi.json"), "utf8"),
) as Json & { paths: Record<string, Record<string, Json>>; components: Json };
const METHODS = ["get", "post", "delete", "put", "patch"];

/** Resolves a local `#/a/b` reference. */
function resolveRef(ref: string): unknown {
  let node: unknown = doc;
  for (const part of ref.replace(/^#\//, "").split("/")) node = (node as Json | undefined)?.[part];
  return node;
}

describe("the OpenAPI document", { timeout: 10_000 }, () => {
  let a: Running;
  before(async () => {
    a = await startApp("n1", { metricsHandler: (_req, res) => void res.send("") });
  });
  after(() => a.close());

  test("is OpenAPI 3.1 with every $ref resolvable", () => {
    assert.equal(doc.openapi, "3.1.0");
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 20);
    for (const ref of refs) assert.notEqual(resolveRef(ref), undefined, `dangling ${ref}`);
  });

  test("lists the same routes and methods the app serves", () => {
    const routes = a.app.locals.routes as RouteInfo[];
    const served = new Map(
      routes.map((r) => [r.path, r.methods.filter((m) => !r.undocumented.includes(m)).map((m) => m.toLowerCase())]),
    );
    const documented = new Map(
      Object.entries(doc.paths).map(([p, item]) => [p, METHODS.filter((m) => m in item)] as const),
    );
    for (const [path, methods] of served) {
      if (methods.length === 0) continue;
      assert.deepEqual(documented.get(path)?.sort(), [...methods].sort(), `methods of ${path}`);
    }
    for (const path of documented.keys()) assert.ok(served.has(path), `${path} is documented but not served`);
  });

  test("operation ids are unique and every operation documents a 200", () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const m of METHODS.filter((x) => x in item)) {
        const op = item[m] as { operationId: string; responses: Json };
        assert.ok(!ids.has(op.operationId), op.operationId);
        ids.add(op.operationId);
        assert.ok("200" in op.responses, `${m} ${path} has no 200`);
      }
    }
  });

  test("the ErrorCode enum is exactly errors.ts's table", () => {
    const schemas = doc.components.schemas as Record<string, { enum?: string[] }>;
    assert.deepEqual([...(schemas.ErrorCode?.enum ?? [])].sort(), Object.keys(ERROR_TABLE).sort());
  });

  test("every documented query parameter is accepted by its route", async () => {
    const sample: Record<string, string> = {
      consistency: "stale",
      redirect: "",
      limit: "5",
      prefix: "p",
      after: "a",
      noleader: "",
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      const url = path.replace("{key}", "k").replace("{id}", "n1");
      for (const m of METHODS.filter((x) => x in item)) {
        const own = (item[m] as Json).parameters as Json[] | undefined;
        const params = [...((item.parameters as unknown as Json[] | undefined) ?? []), ...(own ?? [])]
          .map((p) => (typeof p.$ref === "string" ? (resolveRef(p.$ref) as Json) : p))
          .filter((p) => p.in === "query");
        for (const p of params) {
          const name = p.name as string;
          assert.ok(name in sample, `no sample value for ?${name}`);
          const r = await call(a.url, m.toUpperCase(), `${url}?${name}=${encodeURIComponent(sample[name] ?? "")}`);
          assert.doesNotMatch(r.text, /unknown query parameter/, `${m} ${path}?${name}`);
        }
      }
    }
  });
});
