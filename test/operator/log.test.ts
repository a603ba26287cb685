/** The operator's JSON-lines logger: one object per line, level filtering, child fields, errors as objects. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../operator/src/log.ts";

test("writes one JSON object per line with time, level, msg and the fields", () => {
  const lines: string[] = [];
  const log = createLogger("info", { component: "test" }, (l) => lines.push(l));
  log.info("hello", { key: "ns/a", n: 3 });
  assert.equal(lines.length, 1);
  const o = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
  assert.equal(o.level, "info");
  assert.equal(o.msg, "hello");
  assert.equal(o.component, "test");
  assert.equal(o.key, "ns/a");
  assert.equal(o.n, 3);
  assert.ok(!Number.isNaN(Date.parse(String(o.time))));
  assert.ok(!(lines[0] ?? "").includes("\n"));
});

test("drops lines below the level", () => {
  const lines: string[] = [];
  const log = createLogger("warn", {}, (l) => lines.push(l));
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { level: string }).level),
    ["warn", "error"],
  );
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
});

test("child loggers add fields; errors become plain objects; unserialisable fields do not throw", () => {
  const lines: string[] = [];
  const log = createLogger("debug", {}, (l) => lines.push(l)).child({ raftkv: "ns/demo" });
  const err = Object.assign(new Error("boom", { cause: new Error("root") }), { status: 409 });
  log.error("failed", { error: err });
  const o = JSON.parse(lines[0] ?? "") as { raftkv: string; error: Record<string, unknown> };
  assert.equal(o.raftkv, "ns/demo");
  assert.deepEqual(o.error, { name: "Error", message: "boom", status: 409, cause: "root" });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  log.info("cyclic", { cyclic });
  assert.match(lines[1] ?? "", /fields not serialisable/);
});
