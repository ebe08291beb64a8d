import { useEffect, useState } from "preact/hooks";
import { onSessionChange, sessionState, type SessionState } from "./session";

/** The session state; the component re-renders when it changes. */
export function useSession(): SessionState {
  const [state, setState] = useState(sessionState());
  useEffect(() => {
    const update = () => setState(sessionState());
    const unsubscribe = onSessionChange(update);
    // The state may have changed between the first render and this effect (a session
    // resumed while the page was painting): catch up, or that change is never seen.
    update();
    return unsubscribe;
  }, []);
  return state;
}
