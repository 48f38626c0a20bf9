package web

// HoldPageGate takes every place of the server's page gate, as that many slow requests would,
// and returns the function that gives them back: tests see what waits behind the gate.
func HoldPageGate(s *Server) (release func()) {
	for range cap(s.gate) {
		s.gate <- struct{}{}
	}
	return func() {
		for range cap(s.gate) {
			<-s.gate
		}
	}
}
