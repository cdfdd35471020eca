package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"toptraffic/tests/harness"
)

// Environment variables the test reads.
const (
	// requireBrowserEnv, when set to anything, turns a missing Chromium into a failure.
	requireBrowserEnv = "TOPTRAFFIC_REQUIRE_BROWSER"
	// screenshotEnv names a PNG file to write the page to, for a person to look at.
	screenshotEnv = "TOPTRAFFIC_DASHBOARD_SCREENSHOT"
)

// pageState is what the page shows, read from its DOM.
type pageState struct {
	Status string `json:"status"`
	Minute panel  `json:"minute"`
	Hour   panel  `json:"hour"`
}

type panel struct {
	Bounds    string `json:"bounds"`
	State     string `json:"state"`
	Freshness string `json:"freshness"`
	Bars      []bar  `json:"bars"`
}

type bar struct {
	Domain string `json:"domain"`
	Count  string `json:"count"`
	Text   string `json:"text"`
	Width  string `json:"width"`
}

// readPage collects what the dashboard shows into a pageState.
const readPage = `(() => {
  const panel = (id) => {
    const el = document.getElementById(id);
    const text = (f) => el.querySelector('[data-field="' + f + '"]').textContent;
    return {
      bounds: text('bounds'),
      state: text('state'),
      freshness: text('freshness'),
      bars: Array.from(el.querySelectorAll('.bar')).map((b) => ({
        domain: b.dataset.domain,
        count: b.dataset.count,
        text: b.querySelector('.count').textContent,
        width: b.querySelector('.fill').style.width,
      })),
    };
  };
  return {
    status: document.getElementById('status').dataset.state,
    minute: panel('minute'),
    hour: panel('hour'),
  };
})()`

func TestDashboardShowsTheLastFullWindows(t *testing.T) {
	chromium := findChromium(t)
	s := harness.NewStack(t, harness.Options{Env: []string{"ALLOWED_LATENESS=3h"}})
	// The page must show the posted minute before it stops being the last full one.
	avoidMinuteEdge(t, 25*time.Second)

	now := time.Now().UTC()
	lastMinute := now.Truncate(time.Minute).Add(-time.Minute)
	lastHour := now.Truncate(time.Hour).Add(-time.Hour)
	var counters []harness.Counter
	add := func(ts time.Time, counts map[string]uint64) {
		counters = append(counters, harness.Counter{Timestamp: ts.Unix(), Counts: counts})
	}
	const maxCount = 1<<53 - 1
	add(lastMinute.Add(5*time.Second), map[string]uint64{
		"alpha.example": 30, "bravo.example": 20, "delta.example": 5, "huge.example": maxCount,
	})
	add(lastMinute.Add(40*time.Second), map[string]uint64{
		"alpha.example": 12, "charlie.example": 20, "Echo.Example": 7, "huge.example": maxCount,
	})
	// Three maximal counts sum past 2^53, where a plain JavaScript number would round.
	add(lastMinute.Add(59*time.Second), map[string]uint64{"huge.example": maxCount})
	// Neither the current minute nor the one before the last full minute may show.
	add(now, map[string]uint64{"current.example": 100000})
	add(lastMinute.Add(-time.Second), map[string]uint64{"older.example": 100000})
	// The last full hour: more than ten domains, so the page shows its top ten.
	add(lastHour.Add(5*time.Minute), map[string]uint64{"hotel.example": 400, "india.example": 300})
	add(lastHour.Add(50*time.Minute), map[string]uint64{
		"hotel.example": 300, "juliet.example": 299,
	})
	for i := range 12 {
		add(lastHour.Add(time.Duration(i)*4*time.Minute+time.Second), map[string]uint64{
			fmt.Sprintf("hour%02d.example", i): uint64(10 + i),
		})
	}
	add(lastHour.Add(-time.Second), map[string]uint64{"previous-hour.example": 100000})

	for _, c := range counters {
		status, body, err := s.Post(c.JSON())
		if err != nil || status != http.StatusOK {
			t.Fatalf("POST %s = %d %s, %v; want 200", c.JSON(), status, body, err)
		}
	}
	posted := time.Now()
	wantMinute := harness.TopTen(harness.Expected(counters, lastMinute, time.Minute))
	wantHour := harness.TopTen(harness.Expected(counters, lastHour, time.Hour))

	ctx := newBrowser(t, chromium)
	problems := watchConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.QueryURL+"/")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}

	// The page refreshes every few seconds; poll what it shows until both panels hold the
	// posted rankings.
	var got pageState
	deadline := time.Now().Add(45 * time.Second)
	for {
		var err error
		got, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		if sameBars(got.Minute.Bars, wantMinute) && sameBars(got.Hour.Bars, wantHour) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page did not show the posted counters within 45s:\n"+
				"minute %+v\nwant %v\nhour %+v\nwant %v",
				got.Minute, wantMinute, got.Hour, wantHour)
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("dashboard showed the counters %v after the last POST", time.Since(posted).Round(
		time.Millisecond))

	screenshot(t, ctx)

	if got.Status != "live" {
		t.Errorf("status = %q, want live", got.Status)
	}
	// At minute :00 of an hour the last full minute lies in the last full hour, so the
	// hour's leader depends on the clock; it is taken from the expected ranking.
	tests := []struct {
		name       string
		panel      panel
		wantBounds string
		wantFirst  string
	}{
		{
			name:  "minute",
			panel: got.Minute,
			wantBounds: lastMinute.Format("2006-01-02 15:04") + " – " +
				lastMinute.Add(time.Minute).Format("15:04") + " UTC",
			// Counts are shown exactly, grouped in threes.
			wantFirst: "27,021,597,764,222,973",
		},
		{
			name:       "hour",
			panel:      got.Hour,
			wantBounds: lastHour.Format("2006-01-02 15:04") + " – ",
			wantFirst:  grouped(wantHour[0].Count),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.HasPrefix(tt.panel.Bounds, tt.wantBounds) {
				t.Errorf("bounds = %q, want %q...", tt.panel.Bounds, tt.wantBounds)
			}
			if first := tt.panel.Bars[0]; first.Text != tt.wantFirst || first.Width != "100%" {
				t.Errorf("first bar shows %q at width %q, want %q at 100%%",
					first.Text, first.Width, tt.wantFirst)
			}
			if !strings.HasPrefix(tt.panel.Freshness, "newest snapshot ") {
				t.Errorf("freshness = %q, want the age of the newest snapshot",
					tt.panel.Freshness)
			}
			if tt.panel.State == "" || tt.panel.State == "no traffic" {
				t.Errorf("state = %q, want final or open", tt.panel.State)
			}
		})
	}
	for _, p := range problems() {
		t.Errorf("browser console: %s", p)
	}
}

