import type { RaftCore } from "./core.ts";
import type { Progress } from "./progress.ts";
import type { Message, NodeId } from "./types.ts";

// ---- leader side -------------------------------------------------------------

/**
 * Sends the next append to `to` if its flow-control window allows: up to
 * maxEntriesPerMsg entries after `next`, or the snapshot when those entries
 * were compacted away. Returns true when a message went out.
 */
export function sendAppend(r: RaftCore, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.prs.get(to);
  if (!pr || pr.isPaused(r.opts.maxInflight)) return false;
  if (pr.next > r.log.lastIndex() + 1) pr.next = r.log.lastIndex() + 1;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  const ents = r.log.slice(pr.next, r.log.lastIndex() + 1, r.opts.maxEntriesPerMsg);
  if (prevTerm === undefined || ents === undefined) return sendSnapshot(r, to, pr);
  if (ents.length === 0 && !sendIfEmpty) return false;
  r.send({ type: "app", to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: r.log.committed, tick: r.now });
  const last = ents[ents.length - 1];
  if (last) pr.sent(last.index, r.opts.maxInflight);
  else if (pr.state === "probe") pr.probeSent = true;
  return true;
}

/** Sends appends to every member; keeps streaming to followers in replicate state while the window allows. */
export function bcastAppend(r: RaftCore, sendIfEmpty: boolean): void {
  for (const [id, pr] of r.prs) {
    let sent = sendAppend(r, id, sendIfEmpty);
    for (let k = 0; sent && pr.state === "replicate" && k < r.opts.maxInflight; k++) sent = sendAppend(r, id, false);
  }
}

/** Sends an empty append with the commit index to each follower that no append in this Ready tells already. */
export function sendCommit(r: RaftCore): void {
  const told = new Set<NodeId>();
  for (const m of r.msgs) if (m.type === "app" && (m.commit ?? 0) >= r.log.committed) told.add(m.to);
  for (const id of r.prs.keys()) if (id !== r.id && !told.has(id)) sendAppend(r, id, true);
}

/** Heartbeats carry the commit index a follower can safely use and, for reads, a context to confirm. */
export function bcastHeartbeat(r: RaftCore, context: string | undefined): void {
  for (const [id, pr] of r.prs) {
    const m: Parameters<RaftCore["send"]>[0] = {
      type: "heartbeat",
      to: id,
      commit: Math.min(pr.match, r.log.committed),
      tick: r.now,
    };
    if (context !== undefined) m.context = context;
    r.send(m);
  }
}

function sendSnapshot(r: RaftCore, to: NodeId, pr: Progress): boolean {
  if (!r.snapshot) return false;
  // A local snapshot has no state to send: ask the application for a full one and retry later.
  if (r.snapshot.local === true) {
    r.snapshotWanted = true;
    return false;
  }
  pr.becomeSnapshot(r.snapshot);
  sendSnapChunk(r, to, pr);
  return true;
}

/**
 * Sends the chunk at the follower's offset; chunks let a large snapshot
 * travel as many small messages. The same snapshot is sent to the end even if
 * the leader compacts again, or a busy leader would restart forever.
 */
function sendSnapChunk(r: RaftCore, to: NodeId, pr: Progress): void {
  const snap = pr.snap;
  if (!snap) return;
  const offset = pr.snapOffset;
  const chunk = snap.data.slice(offset, offset + r.opts.snapshotChunkSize);
  const done = offset + chunk.length >= snap.data.length;
  r.send({ type: "snap", to, snapshot: snap.meta, offset, chunk, done, tick: r.now });
}

/** Accepts a follower's echo of a leader tick (for check-quorum) if it is not older than the lease start. */
function recordAck(r: RaftCore, pr: Progress, tick: number | undefined): void {
  if (tick !== undefined && tick >= r.leaseStart && tick > pr.ackTick) pr.ackTick = tick;
}

/** Looks up the follower's progress, ignoring answers from an incarnation the configuration does not know. */
function progressFor(r: RaftCore, m: Message): Progress | undefined {
  const pr = r.prs.get(m.from);
  if (!pr) return undefined;
  pr.seenInc = m.fromInc;
  if (!r.incOk(m.from, m.fromInc)) return undefined;
  recordAck(r, pr, m.tick);
  return pr;
}

