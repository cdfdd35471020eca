package integration

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"toptraffic/tests/harness"
)

// TestRejectedRequestsWriteNothing posts requests that mix good and bad counters, in every body
// format, and checks that none of their good counters reach the statistics while a valid
// request posted next to them does.
func TestRejectedRequestsWriteNothing(t *testing.T) {
	s := harness.NewStack(t, harness.Options{Env: []string{"ALLOWED_LATENESS=3h"}})
	avoidMinuteEdge(t, 15*time.Second)
	ts := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Second).Unix()

	good := func(domain string, n int) string {
		return fmt.Sprintf(`{"timestamp": %d, %q: %d}`, ts, domain, n)
	}
	rejected := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
	}{
		{name: "array with a negative count", contentType: "application/json",
			body:       "[" + good("leak-a.com", 500) + `, {"timestamp": 1, "x.com": -1}]`,
			wantStatus: http.StatusBadRequest},
		{name: "array with a bad timestamp last", contentType: "application/json",
			body:       "[" + good("leak-b.com", 500) + `, {"timestamp": "1661860794425l", "x.com": 1}]`,
			wantStatus: http.StatusBadRequest},
		{name: "ndjson with a bad domain on line two", contentType: "application/x-ndjson",
			body:       good("leak-c.com", 500) + "\n" + fmt.Sprintf(`{"timestamp": %d, "a b.com": 1}`, ts),
			wantStatus: http.StatusBadRequest},
		{name: "plain curl -d with trailing garbage", contentType: "application/x-www-form-urlencoded",
			body: good("leak-d.com", 500) + " }", wantStatus: http.StatusBadRequest},
		{name: "unsupported media type", contentType: "text/csv",
			body: good("leak-e.com", 500), wantStatus: http.StatusUnsupportedMediaType},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.HTTP.Post(s.GatewayURL+"/api/counters", tt.contentType,
				strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q, want a JSON error", ct)
			}
		})
	}

	// A valid request in each format, with the same domain spelled differently.
	accepted := []struct {
		contentType string
		body        string
	}{
		{"application/json", good("Kept.com", 2)},
		{"application/json", "[" + good("kept.com.", 3) + "," + good("other.com", 1) + "]"},
		{"application/x-ndjson", good("KEPT.com", 4) + "\n\n" + good("other.com", 1) + "\n"},
		{"", good("kept.com", 5)},
	}
	for _, a := range accepted {
		req, err := http.NewRequest(http.MethodPost, s.GatewayURL+"/api/counters",
			strings.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		if a.contentType != "" {
			req.Header.Set("Content-Type", a.contentType)
		}
		resp, err := s.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %q (%s) = %d, want 200", a.body, a.contentType, resp.StatusCode)
		}
	}

	want := []harness.Entry{{Domain: "kept.com", Count: 14}, {Domain: "other.com", Count: 2}}
	harness.Eventually(t, 10*time.Second, func() error {
		got, err := s.GetStats("lastMinute")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got.Top, want) {
			return fmt.Errorf("lastMinute = %v, want %v", got.Top, want)
		}
		return nil
	})
}
