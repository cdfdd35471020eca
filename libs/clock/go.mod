module toptraffic/libs/clock

go 1.26
