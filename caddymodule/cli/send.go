package cli

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

const sendLong = `
Signs a test delivery exactly as 'caddy callback sign' does (same flags, see
its help) and sends it to --to, then prints the status, the answer and the
time taken.

--repeat N sends the same delivery N times (byte for byte, as a provider's
retries are) and --concurrency N sends that many at once: the guard forwards
the first, and answers the others from its store with X-Callback-Replayed:
true, or makes them wait for the first answer while it is in flight.

Redirects are not followed: a 3xx is printed as the answer.

Example, against the demo (go run ./cmd/caddy run --config Caddyfile.example):

  caddy callback send avarda --to http://localhost:8080/avarda/purchase-completed \
      --header-secret 'Authorization: Bearer demo-avarda-token' \
      --repeat 5 --concurrency 5

` + exitCodesHelp

type sendResult struct {
	n        int
	status   int
	statusTx string
	header   http.Header
	body     []byte
	took     time.Duration
	err      error
}

func (r *sendResult) replayed() bool {
	return r.header != nil && strings.EqualFold(r.header.Get("X-Callback-Replayed"), "true")
}

func newSendCommand() *cobra.Command {
	var f signFlags
	var repeat, concurrency int
	timeout := caddy.Duration(30 * time.Second)
	var insecure, verbose bool
	cmd := &cobra.Command{
		Use:   "send <preset> --to <url> [credentials] [--repeat N] [--concurrency N]",
		Short: "Signs a test delivery, sends it, and prints the answer and the time taken",
		Long:  strings.TrimSpace(sendLong),
		Args:  cobra.ArbitraryArgs,
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&repeat, "repeat", 1, "send the same delivery `N` times")
	fl.IntVar(&concurrency, "concurrency", 1, "send up to `N` at once")
	fl.Var((*durationFlag)(&timeout), "timeout", "give up on an answer after this `duration`")
	fl.BoolVarP(&insecure, "insecure", "k", false, "accept any TLS certificate (e.g. Caddy's local CA)")
	fl.BoolVarP(&verbose, "verbose", "v", false, "print the request, and every answer in full")
	cmd.RunE = withExitCode(func(cmd *cobra.Command, args []string) (int, error) {
		if repeat < 1 || concurrency < 1 {
			return exitUsage, fmt.Errorf("--repeat and --concurrency must be at least 1")
		}
		d, err := f.delivery(cmd, args)
		if err != nil {
			return codeOf(err), err
		}
		if _, err := d.request(); err != nil {
			return exitUsage, fmt.Errorf("--to: %v", err)
		}
		out := cmd.OutOrStdout()
		if verbose {
			fmt.Fprintln(out, d.curl())
			fmt.Fprintln(out)
		}
		results := sendAll(d, repeat, min(concurrency, repeat), time.Duration(timeout), insecure, func(r *sendResult) {
			if repeat > 1 {
				printResultLine(out, r, verbose)
			}
		})
		if repeat == 1 {
			printResultFull(out, d, &results[0])
		} else {
			printSummary(out, results, concurrency)
		}
		for i := range results {
			if results[i].err != nil || results[i].status < 200 || results[i].status > 299 {
				return exitFailed, nil
			}
		}
		return exitOK, nil
	})
	return cmd
}

// sendAll sends the delivery repeat times, concurrency at once, and calls
// done (serialized) as each answer arrives.
func sendAll(d *delivery, repeat, concurrency int, timeout time.Duration, insecure bool, done func(*sendResult)) []sendResult {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	tr.Proxy = nil // a test delivery goes where --to says
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure, asked for
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	results := make([]sendResult, repeat)
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range jobs {
				r := &results[i]
				r.n = i + 1
				sendOne(client, d, r)
				mu.Lock()
				done(r)
				mu.Unlock()
			}
		})
	}
	for i := range repeat {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

func sendOne(client *http.Client, d *delivery, r *sendResult) {
	req, err := d.request()
	if err != nil {
		r.err = err
		return
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.took = time.Since(start)
		r.err = err
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	r.took = time.Since(start)
	r.status, r.statusTx, r.header, r.body = resp.StatusCode, resp.Status, resp.Header, body
	if err != nil {
		r.err = fmt.Errorf("reading the answer: %w", err)
	}
}

func printResultFull(out io.Writer, d *delivery, r *sendResult) {
	fmt.Fprintf(out, "%s %s\n", d.method, d.url)
	if r.err != nil {
		fmt.Fprintf(out, "no answer after %s: %v\n", fmtDuration(r.took), r.err)
		return
	}
	fmt.Fprintf(out, "%s in %s\n", r.statusTx, fmtDuration(r.took))
	names := make([]string, 0, len(r.header))
	for k := range r.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.header[k] {
			fmt.Fprintf(out, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(out)
	out.Write(r.body)
	if len(r.body) > 0 && r.body[len(r.body)-1] != '\n' {
		fmt.Fprintln(out)
	}
}

func printResultLine(out io.Writer, r *sendResult, verbose bool) {
	if r.err != nil {
		fmt.Fprintf(out, "#%-3d error after %s: %v\n", r.n, fmtDuration(r.took), r.err)
		return
	}
	mark := ""
	if r.replayed() {
		mark = " (replayed)"
	}
	if verbose {
		fmt.Fprintf(out, "#%-3d %s in %s%s\n", r.n, r.statusTx, fmtDuration(r.took), mark)
		out.Write(r.body)
		fmt.Fprintln(out)
		return
	}
	fmt.Fprintf(out, "#%-3d %s in %s%s  %s\n", r.n, r.statusTx, fmtDuration(r.took), mark, preview(r.body, 80))
}

func printSummary(out io.Writer, results []sendResult, concurrency int) {
	byStatus := map[string]int{}
	var errs, replayed int
	var times []time.Duration
	for i := range results {
		r := &results[i]
		if r.err != nil {
			errs++
			continue
		}
		byStatus[r.statusTx]++
		if r.replayed() {
			replayed++
		}
		times = append(times, r.took)
	}
	var parts []string
	for st, n := range byStatus {
		parts = append(parts, fmt.Sprintf("%d× %s", n, st))
	}
	sort.Strings(parts)
	if errs > 0 {
		parts = append(parts, fmt.Sprintf("%d× no answer", errs))
	}
	fmt.Fprintf(out, "\n%d sent, %d at a time: %s\n", len(results), min(concurrency, len(results)), strings.Join(parts, ", "))
	fmt.Fprintf(out, "replayed by the guard (X-Callback-Replayed: true): %d; not replayed: %d\n", replayed, len(results)-errs-replayed)
	if len(times) > 0 {
		slices.Sort(times)
		fmt.Fprintf(out, "time: min %s, median %s, max %s\n", fmtDuration(times[0]), fmtDuration(times[len(times)/2]), fmtDuration(times[len(times)-1]))
	}
}

func preview(b []byte, n int) string {
	s := string(bytes.Join(bytes.Fields(b), []byte(" ")))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
