// Client-side routing over the History API. The server answers every page path with
// index.html, so a route survives a reload and can be bookmarked.
import type { AnchorHTMLAttributes, ComponentChildren, TargetedMouseEvent } from "preact";
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

function notify() {
  for (const listener of listeners) listener();
}

addEventListener("popstate", notify);

/** Goes to a path of the app without reloading the page. */
export function navigate(to: string, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  notify();
}

/** The current location; the component re-renders when it changes. */
export function useLocation(): URL {
  const [, setVersion] = useState(0);
  const href = location.href;
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    // A child's effect may have navigated before this one subscribed (effects run child
    // first): catch up with it.
    if (location.href !== href) listener();
    return () => listeners.delete(listener);
  }, []);
  return new URL(href);
}

/** Changes the query string of the current page, keeping its path. */
export function setQuery(params: Record<string, string>, { replace = false } = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "") query.set(k, v);
  const search = query.toString();
  navigate(location.pathname + (search ? `?${search}` : ""), { replace });
}

/** A route: a path pattern with :name parameters, and what to render there. */
export type Route = {
  path: string;
  render: (params: Record<string, string>) => ComponentChildren;
};

/** Finds the route matching a path and the parameters it binds. */
export function match(routes: Route[], path: string): { route: Route; params: Record<string, string> } | null {
  const parts = path.split("/").filter(Boolean);
  for (const route of routes) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = pattern.every((p, i) => {
      if (p.startsWith(":")) {
        params[p.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return p === parts[i];
    });
    if (ok) return { route, params };
  }
  return null;
}

/** An in-app link: a real <a href>, so it works with the keyboard, new tabs and copying. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const onClick = (e: TargetedMouseEvent<HTMLAnchorElement>) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return <a {...props} onClick={onClick} />;
}
