// The Phase 0 journey in a real browser (Debian's Chromium driven by playwright-core),
// against a running API: run it through e2e/run.mjs, which starts one and sets
// E2E_BASE_URL. Every step checks what a person would see; a failed step saves screenshots
// of every open page to E2E_ARTIFACTS.
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const base = process.env.E2E_BASE_URL;
const mailpit = process.env.TUTORHUB_TEST_MAILPIT_URL ?? "http://127.0.0.1:8025";
const artifacts = process.env.E2E_ARTIFACTS ?? "e2e/artifacts";
const runId = process.env.E2E_RUN_ID ?? Date.now().toString(36);
assert.ok(base, "E2E_BASE_URL is not set: run the journey through e2e/run.mjs");
mkdirSync(artifacts, { recursive: true });

const tutorName = `Ada ${runId}`;
const email = `ada-${runId}@example.com`;
const firstPassword = `Analytical-Engine-${runId}!`;
const secondPassword = `Difference-Engine-${runId}?`;
const visitorEmail = `visitor-${runId}@example.com`;
const visitorPassword = `Babbage-Lovelace-${runId}#`;
const headline = `Mathematics that makes sense ${runId}`;
// A word of the tutor's bio alone (letters only, unique to the run), which the search page
// finds once the index has caught up with the publication.
const bioWord = `abacus${runId.replace(/[0-9]/g, (d) => "qrstuvwxyz"[Number(d)])}`;

let browser;
/** @type {Map<string, {page: import("playwright-core").Page, problems: string[], expected: Set<number>}>} */
const pages = new Map();

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-gpu", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * Opens a watched page: every console error, uncaught exception, failed request and HTTP
 * error status becomes a problem, unless the status is expected at that moment (a form
 * submitted with bad input on purpose answers 400).
 */
