// Command loginburst measures what a flood of wrong logins costs a running staxkeys server:
// it fires N concurrent wrong logins, each from its own loopback address (127.0.x.y, so no
// throttle applies) for its own account, then one right login, and prints the answers and
// the server's resident memory before and after (VmRSS, and the peak VmHWM, from
// /proc/PID/status). Loopback only: it refuses any other target.
//
//	loginburst -url http://127.0.0.1:8080 -pid $(pidof staxkeys) -n 200 \
//	    -email admin@example.com -password-file pw.txt
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the server, on a loopback address")
	pid := flag.Int("pid", 0, "the server's process id, to read its memory (0: do not)")
	n := flag.Int("n", 200, "concurrent wrong logins")
	email := flag.String("email", "", "the admin whose right login follows the burst (empty: none)")
	pwFile := flag.String("password-file", "", "a file holding that admin's password")
	flag.Parse()
	if err := run(*base, *pid, *n, *email, *pwFile); err != nil {
		fmt.Fprintln(os.Stderr, "loginburst:", err)
		os.Exit(1)
	}
}

func run(base string, pid, n int, email, pwFile string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", u.Hostname())
	}
	if n < 1 || n > 60000 {
		return fmt.Errorf("-n must be between 1 and 60000")
	}
	fmt.Println("before:", memory(pid))
	statuses := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := client(net.IPv4(127, byte(1+i/250/250), byte(i/250%250), byte(2+i%250)))
			<-start
			got := login(hc, base, fmt.Sprintf("burst%d@example.com", i), "a wrong password, surely")
			mu.Lock()
			statuses[got]++
			mu.Unlock()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	fmt.Printf("burst of %d: %v in %s\n", n, statuses, time.Since(began).Round(time.Millisecond))
	fmt.Println("after: ", memory(pid))
	if email != "" {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return err
		}
		began = time.Now()
		got := login(client(net.IPv4(127, 0, 0, 1)), base, email, strings.TrimRight(string(pw), "\r\n"))
		fmt.Printf("right login: %s in %s\n", got, time.Since(began).Round(time.Millisecond))
	}
	return nil
}

func client(src net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:       2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// login posts the login form as a page of the site would (Sec-Fetch-Site: same-origin passes
// the CSRF check without a token) and returns the status, or the error.
func login(hc *http.Client, base, email, pw string) string {
	body := url.Values{"email": {email}, "password": {pw}}.Encode()
	req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := hc.Do(req)
	if err != nil {
		return "error"
	}
	resp.Body.Close()
	return resp.Status
}

// memory reads VmRSS and VmHWM of the process.
func memory(pid int) string {
	if pid == 0 {
		return "-"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}
