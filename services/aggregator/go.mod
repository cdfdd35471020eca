module toptraffic/services/aggregator

go 1.26