async function openPage(name, context) {
  const page = await context.newPage();
  const watched = { page, problems: [], expected: new Set() };
  const expectedStatus = (text) => [...watched.expected].some((s) => text.includes(`status of ${s}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !expectedStatus(msg.text())) watched.problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => watched.problems.push(`uncaught: ${err.message}`));
  page.on("requestfailed", (req) => {
    // Going to another page (as the journey does at once) cancels the old page's loads,
    // documents and API reads alike. The browser reports only its own cancellations as
    // ERR_ABORTED; a server that fails or drops a request shows as another error or status.
    const superseded = req.failure()?.errorText === "net::ERR_ABORTED";
    if (!superseded) watched.problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400 && !watched.expected.has(res.status())) {
      watched.problems.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
    }
  });
  pages.set(name, watched);
  return page;
}

/** Runs action while the given HTTP error statuses are expected on page. */
async function expectingStatus(page, statuses, action) {
  const watched = [...pages.values()].find((w) => w.page === page);
  for (const s of statuses) watched.expected.add(s);
  try {
    await action();
    // Let the console message of the expected response arrive while it is still expected.
    await page.waitForTimeout(100);
  } finally {
    for (const s of statuses) watched.expected.delete(s);
  }
}

let failed = false;

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A small RGB PNG of width x height pixels, a colour gradient, encoded here. */
function pngImage(width, height) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    rows.push(0); // no filter
    for (let x = 0; x < width; x++) rows.push((x * 255) / width, (y * 255) / height, 128);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Waits until the image locator names has loaded (a decoded picture: naturalWidth > 0). */
async function waitForImage(img) {
  await img.waitFor();
  await img.evaluate(
    (el) =>
      new Promise((resolve, reject) => {
        const check = () => (el.complete && el.naturalWidth > 0 ? resolve() : el.complete ? reject(new Error(`image ${el.src} did not load`)) : null);
        el.addEventListener("load", check);
        el.addEventListener("error", () => reject(new Error(`image ${el.src} failed to load`)));
        check();
      }),
  );
  assert.ok((await img.evaluate((el) => el.naturalWidth)) > 0);
}

/** One step of the journey; after a failure the rest are skipped, with screenshots saved. */
function step(name, fn) {
  test(name, async (t) => {
    if (failed) {
      t.skip("an earlier step failed");
      return;
    }
    try {
      await fn();
      for (const [pageName, w] of pages) {
        assert.deepEqual(w.problems, [], `problems on page ${pageName}`);
      }
    } catch (err) {
      failed = true;
      const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      for (const [pageName, w] of pages) {
        if (w.page.isClosed()) continue;
        const path = join(artifacts, `${slug}--${pageName}.png`);
        await w.page.screenshot({ path, fullPage: true }).catch(() => {});
        console.error(`screenshot: ${path} (${w.page.url()})`);
        for (const p of w.problems) console.error(`problem on page ${pageName}: ${p}`);
      }
      throw err;
    }
  });
}

/** The text of the error shown for the input with this label, once the input is marked invalid. */
async function fieldError(page, label) {
  const input = page.getByLabel(label, { exact: true });
  await input.and(page.locator('[aria-invalid="true"]')).waitFor();
  const ids = ((await input.getAttribute("aria-describedby")) ?? "").split(" ");
  const errorId = ids.find((id) => id.endsWith("-error"));
  assert.ok(errorId, `${label}: no error referenced by aria-describedby`);
  return page.locator(`[id="${errorId}"]`).textContent();
}

/** The text of the error shown for a fieldset (a group of checkboxes) with this legend. */
async function groupError(page, legend) {
  const group = page.getByRole("group", { name: legend, exact: true });
  await group.locator("[data-field-error]").first().waitFor();
  return group.locator("[data-field-error]").first().textContent();
}

/** Waits until an input holds value (inputs keep their value in a property, not an attribute). */
async function waitForValue(input, value, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await input.inputValue().catch(() => undefined);
    if (last === value) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(last, value);
}

/** Waits until a locator matches exactly n elements. */
async function waitForCount(locator, n, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let count;
  while (Date.now() < deadline) {
    count = await locator.count();
    if (count === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(count, n);
}

/**
 * Submits the search form until locator matches n elements, failing after the deadline: the
 * search index follows profile changes shortly after they commit (outbox, worker, IndexTutor).
 */
async function searchUntil(page, locator, n, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  const settled = page.getByTestId("results").and(page.locator('[aria-busy="false"]'));
  for (;;) {
    const answered = page.waitForResponse((res) => res.url().endsWith("/tutorhub.v1.SearchService/SearchTutors"));
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await answered;
    await settled.waitFor();
    const count = await locator.count();
    if (count === n) return;
    if (Date.now() > deadline) assert.equal(count, n, `the search did not show ${n} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Mail messages to an address, newest first. */
async function mailTo(address) {
  const res = await fetch(`${mailpit}/api/v1/search?query=${encodeURIComponent(`to:"${address}"`)}`);
  assert.equal(res.status, 200, "Mailpit search");
  return (await res.json()).messages ?? [];
}

/** Waits for a new message to the address and returns the six-digit code alone on a line. */
async function waitForCode(address, seenIds) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const fresh = (await mailTo(address)).filter((m) => !seenIds.includes(m.ID));
    if (fresh.length > 0) {
      const res = await fetch(`${mailpit}/api/v1/message/${fresh[0].ID}`);
      const text = (await res.json()).Text ?? "";
      const code = /^\s*(\d{6})\s*$/m.exec(text)?.[1];
      assert.ok(code, `no six-digit code in mail "${fresh[0].Subject}"`);
      return code;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no new mail to ${address} within 30s`);
}

/** Waits for a mail to address with this subject. */
async function waitForMail(address, subject, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await mailTo(address)).some((m) => m.Subject === subject)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no mail "${subject}" to ${address} within ${timeoutMs / 1000}s`);
}

async function seenMail(address) {
  return (await mailTo(address)).map((m) => m.ID);
}

let tutor; // the first user's page
let visitor; // the second user's page, in a browser context of its own
let publicUrl = "";

step("the catalogue lists subjects a page at a time, filtered by category", async () => {
  const context = await browser.newContext();
  visitor = await openPage("visitor", context);
  await visitor.goto(`${base}/subjects`);
  await visitor.getByRole("heading", { name: "Subjects", level: 1 }).waitFor();
  const list = visitor.getByRole("list", { name: "Subjects" });
  await list.getByText("Accounting", { exact: true }).waitFor();
  assert.equal(await list.getByText("Mathematics", { exact: true }).count(), 0, "Mathematics is not on the first page");
  await visitor.getByRole("button", { name: "Show more subjects" }).click();
  await list.getByText("Mathematics", { exact: true }).waitFor();
  await list.getByText("Accounting", { exact: true }).waitFor();
  await visitor.getByLabel("Category").selectOption("Languages");
  await list.getByText("French", { exact: true }).waitFor();
  assert.equal(await list.getByText("Mathematics", { exact: true }).count(), 0);
  assert.match(visitor.url(), /category=Languages/);
});

step("the list of tutors pages on with its cursor", async () => {
  const listed = Number(process.env.E2E_LISTED_TUTORS ?? "0");
  assert.ok(listed > 20, "the runner seeds more than two pages of published tutors");
  await visitor.goto(`${base}/tutors`);
  const cards = visitor.getByTestId("tutor-card");
  await waitForCount(cards, 10);
  await visitor.getByRole("button", { name: "Show more tutors" }).click();
  await waitForCount(cards, 20);
  await visitor.getByRole("button", { name: "Show more tutors" }).click();
  await waitForCount(cards, listed);
  assert.equal(await visitor.getByRole("button", { name: "Show more tutors" }).count(), 0, "no page after the last");
  const hrefs = await cards.getByRole("link").evaluateAll((links) => links.map((a) => a.getAttribute("href")));
  assert.equal(new Set(hrefs).size, listed, "every tutor once");
});

step("a search pages on with its cursor", async () => {
  // Every seeded headline reads "... tutor, N years of experience"; the runner indexed them.
  const listed = Number(process.env.E2E_LISTED_TUTORS ?? "0");
  await visitor.goto(`${base}/tutors?q=experience`);
  const cards = visitor.getByTestId("tutor-card");
  await waitForCount(cards, 10);
  await visitor.getByRole("button", { name: "Show more tutors" }).click();
  await waitForCount(cards, 20);
  await visitor.getByRole("button", { name: "Show more tutors" }).click();
  await waitForCount(cards, listed);
  assert.equal(await visitor.getByRole("button", { name: "Show more tutors" }).count(), 0, "no page after the last");
  const hrefs = await cards.getByRole("link").evaluateAll((links) => links.map((a) => a.getAttribute("href")));
  assert.equal(new Set(hrefs).size, listed, "every tutor once");
});

step("register: bad input shows each field's error, good input creates the account", async () => {
  const context = await browser.newContext();
  tutor = await openPage("tutor", context);
  await tutor.goto(`${base}/`);
  await tutor.getByRole("link", { name: "Register" }).click();
  await tutor.getByRole("heading", { name: "Create an account" }).waitFor();
  await tutor.getByLabel("Your name").fill(tutorName);
  await tutor.getByLabel("Email", { exact: true }).fill("not-an-email");
  await tutor.getByLabel("Password", { exact: true }).fill(firstPassword);
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByRole("button", { name: "Create account" }).click();
    assert.match(await fieldError(tutor, "Email"), /email/i);
  });
  // The first invalid field has the focus, so a keyboard user can fix it at once.
  assert.equal(await tutor.evaluate(() => document.activeElement?.getAttribute("name")), "email");

  await tutor.getByLabel("Email", { exact: true }).fill(email);
  await tutor.getByRole("button", { name: "Create account" }).click();
  await tutor.getByRole("heading", { name: "Verify your email" }).waitFor();
  assert.match(tutor.url(), /\/verify\?flow=/);
});

