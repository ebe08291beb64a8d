import { useEffect, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Notification, NotificationPreference } from "@gen/tutorhub/v1/notification_pb";
import { notificationClient } from "../api";
import { setUnreadCount } from "../bell";
import { Link } from "../router";
import { LoadError, Loading, Notice, SubmitError, useLoad, useSubmit, useTitle } from "../ui";

/** The inbox: newest first, a page at a time, each item markable as read. */
export function NotificationsPage() {
  useTitle("Notifications");
  const [items, setItems] = useState<Notification[]>([]);
  const [next, setNext] = useState("");
  const [load, retry] = useLoad(async () => {
    const res = await notificationClient.listNotifications({ pageSize: 20 });
    setItems(res.notifications);
    setNext(res.nextPageToken);
  }, []);
  // Live: new items arrive on the stream while the page is open (it falls back to the list
  // as loaded, and the bell's polling, when the stream is not served or ends).
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          for await (const msg of notificationClient.watchNotifications({}, { signal: abort.signal })) {
            setUnreadCount(Number(msg.unreadCount));
            const n = msg.notification;
            if (n) setItems((old) => (old.some((o) => o.id === n.id) ? old : [n, ...old]));
          }
        } catch {
          // Ended: reconnect after a pause.
        }
        await new Promise((r) => setTimeout(r, 5_000));
      }
    })();
    return () => abort.abort();
  }, []);
  const refreshCount = async () => setUnreadCount(Number((await notificationClient.getUnreadCount({})).unreadCount));
  const more = useSubmit(async () => {
    const res = await notificationClient.listNotifications({ pageSize: 20, pageToken: next });
    setItems([...items, ...res.notifications]);
    setNext(res.nextPageToken);
  });
  const allRead = useSubmit(async () => {
    await notificationClient.markAllRead({});
    const res = await notificationClient.listNotifications({ pageSize: Math.max(20, Math.min(items.length, 100)) });
    setItems(res.notifications);
    setNext(res.nextPageToken);
    await refreshCount();
  });
  const markRead = async (id: string) => {
    const res = await notificationClient.markRead({ notificationId: id });
    setItems(items.map((n) => (n.id === id && res.notification ? res.notification : n)));
    await refreshCount();
  };
  return (
    <section>
      <h1>Notifications</h1>
      <p>
        <Link href="/notifications/preferences">Notification settings</Link>
      </p>
      {load.status === "loading" && <Loading what="Loading your notifications" />}
      {load.status === "error" && <LoadError error={load.error} retry={retry} />}
      {load.status === "ok" && items.length === 0 && <p>No notifications yet.</p>}
      {load.status === "ok" && items.length > 0 && (
        <>
          <form onSubmit={allRead.onSubmit}>
            <button type="submit" disabled={allRead.busy}>
              Mark all as read
            </button>
            <SubmitError submission={allRead} />
          </form>
          <ul class="inbox">
            {items.map((n) => (
              <li key={n.id} data-unread={n.readTime ? undefined : "true"}>
                <h2>{n.title}</h2>
                <p>{n.body}</p>
                <p class="hint">
                  {n.createTime && timestampDate(n.createTime).toLocaleString()}
                  {!n.readTime && (
                    <>
                      {" · "}
                      <button type="button" class="link-button" onClick={() => void markRead(n.id)}>
                        Mark as read
                      </button>
                    </>
                  )}
                </p>
              </li>
            ))}
          </ul>
          {next && (
            <form onSubmit={more.onSubmit}>
              <button type="submit" disabled={more.busy}>
                Older notifications
              </button>
              <SubmitError submission={more} />
            </form>
          )}
        </>
      )}
    </section>
  );
}

const categoryNames: Record<string, string> = {
  security: "Security (password changes, new sign-ins, recoveries)",
  tutors: "Your tutor profile",
  uploads: "Your uploads",
};
const channelNames: Record<string, string> = { inbox: "In the app", email: "By email" };

/** Which categories reach the user on which channel; security is always on. */
export function NotificationPreferencesPage() {
  useTitle("Notification settings");
  const [prefs, setPrefs] = useState<NotificationPreference[]>([]);
  const [saved, setSaved] = useState(false);
  const [load, retry] = useLoad(async () => {
    setPrefs((await notificationClient.getNotificationPreferences({})).preferences);
  }, []);
  const save = useSubmit(async () => {
    setSaved(false);
    const res = await notificationClient.updateNotificationPreferences({
      preferences: prefs.filter((p) => !p.locked).map((p) => ({ category: p.category, channel: p.channel, enabled: p.enabled })),
    });
    setPrefs(res.preferences);
    setSaved(true);
  });
  const toggle = (i: number) => setPrefs(prefs.map((p, j) => (j === i ? { ...p, enabled: !p.enabled } : p)));
  return (
    <section>
      <h1>Notification settings</h1>
      {load.status === "loading" && <Loading what="Loading your settings" />}
      {load.status === "error" && <LoadError error={load.error} retry={retry} />}
      {load.status === "ok" && (
        <form onSubmit={save.onSubmit}>
          {Object.keys(categoryNames).map((category) => (
            <fieldset key={category}>
              <legend>{categoryNames[category]}</legend>
              {prefs.map((p, i) =>
                p.category !== category ? null : (
                  <label key={p.channel}>
                    <input type="checkbox" name={`${p.category}.${p.channel}`} checked={p.enabled} disabled={p.locked} onChange={() => toggle(i)} />{" "}
                    {channelNames[p.channel] ?? p.channel}
                    {p.locked && " (always on)"}
                  </label>
                ),
              )}
            </fieldset>
          ))}
          <button type="submit" disabled={save.busy}>
            Save
          </button>
          <SubmitError submission={save} />
          {saved && <Notice kind="success">Saved.</Notice>}
        </form>
      )}
    </section>
  );
}
