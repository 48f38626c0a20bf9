package password

// DummyHashForTest exposes the dummy hash to the tests.
const DummyHashForTest = dummyHash
