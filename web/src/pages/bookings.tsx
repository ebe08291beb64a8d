import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { bookingClient } from "../api";
import { formatMoney } from "../format";
import { Link } from "../router";
import { LoadError, Loading, Notice, SubmitError, TextArea, TextField, useLoad, useSubmit, useTitle } from "../ui";
import {
  BookingRole,
  BookingState,
  ChargeStatus,
  type Booking,
} from "@gen/tutorhub/v1/booking_pb";

const stateLabels: Record<number, string> = {
  [BookingState.REQUESTED]: "Requested: waiting for the tutor",
  [BookingState.AWAITING_PAYMENT]: "Accepted: waiting for payment",
  [BookingState.CONFIRMED]: "Confirmed",
  [BookingState.COMPLETED]: "Completed",
  [BookingState.DECLINED]: "Declined",
  [BookingState.CANCELLED]: "Cancelled",
  [BookingState.EXPIRED]: "Expired",
};

const chargeLabels: Record<number, string> = {
  [ChargeStatus.UNSPECIFIED]: "No charge yet",
  [ChargeStatus.PENDING]: "Payment pending",
  [ChargeStatus.SUCCEEDED]: "Paid",
  [ChargeStatus.FAILED]: "Payment failed",
  [ChargeStatus.CANCELED]: "Charge cancelled",
  [ChargeStatus.REFUNDED]: "Refunded",
};

/**
 * Where the booking's payment is. A charge refunded in full reads "Refunded" as soon as the
 * refunded amount says so: the booking's own status mirrors the charge a moment later.
 */
function chargeLabel(b: Booking): string {
  if (b.refundedMinor > 0n && b.refundedMinor >= b.priceMinor) return chargeLabels[ChargeStatus.REFUNDED];
  return chargeLabels[b.chargeStatus] ?? "";
}

/** A lesson's time in the tutor's zone (the zone it was booked in) and the viewer's own. */
export function lessonTime(b: Booking): string {
  const start = b.startTime ? timestampDate(b.startTime) : new Date(0);
  const end = b.endTime ? timestampDate(b.endTime) : new Date(0);
  const fmt = (zone?: string) =>
    new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone }).format(start) +
    "–" +
    new Intl.DateTimeFormat(undefined, { timeStyle: "short", timeZone: zone }).format(end);
  return `${fmt(b.timeZone)} (${b.timeZone}); your time ${fmt()}`;
}

/** The signed-in user's bookings, as student or as tutor, with the actions each side has. */
export function BookingsPage() {
  const [role, setRole] = useState<BookingRole>(BookingRole.STUDENT);
  const [bookings, retry] = useLoad(
    async () => (await bookingClient.listMyBookings({ role, pageSize: 50 })).bookings,
    [role],
  );
  useTitle("My bookings");
  return (
    <>
      <h1>My bookings</h1>
      <div role="tablist" aria-label="Bookings as">
        <button type="button" role="tab" aria-selected={role === BookingRole.STUDENT} onClick={() => setRole(BookingRole.STUDENT)}>
          As student
        </button>
        <button type="button" role="tab" aria-selected={role === BookingRole.TUTOR} onClick={() => setRole(BookingRole.TUTOR)}>
          As tutor
        </button>
      </div>
      {bookings.status === "loading" && <Loading what="Loading your bookings" />}
      {bookings.status === "error" && <LoadError error={bookings.error} retry={retry} />}
      {bookings.status === "ok" &&
        (bookings.data.length === 0 ? (
          <p class="empty">No bookings yet. <Link href="/tutors">Find a tutor</Link>.</p>
        ) : (
          <ul class="bookings">
            {bookings.data.map((b) => (
              <BookingItem key={b.id} booking={b} asTutor={role === BookingRole.TUTOR} changed={retry} />
            ))}
          </ul>
        ))}
    </>
  );
}

/**
 * How long the page reads a booking again after a change that completes asynchronously (a
 * test payment's confirmation, a cancellation's refund) before it says the change is slow.
 */
const settleWithinMs = 60_000;

