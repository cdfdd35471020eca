// Package dashboard drives the query service's dashboard page in headless Chromium against a
// running stack: counters posted through the gateway must show up as the page's bars, in the
// API's order and with exact counts.
//
// The test needs Debian's chromium package (/usr/bin/chromium). Without it the test skips,
// unless TOPTRAFFIC_REQUIRE_BROWSER is set, as CI sets it, and then it fails. Set
// TOPTRAFFIC_DASHBOARD_SCREENSHOT=/path/to/file.png to keep a screenshot of the page.
package dashboard
