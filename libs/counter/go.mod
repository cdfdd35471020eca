module toptraffic/libs/counter

go 1.26
