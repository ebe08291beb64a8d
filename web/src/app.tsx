import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Link, match, navigate, useLocation, type Route } from "./router";
import { logout } from "./session";
import { Loading, Notice, useTitle } from "./ui";
import { useSession } from "./use-session";
import { describe } from "./errors";
import { Bell } from "./bell";
import { BookingsPage } from "./pages/bookings";
import { LoginPage } from "./pages/login";
import { NotificationPreferencesPage, NotificationsPage } from "./pages/notifications";
import { ProfilePage } from "./pages/profile";
import { RecoverPage } from "./pages/recover";
import { RegisterPage } from "./pages/register";
import { ServiceAccountsPage } from "./pages/service-accounts";
import { SubjectsPage } from "./pages/subjects";
import { TutorEditPage } from "./pages/tutor-edit";
import { TutorPage } from "./pages/tutor";
import { TutorsPage } from "./pages/tutors";
import { VerifyPage } from "./pages/verify";

const routes: Route[] = [
  { path: "/", render: () => <TutorsPage /> },
  { path: "/tutors", render: () => <TutorsPage /> },
  { path: "/tutors/:id", render: (p) => <TutorPage id={p.id} /> },
  { path: "/subjects", render: () => <SubjectsPage /> },
  { path: "/register", render: () => <RegisterPage /> },
  { path: "/verify", render: () => <VerifyPage /> },
  { path: "/login", render: () => <LoginPage /> },
  { path: "/recover", render: () => <RecoverPage /> },
  { path: "/me", render: () => <SignedIn><ProfilePage /></SignedIn> },
  { path: "/me/tutor", render: () => <SignedIn><TutorEditPage /></SignedIn> },
  { path: "/admin/service-accounts", render: () => <SignedIn><ServiceAccountsPage /></SignedIn> },
  { path: "/bookings", render: () => <SignedIn><BookingsPage /></SignedIn> },
  { path: "/notifications", render: () => <SignedIn><NotificationsPage /></SignedIn> },
  { path: "/notifications/preferences", render: () => <SignedIn><NotificationPreferencesPage /></SignedIn> },
];

/** The whole app: header, the page of the current route, footer. */
export function App() {
  const loc = useLocation();
  const found = match(routes, loc.pathname);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After an in-app navigation, start the next page at the top and move focus to it, as a
  // full page load would, so keyboard and screen-reader users land on the new content.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    scrollTo(0, 0);
    main.current?.focus();
  }, [loc.pathname]);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header path={loc.pathname} />
      <main id="main" ref={main} tabIndex={-1}>
        {found ? found.route.render(found.params) : <NotFound />}
      </main>
      <footer>
        <p>
          tutorhub · <a href="/docs">API documentation</a>
        </p>
      </footer>
    </>
  );
}

function Header({ path }: { path: string }) {
  const session = useSession();
  const [error, setError] = useState<unknown>(undefined);
  const current = (href: string) => (path === href ? "page" : undefined);
  const onLogout = async () => {
    setError(undefined);
    try {
      await logout();
      navigate("/login");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <header>
      <nav aria-label="Main">
        <Link href="/" class="brand">
          tutorhub
        </Link>
        <ul>
          <li>
            <Link href="/tutors" aria-current={current("/tutors")}>
              Find a tutor
            </Link>
          </li>
          <li>
            <Link href="/subjects" aria-current={current("/subjects")}>
              Subjects
            </Link>
          </li>
          {session.status === "signed-in" && (
            <>
              <li>
                <Link href="/me" aria-current={current("/me")}>
                  My profile
                </Link>
              </li>
              <li>
                <Link href="/me/tutor" aria-current={current("/me/tutor")}>
                  Tutor profile
                </Link>
              </li>
              <li>
                <Link href="/bookings" aria-current={current("/bookings")}>
                  My bookings
                </Link>
              </li>
              <li>
                <Bell current={current("/notifications")} />
              </li>
              <li>
                <button type="button" class="link-button" onClick={onLogout}>
                  Log out
                </button>
              </li>
            </>
          )}
          {session.status === "signed-out" && (
            <>
              <li>
                <Link href="/login" aria-current={current("/login")}>
                  Log in
                </Link>
              </li>
              <li>
                <Link href="/register" aria-current={current("/register")}>
                  Register
                </Link>
              </li>
            </>
          )}
        </ul>
      </nav>
      {error !== undefined && <Notice kind="error">Could not log out: {describe(error)}</Notice>}
    </header>
  );
}

/** Renders children for a signed-in visitor; sends anyone else to the login page and back. */
function SignedIn({ children }: { children: ComponentChildren }) {
  const session = useSession();
  useEffect(() => {
    if (session.status === "signed-out") {
      navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    }
  }, [session.status]);
  if (session.status !== "signed-in") return <Loading what="Checking your session" />;
  return <>{children}</>;
}

function NotFound() {
  useTitle("Page not found");
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page at this address. <Link href="/tutors">Find a tutor</Link> instead.
      </p>
    </>
  );
}