step("verify email: a malformed code is refused, the mailed code verifies", async () => {
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByLabel("Verification code").fill("12");
    await tutor.getByRole("button", { name: "Verify", exact: true }).click();
    assert.ok((await fieldError(tutor, "Verification code")).length > 0);
  });
  const code = await waitForCode(email, []);
  await tutor.getByLabel("Verification code").fill(code);
  await tutor.getByRole("button", { name: "Verify", exact: true }).click();
  await tutor.getByRole("heading", { name: "Email verified" }).waitFor();
});

step("registering signs nobody in: the new account logs in with its password", async () => {
  await tutor.getByRole("link", { name: "Log in", exact: true }).first().click();
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
  await tutor.getByLabel("Email").fill(email);
  await tutor.getByLabel("Password").fill(firstPassword);
  await tutor.getByRole("button", { name: "Log in" }).click();
  await tutor.getByRole("heading", { name: "My profile" }).waitFor();
});

step("a reload keeps the session (refresh cookie, access token in memory only)", async () => {
  await tutor.goto(`${base}/me`);
  await tutor.getByTestId("email").getByText(email).waitFor();
  // A reload cancels the page's calls still in flight (a profile read after the session's
  // resumption, on a slow machine), which would count as failed requests.
  await tutor.waitForLoadState("networkidle");
  await tutor.reload();
  await tutor.getByTestId("email").getByText(email).waitFor();
  const cookies = await tutor.context().cookies(base);
  // __Host-tutorhub_session when the API sets secure cookies (production).
  const session = cookies.find((c) => c.name === "tutorhub_session" || c.name === "__Host-tutorhub_session");
  assert.ok(session, "no tutorhub_session cookie");
  assert.equal(session.httpOnly, true, "the session cookie must be HttpOnly");
  const stored = await tutor.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.doesNotMatch(stored, /eyJ/, "a token was written to web storage");
});

// Once the page's clock is faked, its timers (rendering's included) fire only as that clock
// advances: wait for locator while advancing it in small steps.
async function waitWithFakeClock(page, locator, within = 30_000) {
  const deadline = Date.now() + within;
  while (!(await locator.isVisible())) {
    if (Date.now() > deadline) throw new Error(`not visible within ${within} ms with the fake clock running`);
    await page.clock.runFor(100);
  }
}

step("the access token is renewed silently before it expires", async () => {
  // A tab of its own with a fake clock, so the rest of the journey keeps real time.
  const clocked = await openPage("tutor-clock", tutor.context());
  await clocked.clock.install();
  await clocked.goto(`${base}/me`);
  await waitWithFakeClock(clocked, clocked.getByTestId("email").getByText(email));
  const renewed = clocked.waitForResponse((res) => res.url().endsWith("/tutorhub.v1.AuthService/Refresh") && res.ok());
  // Access tokens live ten minutes; the page renews at four fifths of that.
  await clocked.clock.fastForward("08:30");
  await renewed;
  await clocked.reload();
  await waitWithFakeClock(clocked, clocked.getByTestId("email").getByText(email));
  await clocked.close();
  pages.delete("tutor-clock");
});

step("my profile: a too-long name is refused, a good one is saved", async () => {
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByLabel("Display name").fill("x".repeat(101));
    await tutor.getByRole("button", { name: "Save profile" }).click();
    assert.ok((await fieldError(tutor, "Display name")).length > 0);
  });
  await tutor.getByLabel("Display name").fill(tutorName);
  await tutor.getByLabel("Time zone").selectOption("Europe/Berlin");
  await tutor.getByRole("button", { name: "Save profile" }).click();
  await tutor.getByText("Profile saved.").waitFor();
});

step("become a tutor: a bad rate and a bad language are refused, a draft is created", async () => {
  await tutor.getByRole("link", { name: "Tutor profile", exact: true }).click();
  await tutor.getByRole("heading", { name: "Tutor profile" }).waitFor();
  await tutor.getByLabel("Headline").fill(headline);
  await tutor.getByLabel("Hourly rate").fill("a lot");
  await tutor.getByRole("button", { name: "Create tutor profile" }).click();
  assert.match(await fieldError(tutor, "Hourly rate"), /Enter an amount/);
  await tutor.getByLabel("Hourly rate").fill("");
  // The API's rule on each language tag, reported on languages[1], shows at the one input.
  await tutor.getByLabel("Languages you teach in").fill("en, x");
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByRole("button", { name: "Create tutor profile" }).click();
    assert.match(await fieldError(tutor, "Languages you teach in"), /at least 2 characters/);
  });
  await tutor.getByLabel("Languages you teach in").fill("");
  await tutor.getByRole("button", { name: "Create tutor profile" }).click();
  await tutor.getByText("Your tutor profile is created").waitFor();
  await tutor.getByTestId("publication-status").getByText("not published").waitFor();
});

step("publishing an incomplete profile names the missing fields", async () => {
  // Connect sends failed_precondition as HTTP 400.
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByRole("button", { name: "Publish", exact: true }).click();
    assert.match(await fieldError(tutor, "About you"), /required to publish/i);
    assert.match(await groupError(tutor, "Lesson modes"), /required to publish/i);
  });
  await tutor.getByText("Complete the fields marked below").waitFor();
});

