/**
 * How the operator addresses a member pod: the Raft address recorded in the log and the client URL it
 * calls. In a cluster these are the pod's stable DNS names under the peer Service; tests substitute
 * loopback addresses of real node processes.
 */

/** A member pod's addresses. */
export interface MemberAddresses {
  /** host:port peers dial for Raft. */
  raftAddr: string;
  /** http://host:port of the client API (status and admin routes). */
  httpUrl: string;
}

/** Maps a pod of a RaftKV to its addresses. */
export type PodAddressing = (p: { namespace: string; raftkv: string; pod: string }) => MemberAddresses;
