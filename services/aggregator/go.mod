module toptraffic/services/aggregator

go 1.26

require (
	toptraffic/libs/clock v0.0.0
	toptraffic/libs/counter v0.0.0
	toptraffic/libs/httpserver v0.0.0
	toptraffic/libs/kafkasetup v0.0.0
	toptraffic/libs/logging v0.0.0
	toptraffic/libs/snapshot v0.0.0
	toptraffic/libs/topk v0.0.0
	toptraffic/libs/window v0.0.0
)

replace (
	toptraffic/libs/clock => ../../libs/clock
	toptraffic/libs/counter => ../../libs/counter
	toptraffic/libs/httpserver => ../../libs/httpserver
	toptraffic/libs/kafkasetup => ../../libs/kafkasetup
	toptraffic/libs/logging => ../../libs/logging
	toptraffic/libs/snapshot => ../../libs/snapshot
	toptraffic/libs/topk => ../../libs/topk
	toptraffic/libs/window => ../../libs/window
)
