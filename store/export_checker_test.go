package store

// HeldKeysWhere exposes HeldKeys' condition to store_test, which checks it is served by the
// partial index pairs_held.
const HeldKeysWhere = heldKeysWhere