/** Handles a follower's answer to an append: advance match and commit, or back off after a rejection. */
export function handleAppResponse(r: RaftCore, m: Message): void {
  const pr = progressFor(r, m);
  if (!pr) return;
  const index = m.index ?? 0;
  if (m.reject) {
    let hint = m.rejectHint ?? 0;
    // Fast back-off: skip the whole term the follower does not share.
    if ((m.hintTerm ?? 0) > 0) hint = r.log.findConflictByTerm(hint, m.hintTerm ?? 0);
    if (pr.maybeDecrTo(index, hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused(r.opts.maxInflight);
  if (!pr.maybeUpdate(index)) return;
  if (pr.state === "probe") pr.becomeReplicate();
  else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
  else if (pr.state === "replicate") pr.freeTo(index);

  if (r.maybeCommit()) {
    // Told in the next Ready, riding on appends with entries where there are any (see RaftCore.commitBcast).
    if (r.state === "leader") r.commitBcast = true;
  } else if (wasPaused) {
    sendAppend(r, m.from);
  }
  if (r.state !== "leader") return;
  for (let k = 0; k < r.opts.maxInflight && sendAppend(r, m.from, false); k++) {
    // keep the pipeline full
  }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.sendTimeoutNow(m.from);
}

/** A heartbeat answer: the follower is alive; resume a stalled probe or snapshot and confirm pending reads. */
export function handleHeartbeatResponse(r: RaftCore, m: Message): void {
  const pr = progressFor(r, m);
  if (!pr) return;
  pr.probeSent = false;
  if (pr.state === "replicate" && pr.inflight.length >= r.opts.maxInflight) pr.inflight.shift();
  if (pr.state === "snapshot") {
    // Resend only when the transfer stalled since the last heartbeat (a chunk or its answer was lost).
    if (pr.snapOffset === pr.snapOffsetAtHeartbeat) sendSnapChunk(r, m.from, pr);
    pr.snapOffsetAtHeartbeat = pr.snapOffset;
  } else if (pr.match < r.log.lastIndex()) sendAppend(r, m.from);
  if (m.context !== undefined) r.ackRead(m.context, m.from, m.tick);
}

/** A snapshot chunk answer: move to the offset the follower holds and send on. */
export function handleSnapResponse(r: RaftCore, m: Message): void {
  const pr = progressFor(r, m);
  if (pr?.state !== "snapshot" || !pr.snap) return;
  if (m.snapshot?.index !== pr.pendingSnapshot) return;
  // One chunk in flight: only an answer that moves the offset sends the next
  // one, so duplicated answers cannot multiply the chunks on the wire.
  const offset = m.offset ?? 0;
  if (offset === pr.snapOffset || (!m.reject && offset < pr.snapOffset)) return;
  pr.snapOffset = offset;
  if (offset < pr.snap.data.length || m.reject) sendSnapChunk(r, m.from, pr);
}

// ---- follower side -----------------------------------------------------------

/** The §5.3 consistency check and append; answers with the new match or a hint for fast back-off. */
export function handleAppend(r: RaftCore, m: Message): void {
  const index = m.index ?? 0;
  const tick = m.tick;
  if (index < r.log.committed) {
    r.send({ type: "appResp", to: m.from, index: r.log.committed, tick });
    return;
  }
  const ents = m.entries ?? [];
  const lastNew = r.log.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, ents);
  if (lastNew !== undefined) {
    r.maybeRefreshConfig(ents);
    r.send({ type: "appResp", to: m.from, index: lastNew, tick });
    return;
  }
  const hint = r.log.findConflictByTerm(Math.min(index, r.log.lastIndex()), m.logTerm ?? 0);
  r.send({
    type: "appResp",
    to: m.from,
    index,
    reject: true,
    rejectHint: hint,
    hintTerm: r.log.term(hint) ?? 0,
    tick,
  });
}

/** A heartbeat: adopt the leader's commit (never beyond what we hold) and echo the read context. */
export function handleHeartbeat(r: RaftCore, m: Message): void {
  r.log.commitTo(Math.min(m.commit ?? 0, r.log.lastIndex()));
  const resp: Parameters<RaftCore["send"]>[0] = { type: "heartbeatResp", to: m.from, tick: m.tick };
  if (m.context !== undefined) resp.context = m.context;
  r.send(resp);
}

/** Assembles snapshot chunks in order; the last one installs the snapshot. */
export function handleSnapChunk(r: RaftCore, m: Message): void {
  const meta = m.snapshot;
  if (!meta) return;
  const tick = m.tick;
  if (meta.index <= r.log.committed) {
    r.incoming = undefined;
    r.send({ type: "appResp", to: m.from, index: r.log.committed, tick });
    return;
  }
  const offset = m.offset ?? 0;
  const chunk = m.chunk ?? "";
  if (offset === 0) r.incoming = { meta, data: "" };
  const inc = r.incoming;
  if (!inc || inc.meta.index !== meta.index || inc.meta.term !== meta.term) {
    r.send({ type: "snapResp", to: m.from, snapshot: meta, offset: 0, reject: true, tick });
    return;
  }
  if (offset > inc.data.length) {
    r.send({ type: "snapResp", to: m.from, snapshot: meta, offset: inc.data.length, reject: true, tick });
    return;
  }
  if (offset === inc.data.length) inc.data += chunk;
  if (m.done && offset + chunk.length === inc.data.length) {
    r.incoming = undefined;
    const restored = r.restore(inc);
    r.send({ type: "appResp", to: m.from, index: restored ? r.log.lastIndex() : r.log.committed, tick });
    return;
  }
  r.send({ type: "snapResp", to: m.from, snapshot: meta, offset: inc.data.length, tick });
}
