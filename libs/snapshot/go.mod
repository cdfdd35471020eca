module toptraffic/libs/snapshot

go 1.26
