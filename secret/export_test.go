package secret

// RawAD lets the tests seal with arbitrary associated data; production code uses the
// constructors in ad.go.
func RawAD(b []byte) AD { return AD{b} }
