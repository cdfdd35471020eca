module toptraffic/libs/topk

go 1.26