step("edit the tutor profile: subjects, rate, languages, modes, time zone, availability", async () => {
  await tutor.getByLabel("About you").fill(`I teach mathematics with an ${bioWord}.\nPatiently. (${runId})`);
  await tutor.getByLabel("Subject to add").selectOption({ label: "Mathematics" });
  await tutor.getByRole("button", { name: "Add subject" }).click();
  await tutor.getByRole("group", { name: "Mathematics: levels" }).getByLabel("Secondary", { exact: true }).check();
  await tutor.getByRole("group", { name: "Mathematics: levels" }).getByLabel("Upper secondary", { exact: true }).check();
  await tutor.getByLabel("Hourly rate").fill("35.50");
  await tutor.getByLabel("Currency").selectOption("EUR");
  // Welsh: no seeded tutor speaks it, so the filters below find this tutor alone.
  await tutor.getByLabel("Languages you teach in").fill("en, cy");
  await tutor.getByRole("group", { name: "Lesson modes" }).getByLabel("Online", { exact: true }).check();
  await tutor.getByLabel("Time zone").selectOption("Europe/Berlin");
  await tutor.getByRole("button", { name: "Add a time slot" }).click();
  await tutor.getByLabel("Slot 1 day").selectOption({ label: "Tuesday" });
  await tutor.getByLabel("Slot 1 from").fill("17:00");
  await tutor.getByLabel("Slot 1 until").fill("19:30");
  await tutor.getByRole("button", { name: "Save changes" }).click();
  await tutor.getByText("Changes saved.").waitFor();
});

step("a stale save is refused with an offer to reload", async () => {
  const other = await openPage("tutor-second-tab", tutor.context());
  await other.goto(`${base}/me/tutor`);
  await other.getByLabel("Headline").fill(`${headline}!`);
  await other.getByRole("button", { name: "Save changes" }).click();
  await other.getByText("Changes saved.").waitFor();
  await other.close();
  pages.delete("tutor-second-tab");

  await tutor.getByLabel("Headline").fill(`${headline}?`);
  await expectingStatus(tutor, [409], async () => {
    await tutor.getByRole("button", { name: "Save changes" }).click();
    await tutor.getByText("changed elsewhere").waitFor();
  });
  await tutor.getByRole("button", { name: "Reload the latest version" }).click();
  await waitForValue(tutor.getByLabel("Headline"), `${headline}!`);
});

step("publish the profile", async () => {
  await tutor.getByRole("button", { name: "Publish", exact: true }).click();
  await tutor.getByTestId("publication-status").getByText("published", { exact: true }).waitFor();
  const link = tutor.getByRole("link", { name: "View your public page" });
  publicUrl = new URL((await link.getAttribute("href")) ?? "", base).href;
});

step("upload a photo: a file that is not the image it claims is refused in words, a PNG passes the virus check", async () => {
  await tutor.goto(`${base}/me`);
  await tutor.getByRole("heading", { name: "Photo" }).waitFor();
  const status = tutor.getByTestId("avatar-status");
  // Text named .png: the scan reads the bytes and refuses it, and the page says why.
  await tutor.getByLabel("New photo").setInputFiles({ name: "not-a-picture.png", mimeType: "image/png", buffer: Buffer.from(`plain text, not a picture ${runId}\n`) });
  await status.and(tutor.locator('[data-status="rejected"]')).waitFor({ timeout: 90_000 });
  assert.match(await status.innerText(), /The file was refused: .*(text\/plain|type)/);
  await tutor.getByLabel("New photo").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: pngImage(64, 48) });
  await status.and(tutor.locator('[data-status="clean"]')).waitFor({ timeout: 90_000 });
  await status.getByText("The file passed the check.").waitFor();
  const img = tutor.getByRole("img", { name: "Your photo" });
  await img.waitFor();
  await waitForImage(img);
});

