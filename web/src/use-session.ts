import { useEffect, useState } from "preact/hooks";
import { onSessionChange, sessionState, type SessionState } from "./session";

/** The session state; the component re-renders when it changes. */
export function useSession(): SessionState {
  const [state, setState] = useState(sessionState());
  useEffect(() => onSessionChange(() => setState(sessionState())), []);
  return state;
}
