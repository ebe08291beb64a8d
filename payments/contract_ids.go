package payments

import "github.com/google/uuid"

// BookingWorkflowID is the id of a booking's workflow, the one charge signals go to.
func BookingWorkflowID(bookingID uuid.UUID) string { return "booking/" + bookingID.String() }
