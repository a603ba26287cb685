/**
 * The status a kubelet reports for a one-container pod, from the pod runner's view of that container:
 * phase, IPs, the container's state and restarts, and the four pod conditions with transition times that
 * move only when a condition changes.
 */

/** The runner's view of the pod's one container. */
export interface ContainerView {
  name: string;
  image: string;
  /** Running: the process's start time and pid. Waiting: why. */
  state: { running: { startedAt: string; pid: number } } | { waiting: { reason: string; message?: string } };
  /** The last run's end, once there was one. */
  lastTerminated?: { exitCode: number; reason: string; startedAt: string; finishedAt: string };
  restartCount: number;
  /** The readiness probe's verdict (or running, without a probe). */
  ready: boolean;
  /** Whether the container ever started, for `started` and the pod's phase. */
  everStarted: boolean;
}

/** Condition types in the order the kubelet lists them. */
const CONDITIONS = ["PodScheduled", "Initialized", "ContainersReady", "Ready"] as const;

/** Remembers when each condition last changed, as a kubelet does. */
export class ConditionClock {
  readonly #since = new Map<string, { status: string; at: string }>();

  /** The time `type` took `status`, now when it just did. */
  transition(type: string, status: string, now: string): string {
    const prev = this.#since.get(type);
    if (prev?.status === status) return prev.at;
    this.#since.set(type, { status, at: now });
    return now;
  }
}

/** Pod status fields (a strategic-merge patch body for pods/status). */
export function podStatus(
  c: ContainerView,
  o: { podIP: string; hostIP: string; startTime: string; now: string; clock: ConditionClock },
): Record<string, unknown> {
  const ready = c.ready && "running" in c.state;
  const notReady = ready
    ? {}
    : { reason: "ContainersNotReady", message: `containers with unready status: [${c.name}]` };
  const status: Record<string, string> = {
    PodScheduled: "True",
    Initialized: "True",
    ContainersReady: ready ? "True" : "False",
    Ready: ready ? "True" : "False",
  };
  const conditions = CONDITIONS.map((type) => ({
    type,
    status: status[type],
    lastProbeTime: null,
    lastTransitionTime: o.clock.transition(type, status[type] as string, o.now),
    ...(type === "ContainersReady" || type === "Ready" ? notReady : {}),
  }));
  const state =
    "running" in c.state
      ? { running: { startedAt: c.state.running.startedAt } }
      : {
          waiting: {
            reason: c.state.waiting.reason,
            ...(c.state.waiting.message ? { message: c.state.waiting.message } : {}),
          },
        };
  const lt = c.lastTerminated;
  const containerStatus = {
    name: c.name,
    image: c.image,
    imageID: c.everStarted ? `loopback://${c.image}` : "",
    ...("running" in c.state ? { containerID: `loopback://${c.state.running.pid}` } : {}),
    ready,
    restartCount: c.restartCount,
    started: "running" in c.state,
    state,
    lastState: lt
      ? {
          terminated: {
            exitCode: lt.exitCode,
            reason: lt.reason,
            startedAt: lt.startedAt,
            finishedAt: lt.finishedAt,
          },
        }
      : {},
  };
  return {
    // A pod whose container never started is Pending; once started (and restarting) it is Running.
    phase: c.everStarted ? "Running" : "Pending",
    hostIP: o.hostIP,
    hostIPs: [{ ip: o.hostIP }],
    podIP: o.podIP,
    podIPs: [{ ip: o.podIP }],
    startTime: o.startTime,
    conditions,
    containerStatuses: [containerStatus],
  };
}