// sameBars reports whether the page's bars list exactly the wanted entries, in order.
func sameBars(got []bar, want []harness.Entry) bool {
	return slices.EqualFunc(got, want, func(b bar, e harness.Entry) bool {
		return b.Domain == e.Domain && b.Count == strconv.FormatUint(e.Count, 10)
	})
}

// grouped writes n with its digits in groups of three, as the page does: 1,234,567.
func grouped(n uint64) string {
	digits := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// findChromium returns the Chromium binary, or skips the test when there is none and a
// browser is not required.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "chromium not found (install it with: apt-get install -y chromium)"
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, requireBrowserEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, requireBrowserEnv)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and returns a context for one
// tab. The browser is stopped, and its profile removed, when the test ends.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	// The profile directory is made first, so that its removal runs after the browser
	// stopped: cleanups run last-in first-out.
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1360, 1000),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a broken installation fails here with a clear error.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// watchConsole collects the page's uncaught exceptions and browser errors (a refused
// script or stylesheet, a blocked request) and returns a func that lists them so far.
func watchConsole(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var (
		mu       sync.Mutex
		problems []string
	)
	// The func runs on chromedp's reading goroutine: it only appends.
	err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p = string(ev.Entry.Source) + ": " + ev.Entry.Text
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the browser console: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// screenshot writes the page to the PNG file screenshotEnv names, if it names one.
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	path := os.Getenv(screenshotEnv)
	if path == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("write screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the dashboard in %s", path)
}

// avoidMinuteEdge waits out the last seconds of a minute, so that counters posted into the
// last full minute are still in it when the page shows them.
func avoidMinuteEdge(t *testing.T, margin time.Duration) {
	t.Helper()
	now := time.Now().UTC()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < margin {
		t.Logf("waiting %v for the next minute", left.Round(time.Millisecond))
		time.Sleep(left)
	}
}

// pause waits for d unless ctx ends first, between two polls of the page.
func pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("browser context ended: %w", errors.Join(ctx.Err(), context.Cause(ctx)))
	case <-timer.C:
		return nil
	}
}
