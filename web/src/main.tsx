import { render } from "preact";
import { App } from "./app";
import { resume } from "./session";

// Resume the session the refresh cookie carries, if any, before the first page decides
// whether the visitor is signed in.
void resume();
render(<App />, document.getElementById("app")!);
