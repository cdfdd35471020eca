module toptraffic/services/query

go 1.26
