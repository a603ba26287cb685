import assert from "node:assert/strict";
import { test } from "node:test";
import {
  metrics,
  recordHttpRequest,
  recordKvCacheRead,
  registry,
  setFollowerMatch,
  setRaftGaugeSource,
} from "../../node/src/metrics.ts";

/** The raftkv_follower_match_index series as peer -> value. */
async function matchSeries(): Promise<Record<string, number>> {
  const got = await metrics.followerMatchIndex.get();
  return Object.fromEntries(got.values.map((v) => [String(v.labels.peer), v.value]));
}

test("the leader exports one match index per follower, and updates it", async () => {
  setFollowerMatch(
    new Map([
      ["n2", 10],
      ["n3", 7],
    ]),
  );
  assert.deepEqual(await matchSeries(), { n2: 10, n3: 7 });
  setFollowerMatch(
    new Map([
      ["n2", 12],
      ["n3", 12],
    ]),
  );
  assert.deepEqual(await matchSeries(), { n2: 12, n3: 12 });
  const text = await registry.metrics();
  assert.match(text, /^raftkv_follower_match_index\{peer="n2"\} 12$/m);
});

test("a removed member's series goes away; so does every series when leadership is lost", async () => {
  setFollowerMatch(
    new Map([
      ["n2", 5],
      ["n3", 5],
    ]),
  );
  setFollowerMatch(new Map([["n2", 6]]));
  assert.deepEqual(await matchSeries(), { n2: 6 });
  setFollowerMatch(undefined);
  assert.deepEqual(await matchSeries(), {});
  assert.doesNotMatch(await registry.metrics(), /^raftkv_follower_match_index\{/m);
});

test("KV cache reads are counted as hits and misses", async () => {
  const series = async () => {
    const got = await registry.getSingleMetric("raftkv_kv_cache_reads_total")?.get();
    return Object.fromEntries((got?.values ?? []).map((v) => [String(v.labels.result), v.value]));
  };
  const before = await series();
  recordKvCacheRead(true);
  recordKvCacheRead(true);
  recordKvCacheRead(false);
  const after = await series();
  assert.equal((after.hit ?? 0) - (before.hit ?? 0), 2);
  assert.equal((after.miss ?? 0) - (before.miss ?? 0), 1);
  assert.match(await registry.metrics(), /^raftkv_kv_cache_reads_total\{result="hit"\} \d+$/m);
});

test("client requests: one series per route, method, code and forwarded, as before the series were cached", async () => {
  const base = { route: "/key/{key}", method: "GET", seconds: 0.0003 };
  recordHttpRequest({ ...base, code: 200, forwarded: false });
  recordHttpRequest({ ...base, code: 200, forwarded: false });
  recordHttpRequest({ ...base, code: 200, forwarded: true, seconds: 0.02 });
  recordHttpRequest({ ...base, code: 400, forwarded: false });
  recordHttpRequest({ route: "/key", method: "POST", code: 200, forwarded: true, seconds: 2 });
  const text = await registry.metrics();
  const line = (labels: string) =>
    new RegExp(`^raftkv_http_requests_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1];
  assert.equal(line('route="/key/\\{key\\}",method="GET",code="200",forwarded="false"'), "2");
  assert.equal(line('route="/key/\\{key\\}",method="GET",code="200",forwarded="true"'), "1");
  assert.equal(line('route="/key/\\{key\\}",method="GET",code="400",forwarded="false"'), "1");
  assert.equal(line('route="/key",method="POST",code="200",forwarded="true"'), "1");
  assert.match(text, /^raftkv_http_request_seconds_count\{route="\/key\/\{key\}",method="GET"\} 4$/m);
  assert.match(text, /^raftkv_http_request_seconds_bucket\{le="0\.0005",route="\/key\/\{key\}",method="GET"\} 3$/m);
  assert.match(text, /^raftkv_http_request_seconds_bucket\{le="0\.025",route="\/key\/\{key\}",method="GET"\} 4$/m);
  assert.match(text, /^raftkv_http_request_seconds_sum\{route="\/key",method="POST"\} 2$/m);
});

test("the Raft gauges are filled from their source when a scrape reads them, not before", async () => {
  let calls = 0;
  let term = 7;
  setRaftGaugeSource(() => {
    calls++;
    metrics.term.set(term);
  });
  try {
    assert.equal(calls, 0);
    assert.match(await registry.metrics(), /^raftkv_term 7$/m);
    assert.ok(calls > 0, "the scrape asked the source");
    term = 8;
    assert.match(await registry.metrics(), /^raftkv_term 8$/m, "each scrape reads the current state");
  } finally {
    setRaftGaugeSource(undefined);
  }
  const before = calls;
  await registry.metrics();
  assert.equal(calls, before, "no source: the gauges keep their last values");
});
