package store

// KeySorts exposes the dashboard's orders to store_test, which checks each is served by an
// index (migrations/00004) rather than a sort of every pair.
var KeySorts = keySorts

// StatusOrder and OutcomeOrder are the status sort's first terms, for the same check.
const StatusOrder, OutcomeOrder = statusOrder, outcomeOrder
