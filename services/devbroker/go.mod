module toptraffic/services/devbroker

go 1.26.0

require (
	github.com/segmentio/kafka-go v0.4.51
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	go.uber.org/zap v1.28.0
	toptraffic/libs/envconfig v0.0.0
	toptraffic/libs/lifecycle v0.0.0
	toptraffic/libs/logging v0.0.0
)

require (
	github.com/caarlos0/env/v11 v11.4.2 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.30 // indirect
	github.com/twmb/franz-go v1.22.0 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.14.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)

replace toptraffic/libs/logging => ../../libs/logging

replace toptraffic/libs/envconfig => ../../libs/envconfig

replace toptraffic/libs/lifecycle => ../../libs/lifecycle
