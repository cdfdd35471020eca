module toptraffic/libs/snapshot

go 1.26

require (
	toptraffic/libs/topk v0.0.0
	toptraffic/libs/window v0.0.0
)

replace (
	toptraffic/libs/topk => ../topk
	toptraffic/libs/window => ../window
)
