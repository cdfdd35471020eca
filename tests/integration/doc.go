// Package integration runs the real toptraffic binaries end to end: counters in over HTTP,
// through Kafka, out of the statistics endpoints. The suite takes its broker from KAFKA_BROKERS
// when set (make test-kafka points it at a real Apache Kafka) and otherwise starts the embedded
// dev broker, so the same tests cover both.
package integration
