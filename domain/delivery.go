package domain

import "time"

// DeliveryStatus is where a queued alert stands on one channel.
type DeliveryStatus string

// The states of a delivery: pending until sent, or failed once its attempts ran out.
const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
)

// Delivery is one alert queued for one channel.
type Delivery struct {
	ID            int64
	CreatedAt     time.Time
	Event         string // e.g. "verdict.changed"
	Channel       string // "webhook", "slack", "email", "pagerduty" or "opsgenie"
	Payload       []byte // the alert as JSON; never a key
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	LastError     string
	SentAt        time.Time
	// GroupUntil ends the grouping window of a groupable alert (a verdict change); zero for
	// an alert that always goes out alone.
	GroupUntil time.Time
	// GroupedWith is the delivery whose message carried this one, when this one went out in
	// a group another delivery led; 0 otherwise.
	GroupedWith int64
}

// DeliveryCounts is how many deliveries stand in each state.
type DeliveryCounts struct {
	Pending, Sent, Failed int
}
