// Package faulttest proves, against the real services, that the async backbone loses no
// tutor event and applies none twice when parts of it fail (issue 11's fault acceptance).
// It holds only tests; this file is its package documentation.
//
// Each test runs on a stack of its own: a fresh database (internal/testenv), a PRIVATE
// Temporal dev server (the CLI's `temporal server start-dev` from .bin/temporal, on a free
// port, with its SQLite file in the test's temporary directory, so it can be killed and
// restarted without touching the shared one on 7233), and the real `tutorhub worker` binary,
// built once per run. A writer changes tutors through package tutors (creates, updates,
// publishes, unpublishes, deletes, each with its outbox event) while the test injects a fault:
//
//   - TestWorkerKilledMidIndexing: SIGKILL the worker while its activities are inside
//     search-engine writes, then start a new one.
//   - TestTemporalServerRestart: SIGKILL the Temporal server, keep writing, start it again
//     on the same database file.
//   - TestSearchEngineFailsForAWhile: the search engine refuses every write for a while
//     (the worker's database role loses its privileges on search_documents), then recovers.
//   - TestRelayStoppedWhileWritesContinue: stop the only relay, keep writing, start it again.
//   - TestTwoRelaysAtOnce: two workers, each with a relay, dispatch side by side.
//   - TestWorkerKilledMidScan (uploads): SIGKILL the only worker of the uploads queue while a
//     scan is in flight (its private clamd down, the scan activity retrying), bring clamd back
//     and start a new worker: the upload ends clean once, with one upload.scanned event, and
//     had no download URL before. The S3 server is the shared one, with buckets of the test.
//
// The payment tests (payments_test.go, bookings_test.go, provider_test.go) run the worker on
// the bookings and payments queues over stripe-mock, with bookings requested and accepted
// through package bookings and the provider's webhooks stored as POST /webhooks/stripe stores
// them:
//
//   - TestWorkerKilledBetweenWebhookAndEffect: SIGKILL the worker while it applies stored
//     payment events; another worker finishes them.
//   - TestTemporalRestartWhileBookingsArePaid: SIGKILL the Temporal server while bookings are
//     being paid, store more webhooks (and repeat earlier ones) while it is down, start it
//     again on the same database file.
//   - TestPaymentProviderFailsForAWhile: stop a private stripe-mock while charges are created
//     and again while refunds are asked; a recording proxy in front of it counts what the
//     provider was asked to do, and under which idempotency key.
//
// They end with market.checkPaidOnce: every booking in its state and confirmed once, one
// charge journal per charge and one refund journal per refund owed, every journal balanced,
// the tutor owed exactly what is left, one completed PaymentWebhook run per event, and a
// Reconcile run that finds no drift.
//
// Every test ends with the same count (stack.checkExactlyOnce): every outbox event was
// dispatched and none parked; Temporal holds exactly one run per event, under the workflow
// id derived from the event id, and every run completed; the index holds one document per
// tutor at the tutor's current version, visibility and bio; and no document version was
// written twice or went backwards (a trigger in the test's database logs every effective
// write to search_documents).
//
// Without the Temporal CLI (deploy/tools.sh temporal) the tests skip, except under CI=true,
// where they fail, as testenv.Temporal does.
package faulttest
