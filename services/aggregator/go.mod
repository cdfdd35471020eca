module toptraffic/services/aggregator

go 1.26.0

require (
	github.com/prometheus/client_golang v1.25.0
	github.com/segmentio/kafka-go v0.4.51
	go.uber.org/zap v1.28.0
	golang.org/x/sync v0.25.0
	toptraffic/libs/clock v0.0.0
	toptraffic/libs/counter v0.0.0
	toptraffic/libs/envconfig v0.0.0
	toptraffic/libs/httpserver v0.0.0
	toptraffic/libs/kafkasetup v0.0.0
	toptraffic/libs/lifecycle v0.0.0
	toptraffic/libs/logging v0.0.0
	toptraffic/libs/snapshot v0.0.0
	toptraffic/libs/topk v0.0.0
	toptraffic/libs/window v0.0.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/caarlos0/env/v11 v11.4.2 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.1 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pierrec/lz4/v4 v4.1.30 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	toptraffic/libs/clock => ../../libs/clock
	toptraffic/libs/counter => ../../libs/counter
	toptraffic/libs/envconfig => ../../libs/envconfig
	toptraffic/libs/httpserver => ../../libs/httpserver
	toptraffic/libs/kafkasetup => ../../libs/kafkasetup
	toptraffic/libs/lifecycle => ../../libs/lifecycle
	toptraffic/libs/logging => ../../libs/logging
	toptraffic/libs/snapshot => ../../libs/snapshot
	toptraffic/libs/topk => ../../libs/topk
	toptraffic/libs/window => ../../libs/window
)
