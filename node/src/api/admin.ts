/**
 * Admin routes: membership changes and leadership transfer. Each needs the
 * cluster secret (auth.ts) and, like a write, is forwarded to the leader when
 * it reaches a follower.
 */

import type { Request } from "express";
import { nodeIdProblem } from "../config.ts";
import type { Ctx, RouteFn } from "./app.ts";
import { describe, onlyFields, parseJsonObject } from "./body.ts";
import { ApiFailure } from "./failure.ts";
import { expressExchange, viaLeader } from "./forward.ts";
import { parseQuery } from "./query.ts";

/** Longest incarnation string accepted. */
const MAX_INCARNATION = 128;

/** Registers /admin/* on `route`; `auth` throws UNAUTHORIZED for a missing or wrong secret. */
export function registerAdminRoutes(route: RouteFn, ctx: Ctx, auth: (req: Request) => void): void {
  const { node } = ctx;

  route("/admin/members", "/admin/members", {
    POST: async (req, res) => {
      auth(req);
      const redirect = parseQuery(req, ["redirect"]).flag("redirect");
      const raw = await ctx.body(req);
      const body = parseJsonObject(raw, "the body of POST /admin/members");
      onlyFields(body, ["id", "raftAddr", "httpUrl", "incarnation"], "POST /admin/members");
      const id = memberId(body.id, "BAD_BODY");
      const raftAddr = hostPortField(body.raftAddr);
      const httpUrl = httpUrlField(body.httpUrl);
      const incarnation = body.incarnation;
      if (incarnation !== undefined && (typeof incarnation !== "string" || !/^[\x21-\x7e]{1,128}$/.test(incarnation))) {
        throw new ApiFailure("BAD_BODY", `\`incarnation\` must be 1-${MAX_INCARNATION} printable ASCII characters`);
      }
      const r = await viaLeader(expressExchange(req, res), ctx.forward, redirect, raw, () =>
        node.addLearner(id, raftAddr, httpUrl, incarnation),
      );
      if (!r.forwarded) res.json({ ok: true, id, role: "learner" });
    },
  });

  route("/admin/members/:id/promote", "/admin/members/{id}/promote", {
    POST: async (req, res) => {
      auth(req);
      const redirect = parseQuery(req, ["redirect"]).flag("redirect");
      const id = memberId(req.params.id, "BAD_PARAM");
      const r = await viaLeader(expressExchange(req, res), ctx.forward, redirect, undefined, () => node.promote(id));
      if (!r.forwarded) res.json({ ok: true, id, role: "voter" });
    },
  });

  route("/admin/members/:id", "/admin/members/{id}", {
    DELETE: async (req, res) => {
      auth(req);
      const redirect = parseQuery(req, ["redirect"]).flag("redirect");
      const id = memberId(req.params.id, "BAD_PARAM");
      const r = await viaLeader(expressExchange(req, res), ctx.forward, redirect, undefined, () => node.remove(id));
      if (!r.forwarded) res.json({ ok: true, id });
    },
  });

  route("/admin/transfer-leader", "/admin/transfer-leader", {
    POST: async (req, res) => {
      auth(req);
      const redirect = parseQuery(req, ["redirect"]).flag("redirect");
      const raw = await ctx.body(req);
      // The body is optional: no body (or {}) lets the leader pick the most caught-up voter.
      const body =
        raw.toString("utf8").trim() === "" ? {} : parseJsonObject(raw, "the body of POST /admin/transfer-leader");
      onlyFields(body, ["id"], "POST /admin/transfer-leader");
      const id = body.id === undefined || body.id === null ? undefined : memberId(body.id, "BAD_BODY");
      const r = await viaLeader(expressExchange(req, res), ctx.forward, redirect, raw, () => node.transferLeader(id));
      if (!r.forwarded) res.json({ ok: true, leader: r.value.leader });
    },
  });
}

function memberId(v: unknown, code: "BAD_BODY" | "BAD_PARAM"): string {
  if (typeof v !== "string") throw new ApiFailure(code, `member \`id\` must be a string, not ${describe(v)}`);
  const problem = nodeIdProblem(v);
  if (problem) throw new ApiFailure(code, `member id ${problem}`);
  return v;
}

/** `host:port` (IPv6 in brackets), as peers dial it. */
function hostPortField(v: unknown): string {
  if (typeof v !== "string") throw new ApiFailure("BAD_BODY", `\`raftAddr\` must be a string, not ${describe(v)}`);
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (m === null || port < 1 || port > 65535) {
    throw new ApiFailure("BAD_BODY", `\`raftAddr\` must be host:port, not ${JSON.stringify(v)}`);
  }
  return v;
}

/** An http(s) base URL with no query or fragment. */
function httpUrlField(v: unknown): string {
  if (typeof v !== "string") throw new ApiFailure("BAD_BODY", `\`httpUrl\` must be a string, not ${describe(v)}`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ApiFailure("BAD_BODY", `\`httpUrl\` is not a URL: ${JSON.stringify(v)}`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search !== "" || u.hash !== "" || u.username !== "") {
    throw new ApiFailure("BAD_BODY", `\`httpUrl\` must be an http(s) URL without query, fragment or credentials`);
  }
  return v.replace(/\/+$/, "");
}
