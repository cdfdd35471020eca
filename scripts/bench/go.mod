module toptraffic/scripts/bench

go 1.26.0

require (
	github.com/segmentio/kafka-go v0.4.51
	go.uber.org/zap v1.28.0
	toptraffic/libs/counter v0.0.0
	toptraffic/libs/httpserver v0.0.0
	toptraffic/libs/kafkasetup v0.0.0
	toptraffic/libs/logging v0.0.0
	toptraffic/libs/snapshot v0.0.0
	toptraffic/scripts/loadgen v0.0.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.30 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	toptraffic/libs/topk v0.0.0 // indirect
	toptraffic/libs/window v0.0.0 // indirect
)

replace (
	toptraffic/libs/counter => ../../libs/counter
	toptraffic/libs/httpserver => ../../libs/httpserver
	toptraffic/libs/kafkasetup => ../../libs/kafkasetup
	toptraffic/libs/logging => ../../libs/logging
	toptraffic/libs/snapshot => ../../libs/snapshot
	toptraffic/libs/topk => ../../libs/topk
	toptraffic/libs/window => ../../libs/window
	toptraffic/scripts/loadgen => ../loadgen
)
