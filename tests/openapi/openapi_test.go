package openapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"toptraffic/tests/harness"
)

// token is the bearer token the test stack's gateway requires on every guarded route, so
// that the documented 401 can be provoked.
const token = "openapi-test-token"

// Names of the servers in the document's x-service extension.
const (
	gateway = "gateway"
	query   = "query"
)

// testRequestKey is the example extension that tells how to provoke a documented error.
const testRequestKey = "x-test-request"

func init() {
	// The dashboard's files are plain text to the validator; without a decoder it would
	// refuse their media types.
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// specPath is api/openapi.yaml, found from this file's location.
func specPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "api", "openapi.yaml")
}

// loadSpec reads and validates the document, examples included.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath())
	if err != nil {
		t.Fatalf("load %s: %v", specPath(), err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specPath(), err)
	}
	return doc
}

// operation is one documented path and method, with the servers that serve it.
type operation struct {
	path     string
	method   string
	item     *openapi3.PathItem
	op       *openapi3.Operation
	services []string
}

func (o operation) String() string { return o.method + " " + o.path }

// operations lists the document's operations in path order.
func operations(t *testing.T, doc *openapi3.T) []operation {
	t.Helper()
	var out []operation
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		methods := item.Operations()
		names := make([]string, 0, len(methods))
		for m := range methods {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, m := range names {
			op := methods[m]
			servers := doc.Servers
			if len(item.Servers) > 0 {
				servers = item.Servers
			}
			if op.Servers != nil && len(*op.Servers) > 0 {
				servers = *op.Servers
			}
			var services []string
			for _, s := range servers {
				name, _ := s.Extensions["x-service"].(string)
				if name != gateway && name != query {
					t.Fatalf("%s %s: server %s has x-service %q, want %q or %q",
						m, path, s.URL, name, gateway, query)
				}
				services = append(services, name)
			}
			out = append(out, operation{
				path: path, method: m, item: item, op: op, services: services,
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func TestSpecIsComplete(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	errorCodes := doc.Components.Schemas["Error"].Value.Properties["code"].Value.Enum
	for _, o := range operations(t, doc) {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			if o.op.OperationID == "" || o.op.Summary == "" {
				t.Errorf("operationId %q, summary %q: want both", o.op.OperationID, o.op.Summary)
			}
			if len(successStatuses(o.op)) == 0 {
				t.Errorf("no 2xx response documented")
			}
			for status, ref := range o.op.Responses.Map() {
				if status[0] != '4' && status[0] != '5' {
					continue
				}
				for mt, content := range ref.Value.Content {
					if len(content.Examples) == 0 {
						t.Errorf("%s %s: no example", status, mt)
					}
					for name, ex := range content.Examples {
						code, _ := exampleCode(ex.Value)
						if !slices.Contains(errorCodes, any(code)) {
							t.Errorf("%s example %s: code %q is not in the Error schema",
								status, name, code)
						}
					}
				}
			}
		})
	}
}

func TestSpecMatchesTheServers(t *testing.T) {
	doc := loadSpec(t)
	s := harness.NewStack(t, harness.Options{Env: []string{
		"INGEST_TOKENS=" + token,
		"STATS_TOKENS=" + token,
	}})
	bases := map[string]string{gateway: s.GatewayURL, query: s.QueryURL}
	ops := operations(t, doc)

	for _, o := range ops {
		for _, svc := range o.services {
			t.Run(svc+" "+o.String(), func(t *testing.T) {
				c := &client{t: t, http: s.HTTP, doc: doc, base: bases[svc], o: o}

				// A valid request gets the documented success.
				for _, req := range validRequests(t, o) {
					resp := c.do(req)
					if !slices.Contains(successStatuses(o.op), resp.status) {
						t.Errorf("%s: status %d, want one of %v; body %.300s",
							req.name, resp.status, successStatuses(o.op), resp.body)
					}
				}

				// Each documented error that says how to provoke it is provoked.
				for _, ex := range errorExamples(t, o) {
					if ex.service != "" && ex.service != svc {
						continue
					}
					resp := c.do(ex.req)
					if resp.status != ex.status {
						t.Errorf("example %s: status %d, want %d; body %.300s",
							ex.name, resp.status, ex.status, resp.body)
						continue
					}
					if got := errorCode(resp.body); got != ex.code {
						t.Errorf("example %s: code %q, want %q", ex.name, got, ex.code)
					}
				}

				// Another method on the path is refused with the documented methods in Allow.
				resp := c.do(request{name: "undocumented method", method: http.MethodDelete})
				allow := strings.Split(resp.header.Get("Allow"), ", ")
				slices.Sort(allow)
				if want := documentedMethods(ops, o.path, svc); resp.status !=
					http.StatusMethodNotAllowed || !slices.Equal(allow, want) {
					t.Errorf("DELETE %s: status %d, Allow %v; want 405 with Allow %v",
						o.path, resp.status, allow, want)
				}
				checkErrorBody(t, doc, resp, "method_not_allowed")
			})
		}
	}

	t.Run("unknown paths", func(t *testing.T) {
		for svc, base := range bases {
			resp := get(t, s.HTTP, base+"/api/stats/lastDay")
			if resp.status != http.StatusNotFound {
				t.Errorf("%s: GET /api/stats/lastDay = %d, want 404", svc, resp.status)
			}
			checkErrorBody(t, doc, resp, "not_found")
		}
	})

	// The gateway's 404 lists the routes it serves; each must be documented for it.
	t.Run("gateway routes are documented", func(t *testing.T) {
		resp := get(t, s.HTTP, s.GatewayURL+"/no/such/path")
		var body struct{ Error string }
		if err := json.Unmarshal(resp.body, &body); err != nil {
			t.Fatalf("decode 404: %v", err)
		}
		routes := regexp.MustCompile(`\b(GET|POST|PUT|PATCH|DELETE) (/[^\s,]*)`).
			FindAllStringSubmatch(body.Error, -1)
		if len(routes) == 0 {
			t.Fatalf("the gateway's 404 lists no routes any more: %q; "+
				"compare its routes with the document some other way", body.Error)
		}
		for _, r := range routes {
			if !slices.Contains(documentedMethods(ops, r[2], gateway), r[1]) {
				t.Errorf("the gateway serves %s %s, which api/openapi.yaml does not document "+
					"for it", r[1], r[2])
			}
		}
	})
}

// successStatuses lists the operation's documented 2xx statuses.
func successStatuses(op *openapi3.Operation) []int {
	var out []int
	for status := range op.Responses.Map() {
		if n, err := strconv.Atoi(status); err == nil && n >= 200 && n < 300 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// documentedMethods lists the methods documented for path on the service, sorted.
func documentedMethods(ops []operation, path, svc string) []string {
	var out []string
	for _, o := range ops {
		if o.path == path && slices.Contains(o.services, svc) {
			out = append(out, o.method)
		}
	}
	slices.Sort(out)
	return out
}

// request is one request to send to an operation; empty fields take the operation's own.
type request struct {
	name        string
	method      string
	query       string
	contentType string
	body        []byte
	header      map[string]string
}

// response is what came back, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// client sends requests to one operation on one server and checks every answer against the
// document.
type client struct {
	t    *testing.T
	http *http.Client
	doc  *openapi3.T
	base string
	o    operation
}

// do sends r and, when the method is the operation's, validates the answer's status,
// headers and body against the document.
func (c *client) do(r request) response {
	c.t.Helper()
	method := cmp.Or(r.method, c.o.method)
	url := c.base + c.o.path
	if r.query != "" {
		url += "?" + r.query
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(r.body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode == http.StatusNotFound && errorCode(body) == "not_found" {
		c.t.Errorf("%s %s: the route does not exist (404 not_found)", method, c.o.path)
		return out
	}
	if method != c.o.method {
		return out
	}

	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route: &routers.Route{
				Spec:      c.doc,
				Path:      c.o.path,
				PathItem:  c.o.item,
				Method:    c.o.method,
				Operation: c.o.op,
			},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("%s (%s %s): answer does not match the document: %v\nbody %.300s",
			cmp.Or(r.name, "request"), method, url, err, body)
	}
	return out
}

// validRequests returns one request per documented request body example, with its
// timestamps moved to now so that the time policy keeps them, or one plain request when the
// operation takes no body.
func validRequests(t *testing.T, o operation) []request {
	t.Helper()
	if o.op.RequestBody == nil {
		return []request{{name: "valid request"}}
	}
	now := time.Now().Unix()
	var out []request
	for mt, content := range o.op.RequestBody.Value.Content {
		for name, ex := range content.Examples {
			body, err := withTimestamp(ex.Value.Value, now)
			if err != nil {
				t.Fatalf("request example %s: %v", name, err)
			}
			out = append(out, request{name: "example " + name, contentType: mt, body: body})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has a request body without examples to send", o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// withTimestamp encodes a counters example with every "timestamp" set to now. A string
// example is NDJSON: one counter per line.
func withTimestamp(v any, now int64) ([]byte, error) {
	set := func(v any) any {
		if m, ok := v.(map[string]any); ok {
			m["timestamp"] = now
		}
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		return json.Marshal(set(v))
	case []any:
		for i := range v {
			v[i] = set(v[i])
		}
		return json.Marshal(v)
	case string:
		var b bytes.Buffer
		for line := range strings.Lines(v) {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				return nil, fmt.Errorf("NDJSON line %q: %w", line, err)
			}
			enc, err := json.Marshal(set(m))
			if err != nil {
				return nil, err
			}
			b.Write(enc)
			b.WriteByte('\n')
		}
		return b.Bytes(), nil
	}
	return nil, fmt.Errorf("example of type %T is not a counters body", v)
}

// errorExample is a documented error answer and the request that provokes it.
type errorExample struct {
	name    string
	status  int
	code    string
	service string
	req     request
}

// errorExamples lists the operation's error examples that carry an x-test-request.
func errorExamples(t *testing.T, o operation) []errorExample {
	t.Helper()
	var out []errorExample
	for status, ref := range o.op.Responses.Map() {
		n, err := strconv.Atoi(status)
		if err != nil || n < 400 {
			continue
		}
		for _, content := range ref.Value.Content {
			for name, ex := range content.Examples {
				raw, ok := ex.Value.Extensions[testRequestKey]
				if !ok {
					continue
				}
				var tr struct {
					Service     string            `json:"service"`
					Method      string            `json:"method"`
					Query       string            `json:"query"`
					ContentType string            `json:"contentType"`
					Body        *string           `json:"body"`
					Headers     map[string]string `json:"headers"`
				}
				b, _ := json.Marshal(raw)
				if err := json.Unmarshal(b, &tr); err != nil {
					t.Fatalf("%s example %s: %s: %v", status, name, testRequestKey, err)
				}
				code, ok := exampleCode(ex.Value)
				if !ok {
					t.Fatalf("%s example %s has no code", status, name)
				}
				req := request{
					name:        name,
					method:      tr.Method,
					query:       tr.Query,
					contentType: tr.ContentType,
					header:      tr.Headers,
				}
				switch {
				case tr.Body != nil:
					req.body = []byte(*tr.Body)
				case o.op.RequestBody != nil:
					// The error is not about the body; send a valid one.
					valid := validRequests(t, o)[0]
					req.body = valid.body
					req.contentType = cmp.Or(req.contentType, valid.contentType)
				}
				out = append(out, errorExample{
					name: name, status: n, code: code, service: tr.Service, req: req,
				})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// exampleCode returns the code of an error example's value.
func exampleCode(ex *openapi3.Example) (string, bool) {
	m, ok := ex.Value.(map[string]any)
	if !ok {
		return "", false
	}
	code, ok := m["code"].(string)
	return code, ok
}

// errorCode returns the code of an error answer, or "" when it is not one.
func errorCode(body []byte) string {
	var e struct{ Code string }
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Code
}

// checkErrorBody checks that an answer is JSON of the document's Error schema with the code.
func checkErrorBody(t *testing.T, doc *openapi3.T, resp response, code string) {
	t.Helper()
	if mt, _, _ := mime.ParseMediaType(resp.header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("error answer has Content-Type %q, want JSON", resp.header.Get("Content-Type"))
		return
	}
	var v any
	if err := json.Unmarshal(resp.body, &v); err != nil {
		t.Errorf("error answer %s: %v", resp.body, err)
		return
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		t.Errorf("error answer %s does not match the Error schema: %v", resp.body, err)
	}
	if got := errorCode(resp.body); got != code {
		t.Errorf("error code %q, want %q", got, code)
	}
}

// get sends a GET and reads the answer.
func get(t *testing.T, c *http.Client, url string) response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}
