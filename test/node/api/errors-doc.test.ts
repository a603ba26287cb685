/** docs/errors.md is generated from ERROR_TABLE; this fails when someone changes one without the other. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_TABLE } from "../../../node/src/errors.ts";
import { ERRORS_DOC, renderErrorsDoc } from "../../../scripts/gen-errors-doc.ts";

test("docs/errors.md is up to date (run node scripts/gen-errors-doc.ts)", () => {
  assert.equal(readFileSync(ERRORS_DOC, "utf8"), renderErrorsDoc());
});

test("docs/errors.md has a row for every code with its status", () => {
  const doc = renderErrorsDoc();
  for (const [code, info] of Object.entries(ERROR_TABLE)) {
    assert.match(doc, new RegExp(`^\\| \`${code}\` +\\| ${info.status} +\\|`, "m"), code);
  }
});