step("upload a credential document on the tutor page: it passes the virus check", async () => {
  await tutor.goto(`${base}/me/tutor`);
  await tutor.getByRole("heading", { name: "Credentials" }).waitFor();
  const pdf = Buffer.from(`%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${runId}\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
  await tutor.getByLabel("Credential document").setInputFiles({ name: "diploma.pdf", mimeType: "application/pdf", buffer: pdf });
  await tutor.getByTestId("credential-status").and(tutor.locator('[data-status="clean"]')).waitFor({ timeout: 90_000 });
});

step("a second user signs up in a browser of their own", async () => {
  await visitor.goto(`${base}/`);
  await visitor.getByRole("link", { name: "Register" }).click();
  await visitor.getByRole("heading", { name: "Create an account" }).waitFor();
  await visitor.getByLabel("Your name").fill("Visiting Student");
  await visitor.getByLabel("Email", { exact: true }).fill(visitorEmail);
  await visitor.getByLabel("Password", { exact: true }).fill(visitorPassword);
  await visitor.getByRole("button", { name: "Create account" }).click();
  await visitor.getByRole("heading", { name: "Verify your email" }).waitFor();
  // Not signed in yet: the profile asks for a login first.
  await visitor.goto(`${base}/me`);
  await visitor.getByRole("heading", { name: "Log in" }).waitFor();
  await visitor.getByLabel("Email").fill(visitorEmail);
  await visitor.getByLabel("Password").fill(visitorPassword);
  await visitor.getByRole("button", { name: "Log in" }).click();
  await visitor.getByTestId("email").getByText(visitorEmail).waitFor();
});

step("the search page finds the tutor by a word of their bio once it is indexed", async () => {
  await visitor.goto(`${base}/tutors`);
  await visitor.getByRole("search", { name: "Search tutors" }).waitFor();
  // Bad input first: each error is shown at its field, which receives the focus.
  await expectingStatus(visitor, [400], async () => {
    await visitor.getByLabel("Keywords").fill("?!");
    await visitor.getByRole("button", { name: "Search", exact: true }).click();
    assert.match(await fieldError(visitor, "Keywords"), /letter or digit/);
    assert.equal(await visitor.evaluate(() => document.activeElement?.getAttribute("name")), "query");
    await visitor.getByLabel("Keywords").fill(bioWord);
    await visitor.getByLabel("Maximum hourly rate").fill("40");
    await visitor.getByRole("button", { name: "Search", exact: true }).click();
    assert.match(await fieldError(visitor, "Currency"), /needs a currency/);
  });
  await visitor.getByLabel("Maximum hourly rate").fill("");
  const card = visitor.getByTestId("tutor-card").filter({ hasText: tutorName });
  await searchUntil(visitor, card, 1);
  await card.getByText(`${headline}!`).waitFor();
  await card.getByText(bioWord, { exact: false }).waitFor();
  assert.match(visitor.url(), new RegExp(`[?&]q=${bioWord}(&|$)`));

  // Facet counts over the matches; following one filters the search.
  const subjects = visitor.getByRole("list", { name: "Subject" });
  await subjects.getByRole("link", { name: "Mathematics, 1 tutor" }).waitFor();
  await visitor.getByRole("list", { name: "Level" }).getByRole("link", { name: "Upper secondary, 1 tutor" }).waitFor();
  await visitor.getByRole("list", { name: "Lesson mode" }).getByRole("link", { name: "Online, 1 tutor" }).waitFor();
  await visitor.getByRole("list", { name: "Language" }).getByRole("link", { name: "Welsh, 1 tutor" }).click();
  await visitor.getByRole("list", { name: "Language" }).getByRole("link", { name: "Welsh, 1 tutor" }).and(visitor.locator('[aria-current="true"]')).waitFor();
  assert.match(visitor.url(), /[?&]language=cy(&|$)/);
  await card.waitFor();

  // Price order within a currency; the search is in the URL, so a reload shows it again.
  await visitor.getByLabel("Currency").selectOption("EUR");
  await visitor.getByLabel("Maximum hourly rate").fill("40");
  await visitor.getByLabel("Sort by").selectOption({ label: "Price, lowest first" });
  await visitor.getByRole("button", { name: "Search", exact: true }).click();
  await visitor.getByRole("status").getByText("Cheapest first.").waitFor();
  await card.waitFor();
  await visitor.reload();
  await card.waitFor();
  await waitForValue(visitor.getByLabel("Keywords"), bioWord);
  await waitForValue(visitor.getByLabel("Maximum hourly rate"), "40");
  assert.equal(await visitor.getByLabel("Sort by").inputValue(), "price");
  // Too expensive for a lower maximum.
  await visitor.getByLabel("Maximum hourly rate").fill("30");
  await visitor.getByRole("button", { name: "Search", exact: true }).click();
  await visitor.getByTestId("no-tutors").waitFor();
});

step("a second user finds the tutor with filters and opens the public page", async () => {
  await visitor.goto(`${base}/tutors`);
  await visitor.getByRole("heading", { name: "Find a tutor" }).waitFor();
  await expectingStatus(visitor, [400], async () => {
    await visitor.getByLabel("Minimum hourly rate").fill("50");
    await visitor.getByLabel("Maximum hourly rate").fill("10");
    await visitor.getByRole("button", { name: "Search" }).click();
    await visitor.getByRole("alert").getByText("must not be less than").waitFor();
    await visitor.getByLabel("Minimum hourly rate").fill("cheap");
    await visitor.getByLabel("Maximum hourly rate").fill("");
    await visitor.getByRole("button", { name: "Search" }).click();
    assert.ok((await fieldError(visitor, "Minimum hourly rate")).length > 0);
  });
  await visitor.getByLabel("Minimum hourly rate").fill("");
  await visitor.getByLabel("Subject").selectOption({ label: "Mathematics" });
  await visitor.getByLabel("Level").selectOption({ label: "Upper secondary" });
  await visitor.getByLabel("Currency").selectOption("EUR");
  await visitor.getByLabel("Maximum hourly rate").fill("40");
  await visitor.getByLabel("Language").fill("cy");
  await visitor.getByRole("button", { name: "Search" }).click();
  const card = visitor.getByTestId("tutor-card").filter({ hasText: tutorName });
  await card.waitFor();
  await card.getByText(`${headline}!`).waitFor();
  await card.getByRole("link", { name: tutorName }).click();
  await visitor.getByRole("heading", { name: tutorName, level: 1 }).waitFor();
  await visitor.getByText(`${headline}!`).waitFor();
  await visitor.getByText("Mathematics: Secondary, Upper secondary").waitFor();
  await visitor.getByRole("row", { name: /Tuesday/ }).getByText("17:00–19:30").waitFor();
  assert.equal(visitor.url(), publicUrl);
  // The photo the worker set after the tutor profile was read (and cached) in the editor.
  await waitForImage(visitor.getByRole("img", { name: `Photo of ${tutorName}` }));
});

/**
 * The next Tuesday at least two days ahead at 17:00 in Europe/Berlin, inside the tutor's
 * availability (Tuesday 17:00–19:30 there), as an instant.
 */
function nextTuesdayFiveInBerlin() {
  const berlin = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const wallClock = (at) => {
    const parts = Object.fromEntries(berlin.formatToParts(at).map((p) => [p.type, p.value]));
    return `${parts.weekday} ${parts.hour}:${parts.minute}`;
  };
  const day = new Date(Date.now() + 2 * 86_400_000);
  for (let i = 0; i < 14; i++, day.setUTCDate(day.getUTCDate() + 1)) {
    for (const offset of [1, 2]) {
      const at = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 17 - offset, 0));
      if (wallClock(at) === "Tue 17:00") return at;
    }
  }
  throw new Error("no Tuesday 17:00 in Europe/Berlin within two weeks");
}

/** An instant as the date and time a person types on page: in the browser's own zone. */
function localDateAndTime(page, at) {
  return page.evaluate((ms) => {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    return [`${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`, `${two(d.getHours())}:${two(d.getMinutes())}`];
  }, at.getTime());
}

/** The start of the lesson the second user books and pays (a Tuesday 17:00 in Berlin). */
let lessonStart;

step("the second user books a lesson, the tutor accepts, the test card pays, both see it confirmed", async () => {
  // The form takes the start in the visitor's own time: the browser's zone says what that is.
  const start = nextTuesdayFiveInBerlin();
  lessonStart = start;
  const [date, time] = await localDateAndTime(visitor, start);
  const book = visitor.getByRole("region", { name: "Book a lesson" });
  await book.getByLabel("Date (YYYY-MM-DD)").fill(date);
  await book.getByLabel("Start time").fill(time);
  await book.getByLabel("Length in minutes").fill("60");
  await book.getByRole("button", { name: "Request lesson" }).click();
  await book.getByText(/^Requested: /).waitFor();

  // The tutor accepts in a second tab (the first stays on the profile editor).
  const tutorBookings = await openPage("tutor-bookings", tutor.context());
  await tutorBookings.goto(`${base}/bookings`);
  await tutorBookings.getByRole("heading", { name: "My bookings" }).waitFor();
  await tutorBookings.getByRole("tab", { name: "As tutor" }).click();
  const asTutor = tutorBookings.locator("li.booking").filter({ hasText: "Requested: waiting for the tutor" });
  await asTutor.getByText(/35[.,]50/).waitFor();
  await asTutor.getByRole("button", { name: "Accept" }).click();
  await tutorBookings.locator("li.booking").getByText(/^Accepted: waiting for payment/).waitFor();

  // The student pays with the test card; the worker applies the payment's event and the
  // booking's workflow confirms it.
  const studentBookings = await openPage("visitor-bookings", visitor.context());
  await studentBookings.goto(`${base}/bookings`);
  await studentBookings.getByRole("heading", { name: "My bookings" }).waitFor();
  const mine = studentBookings.locator("li.booking");
  await mine.getByText(/^Accepted: waiting for payment/).waitFor();
  await mine.getByRole("button", { name: "Pay with the test card" }).click();
  await mine.getByText("Payment received: your lesson is confirmed.").waitFor({ timeout: 90_000 });
  await mine.getByText(/^Confirmed · .* · Paid$/).waitFor();

  await tutorBookings.reload();
  await tutorBookings.getByRole("tab", { name: "As tutor" }).click();
  await tutorBookings.locator("li.booking").getByText(/^Confirmed · .* · Paid$/).waitFor();
  for (const [name, page] of [["tutor-bookings", tutorBookings], ["visitor-bookings", studentBookings]]) {
    await page.close();
    pages.delete(name);
  }
});

/** Opens /bookings in a new tab of page's browser context, on the tab of role ("As student" or "As tutor"). */
async function openBookings(name, page, role) {
  const opened = await openPage(name, page.context());
  await opened.goto(`${base}/bookings`);
  await opened.getByRole("heading", { name: "My bookings" }).waitFor();
  await opened.getByRole("tab", { name: role }).click();
  await opened.getByRole("tab", { name: role }).and(opened.locator('[aria-selected="true"]')).waitFor();
  return opened;
}

function closePages(...names) {
  return Promise.all(
    names.map(async (name) => {
      await pages.get(name)?.page.close();
      pages.delete(name);
    }),
  );
}

/** Requests a lesson of an hour at the instant at on the tutor's public page open in visitor. */
async function requestLesson(at) {
  const [date, time] = await localDateAndTime(visitor, at);
  const book = visitor.getByRole("region", { name: "Book a lesson" });
  await book.getByLabel("Date (YYYY-MM-DD)").fill(date);
  await book.getByLabel("Start time").fill(time);
  await book.getByLabel("Length in minutes").fill("60");
  // The notice of an earlier request is still in view: the answer tells this one apart.
  const answered = visitor.waitForResponse((res) => res.url().endsWith("/tutorhub.v1.BookingService/RequestBooking"));
  await book.getByRole("button", { name: "Request lesson" }).click();
  assert.equal((await answered).status(), 200, "the lesson request is accepted");
  await book.getByText(/^Requested: /).waitFor();
}

step("the tutor declines a second request with a reason; both see it declined and the slot is free again", async () => {
  // The hour after the paid lesson, on the same Tuesday (18:00-19:00 in Berlin, inside 17:00-19:30).
  const second = new Date(lessonStart.getTime() + 3_600_000);
  await requestLesson(second);

  const tutorBookings = await openBookings("tutor-bookings", tutor, "As tutor");
  const requested = tutorBookings.locator("li.booking").filter({ has: tutorBookings.getByText(/^Requested: waiting for the tutor · /) });
  await waitForCount(requested, 1);
  const id = await requested.getAttribute("data-booking");
  assert.ok(id, "the requested booking names its id");
  const asTutor = tutorBookings.locator(`li.booking[data-booking="${id}"]`);
  await asTutor.getByText(/35[.,]50/).waitFor();
  const reason = `Away that evening (${runId})`;
  await asTutor.getByLabel("Reason (optional)").fill(reason);
  await asTutor.getByRole("button", { name: "Decline" }).click();
  await asTutor.getByText(/^Declined · /).waitFor();
  await asTutor.getByText(`Reason: ${reason}`).waitFor();
  // Nothing left to decide: neither Accept nor Decline.
  await waitForCount(asTutor.getByRole("button"), 0);

  const studentBookings = await openBookings("visitor-bookings", visitor, "As student");
  const mine = studentBookings.locator(`li.booking[data-booking="${id}"]`);
  await mine.getByText(/^Declined · /).waitFor();
  await mine.getByText(`Reason: ${reason}`).waitFor();
  assert.equal(await mine.getByRole("button", { name: "Cancel booking" }).count(), 0, "a declined booking cannot be cancelled");
  await waitForMail(visitorEmail, "Your lesson request was declined");
  // The paid lesson before it is untouched.
  await studentBookings.locator("li.booking").getByText(/^Confirmed · .* · Paid$/).waitFor();

  // The declined request released the hour: the same slot can be requested again (a slot
  // still held would be refused as already booked), and the new request waits for the tutor.
  await requestLesson(second);
  await studentBookings.reload();
  const again = studentBookings.locator("li.booking").filter({ has: studentBookings.getByText(/^Requested: waiting for the tutor · /) });
  await waitForCount(again, 1);
  assert.notEqual(await again.getAttribute("data-booking"), id, "a new booking, not the declined one");
  await mine.getByText(/^Declined · /).waitFor();
  await closePages("tutor-bookings", "visitor-bookings");
});

step("the student cancels the paid lesson in the free window: cancelled and refunded in full on both sides", async () => {
  const studentBookings = await openBookings("visitor-bookings", visitor, "As student");
  const confirmed = studentBookings.locator("li.booking").filter({ has: studentBookings.getByText(/^Confirmed · .* · Paid$/) });
  await waitForCount(confirmed, 1);
  const id = await confirmed.getAttribute("data-booking");
  assert.ok(id, "the confirmed booking names its id");
  const mine = studentBookings.locator(`li.booking[data-booking="${id}"]`);
  // The lesson is at least two days ahead: inside the free window, which the page states.
  await mine.getByText("Free until 24 hours before the lesson, half refunded until 2 hours before, then nothing.").waitFor();
  const reason = `Something came up (${runId})`;
  await mine.getByLabel("Reason (optional)").fill(reason);
  await mine.getByRole("button", { name: "Cancel booking" }).click();
  // At once: cancelled, with the refund the policy owes still due (the charge reads paid)
  // until the booking's workflow has refunded it through payments (stripe-mock), which may
  // already have happened.
  await mine.getByText(/^Cancelled · .* · (Paid · refund .* due|Refunded · refunded .*)$/).waitFor();
  await mine.getByText(`Reason: ${reason}`).waitFor();
  await waitForCount(mine.getByRole("button"), 0);

  // The page reads the booking again until the refund has landed: no reload.
  const refunded = mine.getByText(/^Cancelled · .* · Refunded · refunded /);
  await refunded.waitFor({ timeout: 90_000 });
  await mine.getByText(/^The refund of .* has gone through\.$/).waitFor();
  const fullRefund = async (line) => {
    const [, price, refund] = /^Cancelled · (.+) · Refunded · refunded (.+)$/.exec((await line.innerText()).trim()) ?? [];
    assert.match(price ?? "", /35[.,]50/, "the price");
    assert.equal(refund, price, "the refund is the whole price");
  };
  await fullRefund(refunded);

  const tutorBookings = await openBookings("tutor-bookings", tutor, "As tutor");
  const theirs = tutorBookings.locator(`li.booking[data-booking="${id}"]`);
  const theirsRefunded = theirs.getByText(/^Cancelled · .* · Refunded · refunded /);
  await theirsRefunded.waitFor();
  await fullRefund(theirsRefunded);
  await theirs.getByText(`Reason: ${reason}`).waitFor();
  await waitForCount(theirs.getByRole("button"), 0);
  await closePages("tutor-bookings", "visitor-bookings");
  // Both sides are told by mail (and so the tutor's booking mails are in before the recovery
  // step below looks for the newest one).
  await waitForMail(email, "Lesson cancelled");
  await waitForMail(visitorEmail, "Lesson cancelled");
});

step("after the tutor unpublishes, the second user no longer sees it", async () => {
  await tutor.getByRole("button", { name: "Unpublish" }).click();
  await tutor.getByTestId("publication-status").getByText("not published").waitFor();

  await visitor.goBack();
  await visitor.getByTestId("no-tutors").waitFor();
  await visitor.reload();
  await visitor.getByTestId("no-tutors").waitFor();
  await expectingStatus(visitor, [404], async () => {
    await visitor.goto(publicUrl);
    await visitor.getByRole("heading", { name: "Tutor not found" }).waitFor();
  });
});

step("the unpublished tutor leaves the search results once the index has caught up", async () => {
  await visitor.goto(`${base}/tutors?q=${bioWord}`);
  const card = visitor.getByTestId("tutor-card").filter({ hasText: tutorName });
  await searchUntil(visitor, card, 0);
  await visitor.getByTestId("no-tutors").waitFor();
});

step("log out ends the session, also after a reload", async () => {
  await tutor.getByRole("button", { name: "Log out" }).click();
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
  await tutor.goto(`${base}/me`);
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
  assert.match(tutor.url(), /\/login\?next=%2Fme$/);
});

step("recover the password with the mailed code", async () => {
  await tutor.getByRole("link", { name: "Forgot your password?" }).click();
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByLabel("Email").fill("ada@");
    await tutor.getByRole("button", { name: "Send code" }).click();
    assert.match(await fieldError(tutor, "Email"), /email/i);
  });
  const seen = await seenMail(email);
  await tutor.getByLabel("Email").fill(email);
  await tutor.getByRole("button", { name: "Send code" }).click();
  await tutor.getByLabel("Recovery code").waitFor();
  const code = await waitForCode(email, seen);
  await tutor.getByLabel("Recovery code").fill(code);
  await tutor.getByLabel("New password").fill(secondPassword);
  await tutor.getByRole("button", { name: "Set new password" }).click();
  await tutor.getByText("Your new password is set").waitFor();
  await tutor.getByTestId("email").getByText(email).waitFor();
  await tutor.getByRole("button", { name: "Log out" }).click();
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
});

step("log in: bad input shows the field's error, the new password signs in", async () => {
  await expectingStatus(tutor, [400], async () => {
    await tutor.getByLabel("Email").fill("ada");
    await tutor.getByLabel("Password").fill("whatever");
    await tutor.getByRole("button", { name: "Log in" }).click();
    assert.match(await fieldError(tutor, "Email"), /email/i);
  });
  // By keyboard alone: type, Tab to the next field, Enter submits.
  await tutor.getByLabel("Email").fill("");
  await tutor.getByLabel("Email").focus();
  await tutor.keyboard.type(email);
  await tutor.keyboard.press("Tab");
  await tutor.keyboard.press("ControlOrMeta+a");
  await tutor.keyboard.type(secondPassword);
  await tutor.keyboard.press("Enter");
  await tutor.getByRole("heading", { name: "My profile" }).waitFor();
  await tutor.getByRole("link", { name: "Tutor profile", exact: true }).click();
  await tutor.getByTestId("publication-status").getByText("not published").waitFor();
  await tutor.getByRole("button", { name: "Log out" }).click();
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
});

step("an admin creates a service account and a key shown once, which works until revoked", async () => {
  // What an operator does with `tutorhub admin grant-role EMAIL admin`.
  const grant = spawnSync(
    "psql",
    [process.env.E2E_DATABASE_URL, "-v", "ON_ERROR_STOP=1", "-qtAX", "-c", `UPDATE users SET roles = '{admin,student}' WHERE email = '${visitorEmail}'`],
    { encoding: "utf8" },
  );
  assert.equal(grant.status, 0, `granting the admin role: ${grant.stderr}`);
  await visitor.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await visitor.goto(`${base}/admin/service-accounts`);
  await visitor.getByRole("heading", { name: "Service accounts", level: 1 }).waitFor();
  const name = `crm-${runId}`;
  await visitor.getByLabel("Name", { exact: true }).fill(name);
  await visitor.getByRole("button", { name: "Create service account" }).click();
  const card = visitor.getByRole("listitem").filter({ has: visitor.getByRole("heading", { name }) });
  await card.getByRole("button", { name: "Create key" }).click();
  const secretText = await card.locator("[data-secret]").textContent();
  assert.match(secretText, /^thk_[a-z2-7]{10}_[a-z2-7]{59}$/);
  await card.getByRole("button", { name: "Copy key" }).click();
  await card.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await visitor.evaluate(() => navigator.clipboard.readText()), secretText);
  // Listed by its prefix only.
  const prefix = secretText.slice(4, 14);
  await card.getByText(`thk_${prefix}_…`).waitFor();
  const listTutors = () => fetch(`${base}/api/v1/tutors?page_size=1`, { headers: { Authorization: `Bearer ${secretText}` } });
  assert.equal((await listTutors()).status, 200, "the new key lists tutors");
  await card.getByRole("button", { name: "Done" }).click();
  assert.equal(await card.locator("[data-secret]").count(), 0, "the key is shown once");
  visitor.once("dialog", (d) => d.accept());
  await card.getByRole("button", { name: "Revoke" }).click();
  await card.getByText(/revoked/).waitFor();
  assert.equal((await listTutors()).status, 401, "the revoked key is refused");
});

step("the bell counts the tutor's notices live; the inbox marks them read; mail settings are saved", async () => {
  await tutor.getByLabel("Email").fill(email);
  await tutor.getByLabel("Password").fill(secondPassword);
  await tutor.getByRole("button", { name: "Log in" }).click();
  await tutor.getByRole("heading", { name: "My profile" }).waitFor();
  // The profile went live and the account was recovered (and the lesson was requested and paid):
  // at least two notices, delivered by the worker.
  await tutor.getByRole("link", { name: /^Notifications, ([2-9]|[1-9]\d+) unread$/ }).waitFor({ timeout: 60_000 });
  await tutor.getByRole("link", { name: /^Notifications/ }).click();
  await tutor.getByRole("heading", { name: "Your account was recovered" }).waitFor();
  await tutor.getByRole("heading", { name: "Your tutor profile is live" }).waitFor();
  await tutor.getByRole("button", { name: "Mark all as read" }).click();
  await tutor.getByRole("link", { name: "Notifications, 0 unread" }).waitFor();
  await tutor.getByRole("link", { name: "Notification settings" }).click();
  await tutor.getByRole("heading", { name: "Notification settings" }).waitFor();
  const tutorMail = tutor.getByRole("group", { name: "Your tutor profile" }).getByLabel("By email");
  await tutorMail.uncheck();
  await tutor.getByRole("button", { name: "Save" }).click();
  await tutor.getByText("Saved.").waitFor();
  await tutor.reload();
  await tutor.getByRole("heading", { name: "Notification settings" }).waitFor();
  assert.equal(await tutor.getByRole("group", { name: "Your tutor profile" }).getByLabel("By email").isChecked(), false);
  assert.equal(await tutor.getByRole("group", { name: "Security (password changes, new sign-ins, recoveries)" }).getByLabel(/By email/).isDisabled(), true);
  await tutor.getByRole("button", { name: "Log out" }).click();
  await tutor.getByRole("heading", { name: "Log in" }).waitFor();
});
