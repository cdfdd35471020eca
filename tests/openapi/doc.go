// Package openapi checks api/openapi.yaml against the running servers: every documented
// operation exists on every server it is documented for, answers a valid request with its
// documented success status, content type, headers and body schema, and the documented error
// examples that carry an x-test-request produce their status and code. In the other
// direction, a route a server serves must be documented: the query service's routes are
// compared with the document by a unit test in services/query, and the gateway's by the
// route list its 404 answer gives.
package openapi
