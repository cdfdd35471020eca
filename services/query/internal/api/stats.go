package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"toptraffic/libs/topk"
	"toptraffic/libs/window"
	"toptraffic/services/query/internal/store"
)

// maxAt is the largest accepted at: Unix seconds below 1e11, the bound from which the ingest
// contract reads a timestamp as milliseconds. A larger value is almost surely milliseconds
// and is refused rather than answered with an empty window thousands of years ahead.
const maxAt = 1e11 - 1

// maxEcho is the most bytes of client input an error message quotes.
const maxEcho = 64

// historyBody is the answer of the history routes.
type historyBody struct {
	Size  window.Size `json:"size"`
	Start string      `json:"start"`
	End   string      `json:"end"`
	// Final is true when every snapshot held for the window is final, false when none is.
	Final bool `json:"final"`
	// Partitions is how many source partitions had traffic in the window.
	Partitions int          `json:"partitions"`
	Top        []topk.Entry `json:"top"`
}

// lastFull answers the top domains of the last full window of the given size, in the seed's
// body shape: a bare array.
func (h *handlers) lastFull(size window.Size) gin.HandlerFunc {
	return func(c *gin.Context) {
		now := h.clock.Now()
		w := window.LastFull(size, now)
		setWindowHeaders(c, w)

		// Before the initial load completes an answer could miss partitions, and a wrong
		// ranking is worse than a short wait.
		if !h.store.CaughtUp() {
			h.warmingUp(c)
			return
		}
		top := h.store.Top(w, TopN)
		info, ok := h.store.Info(w)
		setFreshnessHeaders(c, info, ok, now)
		c.JSON(http.StatusOK, top)
	}
}

// history answers the window of the given size that contains ?at= (the last full one when at
// is missing), with up to ?limit= domains.
func (h *handlers) history(size window.Size) gin.HandlerFunc {
	return func(c *gin.Context) {
		// A malformed request is wrong whatever the state of the service, so it is refused
		// before anything else.
		q, perr := parseHistoryQuery(c.Request.URL.Query())
		if perr != nil {
			c.JSON(http.StatusBadRequest, errorBody{
				Error:     perr.msg,
				Code:      CodeInvalidParameter,
				Parameter: perr.param,
			})
			return
		}

		now := h.clock.Now()
		w := window.LastFull(size, now)
		if q.hasAt {
			w = window.Of(size, q.at)
		}
		setWindowHeaders(c, w)

		if !h.store.CaughtUp() {
			h.warmingUp(c)
			return
		}
		// An expired window would read as one without traffic; say that it is gone instead.
		if h.store.Expired(w) {
			c.JSON(http.StatusNotFound, errorBody{
				Error: fmt.Sprintf("the %s from %s is no longer kept: windows that ended "+
					"before %s (SNAPSHOT_RETENTION %s ago) are dropped",
					size,
					w.StartTime().Format(time.RFC3339),
					now.Add(-h.store.Retention()).Format(time.RFC3339),
					h.store.Retention(),
				),
				Code: CodeWindowExpired,
			})
			return
		}

		top := h.store.Top(w, q.limit)
		info, ok := h.store.Info(w)
		setFreshnessHeaders(c, info, ok, now)
		c.JSON(http.StatusOK, historyBody{
			Size:       size,
			Start:      w.StartTime().Format(time.RFC3339),
			End:        w.EndTime().Format(time.RFC3339),
			Final:      ok && info.Partitions > 0 && info.Final,
			Partitions: info.Partitions,
			Top:        top,
		})
	}
}

// setWindowHeaders puts the window's bounds in the answer's headers.
func setWindowHeaders(c *gin.Context, w window.Window) {
	c.Header(HeaderWindowStart, w.StartTime().Format(time.RFC3339))
	c.Header(HeaderWindowEnd, w.EndTime().Format(time.RFC3339))
}

// setFreshnessHeaders tells when the newest snapshot of the window was published and how long
// before now that was, when there is one. The age may be negative when the aggregators'
// clocks run ahead of this service's; it is reported as it is, so the skew shows.
func setFreshnessHeaders(c *gin.Context, info store.Info, ok bool, now time.Time) {
	if !ok || info.Partitions == 0 {
		return
	}
	c.Header(HeaderPublishedAt, info.PublishedAt.Format("2006-01-02T15:04:05.000Z07:00"))
	age := now.Sub(info.PublishedAt).Seconds()
	c.Header(HeaderSnapshotAge, strconv.FormatFloat(age, 'f', 3, 64))
}

// historyQuery is a parsed history request.
type historyQuery struct {
	at    int64
	hasAt bool
	limit int
}

// paramError is a query parameter that cannot be used, with a message for the client.
type paramError struct {
	param string
	msg   string
}

// parseHistoryQuery reads at and limit. Other parameters are ignored, so a cache-busting one
// does no harm.
func parseHistoryQuery(q url.Values) (historyQuery, *paramError) {
	out := historyQuery{limit: TopN}

	if vs, ok := q["at"]; ok {
		v, perr := single("at", vs)
		if perr != nil {
			return out, perr
		}
		at, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || at < 0:
			return out, &paramError{param: "at", msg: fmt.Sprintf(
				"at must be a Unix time in whole seconds, such as at=1608102631; got %q",
				clip(v))}
		case at > maxAt:
			return out, &paramError{param: "at", msg: fmt.Sprintf(
				"at=%d is too large: at takes Unix seconds (below 1e11); "+
					"divide milliseconds by 1000", at)}
		}
		out.at, out.hasAt = at, true
	}

	if vs, ok := q["limit"]; ok {
		v, perr := single("limit", vs)
		if perr != nil {
			return out, perr
		}
		limit, err := strconv.Atoi(v)
		if err != nil || limit < 1 || limit > MaxLimit {
			return out, &paramError{param: "limit", msg: fmt.Sprintf(
				"limit must be a whole number from 1 to %d (rankings are exact down to the "+
					"aggregators' TOP_K); got %q", MaxLimit, clip(v))}
		}
		out.limit = limit
	}
	return out, nil
}

// single returns the one value of a parameter that must be given once.
func single(name string, vs []string) (string, *paramError) {
	if len(vs) != 1 {
		return "", &paramError{param: name, msg: fmt.Sprintf(
			"%s is given %d times; give it once", name, len(vs))}
	}
	return vs[0], nil
}

// clip cuts s to at most maxEcho bytes, ending in "..." when it had to, without splitting a
// UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho - len("...")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