/** Reads booking id every second until done holds of it (and returns it), or undefined after settleWithinMs. */
async function readUntil(id: string, done: (b: Booking) => boolean): Promise<Booking | undefined> {
  const deadline = Date.now() + settleWithinMs;
  for (;;) {
    const now = (await bookingClient.getBooking({ bookingId: id })).booking;
    if (now && done(now)) return now;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What a payment made here has come to: sent and waiting for the booking to be confirmed, confirmed, or still waiting after settleWithinMs. */
type PayProgress = "none" | "waiting" | "confirmed" | "slow";

/** What the refund of a cancellation made here has come to: due and waiting for the provider, landed, or still due after settleWithinMs. */
type RefundProgress = "none" | "waiting" | "landed" | "slow";

/**
 * The booking's refund: what the cancellation policy owes (refundMinor) against what the
 * provider has refunded so far (refundedMinor); empty when there is neither.
 */
function refundText(b: Booking): string {
  const owed = b.refundMinor;
  const done = b.refundedMinor;
  if (done > 0n && done >= owed) return `refunded ${formatMoney(done, b.currency)}`;
  if (done > 0n) return `refunded ${formatMoney(done, b.currency)} of ${formatMoney(owed, b.currency)} due`;
  if (owed > 0n) return `refund ${formatMoney(owed, b.currency)} due`;
  return "";
}

function BookingItem({ booking: listed, asTutor, changed }: { booking: Booking; asTutor: boolean; changed: () => void }) {
  // The booking as last read here (after a payment or a cancellation with a refund), so the
  // outcome stays in view; a reload of the whole list would start the item afresh.
  const [fresh, setFresh] = useState<Booking | undefined>(undefined);
  const b = fresh ?? listed;
  const [reason, setReason] = useState("");
  const [secret, setSecret] = useState<string | undefined>(undefined);
  const [progress, setProgress] = useState<PayProgress>("none");
  const [refund, setRefund] = useState<RefundProgress>("none");
  const act = (fn: () => Promise<unknown>) => async () => {
    await fn();
    changed();
  };
  const accept = useSubmit(act(() => bookingClient.acceptBooking({ bookingId: b.id })));
  const decline = useSubmit(act(() => bookingClient.declineBooking({ bookingId: b.id, reason })));
  const cancel = useSubmit(async () => {
    const cancelled = (await bookingClient.cancelBooking({ bookingId: b.id, reason })).booking;
    if (!cancelled || cancelled.refundedMinor >= cancelled.refundMinor) {
      changed();
      return;
    }
    // A paid booking's refund runs after the cancellation (the booking's workflow asks the
    // payment provider), so read the booking until the refund has landed.
    setFresh(cancelled);
    setRefund("waiting");
    try {
      const landed = await readUntil(b.id, (now) => now.refundedMinor >= now.refundMinor);
      if (landed) setFresh(landed);
      setRefund(landed ? "landed" : "slow");
    } catch {
      setRefund("slow"); // the cancellation stands; a reload reads the refund again
    }
  });
  const pay = useSubmit(async () => {
    if (!b.testPayments) {
      const res = await bookingClient.getBooking({ bookingId: b.id });
      setSecret(res.booking?.paymentClientSecret ?? "");
      return;
    }
    // A development server pays with Stripe's test card; the booking is confirmed once the
    // payment's event has been applied (as Stripe's webhook would be), so read it until then.
    await bookingClient.payBookingWithTestCard({ bookingId: b.id });
    setProgress("waiting");
    const now = await readUntil(b.id, (now) => now.state !== BookingState.AWAITING_PAYMENT);
    if (!now) {
      setProgress("slow");
      return;
    }
    setFresh(now);
    setProgress(now.state === BookingState.CONFIRMED ? "confirmed" : "none");
  });
  const live = b.state === BookingState.REQUESTED || b.state === BookingState.AWAITING_PAYMENT || b.state === BookingState.CONFIRMED;
  return (
    <li class="booking" data-booking={b.id}>
      <p>
        <strong>{lessonTime(b)}</strong>
      </p>
      <p>
        {stateLabels[b.state] ?? "Unknown"} · {formatMoney(b.priceMinor, b.currency)} · {chargeLabel(b)}
        {refundText(b) && <> · {refundText(b)}</>}
      </p>
      {b.reason && <p class="muted">Reason: {b.reason}</p>}
      {refund === "waiting" && <p role="status">Cancelled; waiting for the refund of {formatMoney(b.refundMinor, b.currency)} to go through…</p>}
      {refund === "landed" && (
        <Notice kind="success">
          <p>The refund of {formatMoney(b.refundedMinor, b.currency)} has gone through.</p>
        </Notice>
      )}
      {refund === "slow" && (
        <Notice kind="info">
          <p>The booking is cancelled, but the refund has not gone through yet. Reload this page in a minute.</p>
        </Notice>
      )}
      {progress === "confirmed" && (
        <Notice kind="success">
          <p>Payment received: your lesson is confirmed.</p>
        </Notice>
      )}
      {asTutor && b.state === BookingState.REQUESTED && (
        <form onSubmit={accept.onSubmit}>
          <button type="submit" disabled={accept.busy}>Accept</button>
          <SubmitError submission={accept} />
        </form>
      )}
      {!asTutor && b.state === BookingState.AWAITING_PAYMENT && (
        <form onSubmit={pay.onSubmit}>
          <button type="submit" disabled={pay.busy}>{b.testPayments ? "Pay with the test card" : "Pay"}</button>
          {b.testPayments && progress === "none" && (
            <p class="hint">Development server: Stripe's test card pays, no real money moves.</p>
          )}
          {progress === "waiting" && <p role="status">Payment sent; waiting for the confirmation…</p>}
          {progress === "slow" && (
            <Notice kind="info">
              <p>The payment was sent, but the booking is not confirmed yet. Reload this page in a minute.</p>
            </Notice>
          )}
          {secret !== undefined &&
            (secret ? (
              <Notice kind="info">
                <p>The payment form opens here once payments are configured; your charge is ready.</p>
              </Notice>
            ) : (
              <Notice kind="info">
                <p>Payments are not available yet. The booking stays held until {b.holdUntil ? timestampDate(b.holdUntil).toLocaleString() : "its hold ends"}.</p>
              </Notice>
            ))}
          <SubmitError submission={pay} />
        </form>
      )}
      {live && (
        <form onSubmit={asTutor && b.state === BookingState.REQUESTED ? decline.onSubmit : cancel.onSubmit}>
          <TextField label="Reason (optional)" name="reason" value={reason} onValue={setReason} errors={cancel.errors} maxLength={500} />
          <button type="submit" disabled={cancel.busy || decline.busy}>
            {asTutor && b.state === BookingState.REQUESTED ? "Decline" : "Cancel booking"}
          </button>
          {!asTutor && b.state === BookingState.CONFIRMED && (
            <p class="hint">Free until 24 hours before the lesson, half refunded until 2 hours before, then nothing.</p>
          )}
          <SubmitError submission={asTutor && b.state === BookingState.REQUESTED ? decline : cancel} />
        </form>
      )}
      {!asTutor && b.state === BookingState.COMPLETED && <ReviewForm bookingId={b.id} />}
    </li>
  );
}

function ReviewForm({ bookingId }: { bookingId: string }) {
  const [rating, setRating] = useState("5");
  const [text, setText] = useState("");
  const [done, setDone] = useState(false);
  const submit = useSubmit(async () => {
    await bookingClient.createReview({ bookingId, rating: Number(rating), text });
    setDone(true);
  });
  if (done) return <Notice kind="success"><p>Thank you for your review.</p></Notice>;
  return (
    <form onSubmit={submit.onSubmit} class="review-form">
      <TextField label="Rating (1 to 5)" name="rating" value={rating} onValue={setRating} errors={submit.errors} inputMode="numeric" />
      <TextArea label="Review" name="text" value={text} onValue={setText} errors={submit.errors} maxLength={2000} />
      <button type="submit" disabled={submit.busy}>Send review</button>
      <SubmitError submission={submit} />
    </form>
  );
}

/** Books a lesson of a tutor: a start (in the visitor's own time) and a length. */
export function BookLesson({ tutorId, timeZone }: { tutorId: string; timeZone: string }) {
  const [date, setDate] = useState("");
  const [time, setTime] = useState("");
  const [minutes, setMinutes] = useState("60");
  const [booked, setBooked] = useState<Booking | undefined>(undefined);
  const submit = useSubmit(async () => {
    const start = new Date(`${date}T${time}`);
    const res = await bookingClient.requestBooking({
      tutorId,
      startTime: timestampFromDate(start),
      durationMinutes: Number(minutes),
    });
    setBooked(res.booking);
  });
  return (
    <section aria-labelledby="book">
      <h2 id="book">Book a lesson</h2>
      <p class="hint">Pick a time inside the weekly availability ({timeZone}); enter it in your own time.</p>
      <form onSubmit={submit.onSubmit}>
        <TextField label="Date (YYYY-MM-DD)" name="date" value={date} onValue={setDate} errors={submit.errors} />
        <TextField label="Start time" name="start_time" type="time" value={time} onValue={setTime} errors={submit.errors} />
        <TextField label="Length in minutes" name="duration_minutes" value={minutes} onValue={setMinutes} errors={submit.errors} inputMode="numeric" />
        <button type="submit" disabled={submit.busy}>Request lesson</button>
        <SubmitError submission={submit} />
      </form>
      {booked && (
        <Notice kind="success">
          <p>
            Requested: {lessonTime(booked)}. The tutor has until {booked.decideBy ? timestampDate(booked.decideBy).toLocaleString() : "soon"} to
            accept. <Link href="/bookings">My bookings</Link>
          </p>
        </Notice>
      )}
    </section>
  );
}
