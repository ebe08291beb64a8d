// The header's bell: the signed-in user's unread count. It polls GetUnreadCount (on mount,
// every half minute, and when the tab becomes visible again), and takes the live count from
// the inbox page's WatchNotifications stream while that page is open. The header keeps no
// stream of its own: a connection held open on every page would keep pages from ever being
// idle for tools and tests that wait for that, and the count is a hint, the inbox the truth.
import { useEffect, useState } from "preact/hooks";
import { notificationClient } from "./api";
import { Link } from "./router";

/** How often the count is polled. */
const pollEveryMs = 30_000;

const listeners = new Set<(count: number) => void>();

/** Tells the bell the count changed (a live stream, or notifications marked read). */
export function setUnreadCount(count: number) {
  for (const l of listeners) l(count);
}

/** The bell: a link to the inbox with the unread count. */
export function Bell({ current }: { current?: "page" }) {
  const [count, setCount] = useState<number | undefined>(undefined);
  useEffect(() => {
    listeners.add(setCount);
    const abort = new AbortController();
    const poll = async () => {
      if (abort.signal.aborted || document.visibilityState === "hidden") return;
      try {
        const res = await notificationClient.getUnreadCount({}, { signal: abort.signal });
        setCount(Number(res.unreadCount));
      } catch {
        // The next poll tries again; the bell keeps its last count.
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), pollEveryMs);
    const onVisible = () => void poll();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      listeners.delete(setCount);
      abort.abort();
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, []);
  const label = count === undefined ? "Notifications" : `Notifications, ${count} unread`;
  return (
    <Link href="/notifications" aria-current={current} aria-label={label}>
      Notifications{count ? <span class="badge"> {count}</span> : null}
    </Link>
  );
}
