// Package fault holds system tests of the whole staxkeys program: it runs the real server
// (through cli.Run, on 127.0.0.1:0, with a temporary data directory) against the fake Stax.ai
// API and checks what an operator would see. The tests cover upstream faults (refused
// connections, hangs, 5xx, HTML, 429, truncated, empty and gigantic bodies, redirects to
// another host, a proxy's or firewall's 401 and 403, auth errors at 5xx and 429, recovery) and secret hygiene across a full flow. The package has no code of
// its own; see tests/systest for the harness.
package fault
