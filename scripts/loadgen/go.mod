module toptraffic/scripts/loadgen

go 1.26.0

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	go.uber.org/zap v1.28.0
	golang.org/x/sync v0.25.0
	toptraffic/libs/logging v0.0.0
)

require go.uber.org/multierr v1.10.0 // indirect

replace toptraffic/libs/logging => ../../libs/logging
